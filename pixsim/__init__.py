"""pixsim: pixel-based similarity regularization for adversarially robust CNNs.

Reproducible companion to Attias, Pehlevan & Obeid, "Pixel-Based Similarities as an Alternative
to Neural Data for Improving Convolutional Neural Network Adversarial Robustness"
(arXiv:2410.03952). See the book (``_build/html/index.html``) for the method and results.

The names a user needs, each defined in the module named beside it (every other name is
imported from the module that defines it; the README's layout section lists the modules)::

    TrainConfig, train, load_checkpoint   pixsim.config, pixsim.training, pixsim.checkpoint
    load_split                            pixsim.data      (a data set's split, fixed data seed)
    build_target, PairSampler             pixsim.similarity, pixsim.pairs
    build_model                           pixsim.models
    evaluate                              pixsim.robustness.suite (a suite in, a tidy table out)
    load_profile                          pixsim.profiles  (``pixsim reproduce`` profiles)
"""

from pixsim.checkpoint import load_checkpoint
from pixsim.config import TrainConfig
from pixsim.data import load_split
from pixsim.models import build_model
from pixsim.pairs import PairSampler
from pixsim.profiles import load_profile
from pixsim.robustness.suite import evaluate
from pixsim.similarity import build_target
from pixsim.training import train

__version__ = "0.1.0"

__all__ = ["TrainConfig", "train", "load_checkpoint", "load_split", "build_target", "PairSampler", "build_model",
           "evaluate", "load_profile", "__version__"]
