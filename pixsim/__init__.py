"""pixsim: pixel-based similarity regularization for adversarially robust CNNs.

Reproducible companion to Attias, Pehlevan & Obeid, "Pixel-Based Similarities as an Alternative
to Neural Data for Improving Convolutional Neural Network Adversarial Robustness"
(arXiv:2410.03952). See the book (``_build/html/index.html``) for the method and results.
"""

__version__ = "0.1.0"
