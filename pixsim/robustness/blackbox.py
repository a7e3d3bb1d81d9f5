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

import torch
import torchattacks
from torch import nn

from pixsim.robustness.common import EvalContext, accuracy_sweep, attack_row, derive_seed, sanitize, seeded
from pixsim.robustness.specs import AttackName, BlackBoxSpec, spec_params


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


def run(spec: BlackBoxSpec, ctx: EvalContext, spec_id: int) -> list[dict]:
    """One accuracy row per epsilon (on the budget subset when ``max_images`` is set)."""
    with torch.no_grad():
        n_classes = int(ctx.model(ctx.images[:1].to(ctx.device)).shape[1])
    idx = subset(ctx, spec)
    rows = []
    for i, eps in enumerate(spec.epsilons):
        seed = derive_seed(ctx.seed, spec.attack.value, spec.norm.value, i)
        with seeded(seed, ctx.device):
            correct, total, sec = accuracy_sweep(
                ctx, lambda b, x, y: attack_batch(ctx.model, x, y, spec, eps, n_classes=n_classes, seed=seed),
                idx, f"{spec.attack.value} {spec.norm.value} {eps:g}")
        rows.append(attack_row(ctx, spec_id, spec.attack, spec.norm, eps, correct, total, sec, seed,
                               spec_params(spec), idx))
    return rows
