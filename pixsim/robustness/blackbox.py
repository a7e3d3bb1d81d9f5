"""Score-based black-box Square and AutoAttack (``version='standard'``) through torchattacks 3.3.0.

Verified here (torch 2.14, torchattacks 3.3.0): both return images in [0, 1] inside the epsilon
ball; both reseed torch's global RNG from their ``seed`` argument (we pass a seed derived from
the evaluation seed and restore the global RNG afterwards). Differences from the reference
implementations worth knowing: torchattacks' AutoAttack 'standard' runs APGD-CE, APGD-T, FAB-T
(targets = n_classes - 1) and Square with 10 steps per APGD/FAB run (the reference uses 100)
and 5000 Square queries; its APGD-T loss needs at least 4 classes. Its L_inf Square draws one
square position per iteration for the whole batch. At epsilon 0 neither is called (the ball is
the single point x; AutoAttack would spend its whole budget on every image).

Budget for CPU runs: ``BlackBoxSpec.max_images`` (a seeded random subset, the same for every
epsilon of the spec) and ``n_queries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import torch
import torchattacks
from torch import nn

from pixsim.robustness.common import (AttackName, EvalContext, Norm, accuracy_sweep, attack_row, derive_seed,
                                      sanitize, seeded, set_field, spec_params, validate_epsilons)
from pixsim.validation import int_at_least

__all__ = ["BLACKBOX_ATTACKS", "BlackBoxSpec", "make_attack", "attack_batch", "subset"]

BLACKBOX_ATTACKS = (AttackName.SQUARE, AttackName.AUTOATTACK)


@dataclass(frozen=True)
class BlackBoxSpec:
    """Square (score-based) or AutoAttack (``version='standard'``) through torchattacks.

    Budget for CPU runs: ``max_images`` evaluates a seeded random subset of that many images
    (None: all); ``n_queries`` is Square's query budget (for AutoAttack: None keeps the
    standard 5000 queries of its Square component, a number overrides it, which is then no
    longer the standard version and is recorded in ``params``).
    """

    family: ClassVar[str] = "blackbox"
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
        set_field(self, "attack", attack)
        set_field(self, "norm", norm)
        set_field(self, "epsilons", validate_epsilons(self.epsilons))
        n_queries = self.n_queries
        if n_queries is None and attack is AttackName.SQUARE:
            n_queries = 1000
        if n_queries is not None:
            n_queries = int_at_least(n_queries, "n_queries")
        set_field(self, "n_queries", n_queries)
        if self.max_images is not None:
            set_field(self, "max_images", int_at_least(self.max_images, "max_images"))

    def run(self, ctx: EvalContext, spec_id: int) -> list[dict]:
        """One accuracy row per epsilon (on the budget subset when ``max_images`` is set)."""
        with torch.no_grad():
            n_classes = int(ctx.model(ctx.images[:1].to(ctx.device)).shape[1])
        idx = subset(ctx, self)
        rows = []
        for i, eps in enumerate(self.epsilons):
            seed = derive_seed(ctx.seed, self.attack.value, self.norm.value, i)
            with seeded(seed, ctx.device):
                correct, total, sec = accuracy_sweep(
                    ctx, lambda b, x, y: attack_batch(ctx.model, x, y, self, eps, n_classes=n_classes, seed=seed),
                    idx, f"{self.attack.value} {self.norm.value} {eps:g}")
            rows.append(attack_row(ctx, spec_id, self.attack, self.norm, eps, correct, total, sec, seed,
                                   spec_params(self), idx))
        return rows


def make_attack(model: nn.Module, spec: BlackBoxSpec, epsilon: float, *, n_classes: int,
                seed: int) -> torchattacks.attack.Attack:
    """The torchattacks object for ``spec`` at ``epsilon``."""
    norm = spec.norm.value
    if spec.attack is AttackName.SQUARE:
        return torchattacks.Square(model, norm=norm, eps=epsilon, n_queries=spec.n_queries, n_restarts=1, seed=seed)
    if n_classes < 4:
        raise ValueError(f"AutoAttack 'standard' (APGD-T's DLR loss) needs >= 4 classes, the model has {n_classes}")
    atk = torchattacks.AutoAttack(model, norm=norm, eps=epsilon, version=spec.version, n_classes=n_classes, seed=seed)
    if spec.n_queries is not None:
        for sub in atk._autoattack.attacks:
            if isinstance(sub, torchattacks.Square):
                sub.n_queries = spec.n_queries
    return atk


def attack_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, spec: BlackBoxSpec, epsilon: float,
                 *, n_classes: int, seed: int) -> torch.Tensor:
    """Adversarial images [B, C, H, W] in [0, 1] for ``spec`` at ``epsilon``."""
    if epsilon == 0:
        return x.clone()
    atk = make_attack(model, spec, epsilon, n_classes=n_classes, seed=seed)
    return sanitize(atk(x, y), x, f"{spec.attack.value} eps={epsilon:g}").detach()


def subset(ctx: EvalContext, spec: BlackBoxSpec) -> torch.Tensor | None:
    """Indices of the seeded random subset of ``spec.max_images`` images (None: all)."""
    if spec.max_images is None or spec.max_images >= ctx.n:
        return None
    g = torch.Generator().manual_seed(derive_seed(ctx.seed, spec.attack.value, "subset"))
    return torch.randperm(ctx.n, generator=g)[: spec.max_images].sort().values

