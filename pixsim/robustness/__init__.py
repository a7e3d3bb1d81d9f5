"""Robustness evaluation: the paper's attacks (noise, transferred FGSM, Boundary, spectra),
white-box and black-box attacks, and gradient-masking checks, behind one interface: a suite
(list of specs from :mod:`pixsim.robustness.specs`) in, a tidy table out
(:func:`pixsim.robustness.suite.evaluate`).
"""

from pixsim.robustness.specs import (AttackName, BlackBoxSpec, BoundarySpec, CheckName, ChecksSpec, Kind,
                                     NoiseSpec, Norm, SpectrumSpec, Suite, TransferSpec, WhiteBoxSpec,
                                     validate_epsilons)

__all__ = ["AttackName", "Norm", "Kind", "CheckName", "NoiseSpec", "TransferSpec", "WhiteBoxSpec",
           "BlackBoxSpec", "BoundarySpec", "SpectrumSpec", "ChecksSpec", "Suite", "validate_epsilons"]
from pixsim.robustness.suite import SuiteName, build_suite, evaluate  # noqa: E402

__all__ += ["evaluate", "build_suite", "SuiteName"]
