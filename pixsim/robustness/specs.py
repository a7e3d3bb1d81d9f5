"""Attack specifications: closed vocabularies (string enums) and one frozen dataclass per family.

A spec says *what* to run (attack, norm, epsilon grid, budget); the family modules
(:mod:`~pixsim.robustness.noise`, ``transfer``, ``whitebox``, ``blackbox``, ``boundary``,
``spectra``, ``checks``) say *how*. A :data:`Suite` is a plain list of specs; specs validate
themselves on construction, so a bad grid or an unknown attack or norm fails before any model
is touched, with a message listing the allowed values.

All epsilons are in pixel units of images in [0, 1] (an L_inf radius, an L2 radius over the
C*H*W pixel values, a noise sigma / half-width, or a salt-and-pepper probability).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from pixsim.enums import ChoiceEnum
from pixsim.validation import int_at_least


class AttackName(ChoiceEnum):
    CLEAN = "clean"
    GAUSSIAN = "gaussian"
    UNIFORM = "uniform"
    SALT_AND_PEPPER = "salt_and_pepper"
    TRANSFER_FGSM = "transfer_fgsm"
    FGSM = "fgsm"
    PGD = "pgd"
    SQUARE = "square"
    AUTOATTACK = "autoattack"
    BOUNDARY = "boundary"


class Norm(ChoiceEnum):
    LINF = "Linf"
    L2 = "L2"
    NONE = "none"


class Kind(ChoiceEnum):
    """The ``kind`` column of the result table."""

    ATTACK = "attack"        # accuracy at one epsilon
    BOUNDARY = "boundary"    # Boundary-attack summary of one repeat
    SPECTRUM = "spectrum"    # radially averaged power at one frequency
    CHECK = "check"          # one gradient-masking check, pass/fail


class CheckName(ChoiceEnum):
    MONOTONE = "monotone"                          # accuracy non-increasing in epsilon
    PGD_LE_FGSM = "pgd_le_fgsm"                    # PGD accuracy <= FGSM accuracy
    WHITEBOX_LE_BLACKBOX = "whitebox_le_blackbox"  # PGD/FGSM accuracy <= Square / transfer
    NEAR_ZERO_AT_LARGE_EPS = "near_zero_at_large_eps"


NOISE_ATTACKS = (AttackName.GAUSSIAN, AttackName.UNIFORM, AttackName.SALT_AND_PEPPER)
WHITEBOX_ATTACKS = (AttackName.FGSM, AttackName.PGD)
BLACKBOX_ATTACKS = (AttackName.SQUARE, AttackName.AUTOATTACK)


def validate_epsilons(epsilons: Sequence[float], *, name: str = "epsilons") -> tuple[float, ...]:
    """A non-empty grid of finite, non-negative epsilons in ascending order, as a tuple of floats.

    Raises:
        ValueError: naming the offending value (negative, non-finite, out of order, duplicate).
        TypeError: not a sequence of numbers.
    """
    if isinstance(epsilons, (str, bytes)) or not hasattr(epsilons, "__iter__"):
        raise TypeError(f"{name} must be a sequence of numbers, got {epsilons!r}")
    out = []
    for e in np.asarray(list(epsilons), dtype=object).ravel():
        if isinstance(e, bool) or not isinstance(e, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must contain numbers, got {e!r}")
        e = float(e)
        if not math.isfinite(e):
            raise ValueError(f"{name} must be finite, got {e!r}")
        if e < 0:
            raise ValueError(f"{name} must be non-negative (pixel units), got {e!r}")
        out.append(e)
    if not out:
        raise ValueError(f"{name} must not be empty")
    for a, b in zip(out, out[1:]):
        if not b > a:
            raise ValueError(f"{name} must be sorted strictly ascending, got {a!r} before {b!r} in {out}")
    return tuple(out)


def _positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _set(obj, name, value):
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class NoiseSpec:
    """Random noise, each image clamped to its own clean [min, max] (PAPER.md section 5).

    ``attack``: gaussian (epsilon = sigma), uniform (+-epsilon), salt_and_pepper (each pixel
    with probability epsilon gets +1 or -1, random sign). ``norm`` is always ``none``.
    """

    attack: AttackName | str
    epsilons: Sequence[float]

    def __post_init__(self):
        attack = AttackName.parse(self.attack)
        if attack not in NOISE_ATTACKS:
            raise ValueError(f"NoiseSpec attack must be one of {[a.value for a in NOISE_ATTACKS]}, "
                             f"got {attack.value!r}")
        eps = validate_epsilons(self.epsilons)
        if attack is AttackName.SALT_AND_PEPPER and eps[-1] > 1:
            raise ValueError(f"salt_and_pepper epsilons are probabilities <= 1, got {eps[-1]!r}")
        _set(self, "attack", attack)
        _set(self, "epsilons", eps)

    @property
    def norm(self) -> Norm:
        return Norm.NONE


@dataclass(frozen=True)
class TransferSpec:
    """Transferred FGSM: x + eps * sign(grad_x CE(source(x), y)), clamped to [0, 1]; L_inf."""

    epsilons: Sequence[float]

    def __post_init__(self):
        _set(self, "epsilons", validate_epsilons(self.epsilons))

    @property
    def attack(self) -> AttackName:
        return AttackName.TRANSFER_FGSM

    @property
    def norm(self) -> Norm:
        return Norm.LINF


@dataclass(frozen=True)
class WhiteBoxSpec:
    """FGSM (L_inf only) or PGD (L_inf or L2) through torchattacks.

    PGD step size = ``step_size_factor * epsilon / steps`` (Madry et al.'s 2.5 rule by default);
    ``restarts`` independent runs, keeping per image the worst case (misclassified first, then
    highest cross-entropy). Budget for CPU runs: ``max_images`` attacks only the first that many
    evaluation images (None: all), so a white-box subset is nested in the other families' images.
    """

    attack: AttackName | str
    norm: Norm | str
    epsilons: Sequence[float]
    steps: int = 10
    step_size_factor: float = 2.5
    random_start: bool = True
    restarts: int = 1
    max_images: int | None = None

    def __post_init__(self):
        attack, norm = AttackName.parse(self.attack), Norm.parse(self.norm)
        if attack not in WHITEBOX_ATTACKS:
            raise ValueError(f"WhiteBoxSpec attack must be one of {[a.value for a in WHITEBOX_ATTACKS]}, "
                             f"got {attack.value!r}")
        allowed = (Norm.LINF,) if attack is AttackName.FGSM else (Norm.LINF, Norm.L2)
        if norm not in allowed:
            raise ValueError(f"{attack.value} supports norms {[n.value for n in allowed]}, got {norm.value!r}")
        _set(self, "attack", attack)
        _set(self, "norm", norm)
        _set(self, "epsilons", validate_epsilons(self.epsilons))
        _set(self, "steps", int_at_least(self.steps, "steps"))
        _set(self, "restarts", int_at_least(self.restarts, "restarts"))
        _set(self, "step_size_factor", _positive_float(self.step_size_factor, "step_size_factor"))
        if not isinstance(self.random_start, bool):
            raise TypeError(f"random_start must be a bool, got {self.random_start!r}")
        if self.max_images is not None:
            _set(self, "max_images", int_at_least(self.max_images, "max_images"))


@dataclass(frozen=True)
class BlackBoxSpec:
    """Square (score-based) or AutoAttack (``version='standard'``) through torchattacks.

    Budget for CPU runs: ``max_images`` evaluates a seeded random subset of that many images
    (None: all); ``n_queries`` is Square's query budget (for AutoAttack: None keeps the
    standard 5000 queries of its Square component, a number overrides it, which is then no
    longer the standard version and is recorded in ``params``).
    """

    attack: AttackName | str
    norm: Norm | str
    epsilons: Sequence[float]
    n_queries: int | None = None
    max_images: int | None = None
    version: str = "standard"

    def __post_init__(self):
        attack, norm = AttackName.parse(self.attack), Norm.parse(self.norm)
        if attack not in BLACKBOX_ATTACKS:
            raise ValueError(f"BlackBoxSpec attack must be one of {[a.value for a in BLACKBOX_ATTACKS]}, "
                             f"got {attack.value!r}")
        if norm not in (Norm.LINF, Norm.L2):
            raise ValueError(f"{attack.value} supports norms ['Linf', 'L2'], got {norm.value!r}")
        if self.version != "standard":
            raise ValueError(f"only AutoAttack version 'standard' is supported, got {self.version!r}")
        _set(self, "attack", attack)
        _set(self, "norm", norm)
        _set(self, "epsilons", validate_epsilons(self.epsilons))
        n_queries = self.n_queries
        if n_queries is None and attack is AttackName.SQUARE:
            n_queries = 1000
        if n_queries is not None:
            n_queries = int_at_least(n_queries, "n_queries")
        _set(self, "n_queries", n_queries)
        if self.max_images is not None:
            _set(self, "max_images", int_at_least(self.max_images, "max_images"))


@dataclass(frozen=True)
class BoundarySpec:
    """Decision-based Boundary attack (foolbox), untargeted, label = the model's prediction.

    Each of ``repeats`` draws ``n_images`` random images (seeded; all images if fewer) and runs
    ``steps`` steps. Perturbations are kept for :class:`SpectrumSpec`.
    """

    n_images: int = 1000
    repeats: int = 5
    steps: int = 50

    def __post_init__(self):
        _set(self, "n_images", int_at_least(self.n_images, "n_images"))
        _set(self, "repeats", int_at_least(self.repeats, "repeats"))
        _set(self, "steps", int_at_least(self.steps, "steps"))

    @property
    def attack(self) -> AttackName:
        return AttackName.BOUNDARY

    @property
    def norm(self) -> Norm:
        return Norm.L2


@dataclass(frozen=True)
class SpectrumSpec:
    """Radially averaged Fourier power of the perturbations kept by an earlier spec of the
    suite (the Boundary attack; the only family that keeps perturbations)."""

    source: AttackName | str = AttackName.BOUNDARY

    def __post_init__(self):
        source = AttackName.parse(self.source)
        if source is not AttackName.BOUNDARY:
            raise ValueError(f"SpectrumSpec source must be 'boundary', got {source.value!r}")
        _set(self, "source", source)

    @property
    def attack(self) -> AttackName:
        return self.source

    @property
    def norm(self) -> Norm:
        return Norm.L2


@dataclass(frozen=True)
class ChecksSpec:
    """Gradient-masking checks over the accuracy rows computed before it in the suite.

    Tolerance of the comparisons: ``max(tolerance_images / n_images, tolerance_fraction)``.
    Near-zero check: PGD accuracy <= ``near_zero`` (an absolute accuracy, not chance level)
    at the largest epsilon of every PGD grid whose largest epsilon reaches ``large_linf``
    (L_inf) or ``large_l2`` (L2); a row with ``passed`` empty says when no grid reaches it.
    """

    tolerance_images: int = 1
    tolerance_fraction: float = 0.005
    near_zero: float = 0.05
    large_linf: float = 0.25
    large_l2: float = 4.0

    def __post_init__(self):
        _set(self, "tolerance_images", int_at_least(self.tolerance_images, "tolerance_images", 0))
        for name in ("tolerance_fraction", "near_zero", "large_linf", "large_l2"):
            _set(self, name, _positive_float(getattr(self, name), name))

    @property
    def attack(self) -> None:
        return None


AttackSpec = Union[NoiseSpec, TransferSpec, WhiteBoxSpec, BlackBoxSpec, BoundarySpec, SpectrumSpec, ChecksSpec]
SPEC_TYPES = (NoiseSpec, TransferSpec, WhiteBoxSpec, BlackBoxSpec, BoundarySpec, SpectrumSpec, ChecksSpec)
Suite = list  # a Suite is a plain list of specs, run in order: list[AttackSpec]


def validate_suite(suite) -> list:
    """Check a suite (list of specs): types known, a SpectrumSpec only after its source."""
    if isinstance(suite, (str, bytes)) or not hasattr(suite, "__iter__"):
        raise TypeError(f"suite must be a list of specs or a suite name, got {suite!r}")
    specs = list(suite)
    if not specs:
        raise ValueError("suite must contain at least one spec")
    seen = set()
    for i, spec in enumerate(specs):
        if not isinstance(spec, SPEC_TYPES):
            raise TypeError(f"suite[{i}] must be one of {[t.__name__ for t in SPEC_TYPES]}, got {spec!r}")
        if isinstance(spec, SpectrumSpec) and spec.source not in seen:
            raise ValueError(f"suite[{i}]: SpectrumSpec(source={spec.source.value!r}) needs a "
                             f"{spec.source.value} spec earlier in the suite")
        if getattr(spec, "attack", None) is not None:
            seen.add(spec.attack)
    return specs


def spec_params(spec) -> str:
    """The spec's settings other than attack, norm and grid, as a short stable string."""
    skip = {"attack", "norm", "epsilons", "source"}
    items = [(f.name, getattr(spec, f.name)) for f in spec.__dataclass_fields__.values() if f.name not in skip]
    return ";".join(f"{k}={v}" for k, v in items)


__all__ = [
    "AttackName", "Norm", "Kind", "CheckName", "NoiseSpec", "TransferSpec", "WhiteBoxSpec",
    "BlackBoxSpec", "BoundarySpec", "SpectrumSpec", "ChecksSpec", "AttackSpec", "Suite",
    "validate_epsilons", "validate_suite", "spec_params", "NOISE_ATTACKS", "WHITEBOX_ATTACKS",
    "BLACKBOX_ATTACKS",
]
