"""White-box attacks through torchattacks 3.3.0: FGSM (L_inf), PGD (L_inf: ``torchattacks.PGD``,
L2: ``torchattacks.PGDL2``), with restarts.

Verified on torch 2.14 / torchattacks 3.3.0 here: FGSM, PGD and PGDL2 take images in [0, 1],
return images in [0, 1] inside the epsilon ball (up to float rounding), use the model in eval
mode, and draw their random start from torch's global RNG (seeded per attack and epsilon in
:func:`pixsim.robustness.common.seeded`). PGDL2 returns NaN at epsilon 0 (0 / 0 in its
projection), so at epsilon 0 the L2 attack is not called: the ball is the single point x.
3.3.0 has no restarts option; :func:`attack_batch` runs ``restarts`` times and keeps, per image,
a misclassified result if any restart found one, else the one with the highest cross-entropy.
"""

from __future__ import annotations

import torch
import torchattacks
from torch import nn
from torch.nn import functional as F

from pixsim.robustness.common import EvalContext, accuracy_sweep, attack_row, derive_seed, sanitize, seeded
from pixsim.robustness.specs import AttackName, Norm, WhiteBoxSpec, spec_params


def make_attack(model: nn.Module, spec: WhiteBoxSpec, epsilon: float) -> torchattacks.attack.Attack:
    """The torchattacks object for ``spec`` at ``epsilon`` (PGD step = factor * eps / steps)."""
    if spec.attack is AttackName.FGSM:
        return torchattacks.FGSM(model, eps=epsilon)
    alpha = spec.step_size_factor * epsilon / spec.steps
    cls = torchattacks.PGD if spec.norm is Norm.LINF else torchattacks.PGDL2
    return cls(model, eps=epsilon, alpha=alpha, steps=spec.steps, random_start=spec.random_start)


def attack_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, spec: WhiteBoxSpec,
                 epsilon: float) -> torch.Tensor:
    """Adversarial images [B, C, H, W] in [0, 1] for ``spec`` at ``epsilon``, worst case over
    ``spec.restarts`` runs (uses torch's global RNG: seed it before calling)."""
    if epsilon == 0 and spec.norm is Norm.L2:
        return x.clone()
    atk = make_attack(model, spec, epsilon)
    runs = spec.restarts if spec.attack is AttackName.PGD else 1
    best = best_wrong = best_loss = None
    for _ in range(runs):
        adv = sanitize(atk(x, y), x, f"{spec.attack.value} {spec.norm.value} eps={epsilon:g}")
        with torch.no_grad():
            logits = model(adv)
            wrong = logits.argmax(1) != y
            loss = F.cross_entropy(logits, y, reduction="none")
        if best is None:
            best, best_wrong, best_loss = adv, wrong, loss
            continue
        better = (wrong & ~best_wrong) | ((wrong == best_wrong) & (loss > best_loss))
        best = torch.where(better.view(-1, 1, 1, 1), adv, best)
        best_wrong, best_loss = best_wrong | wrong, torch.where(better, loss, best_loss)
    return best.detach()


def run(spec: WhiteBoxSpec, ctx: EvalContext, spec_id: int) -> list[dict]:
    """One accuracy row per epsilon of ``spec`` over all images, or the first ``max_images``
    (true labels)."""
    idx = torch.arange(spec.max_images) if spec.max_images is not None and spec.max_images < ctx.n else None
    rows = []
    for i, eps in enumerate(spec.epsilons):
        seed = derive_seed(ctx.seed, spec.attack.value, spec.norm.value, i)
        with seeded(seed, ctx.device):
            correct, total, sec = accuracy_sweep(
                ctx, lambda b, x, y: attack_batch(ctx.model, x, y, spec, eps), idx,
                f"{spec.attack.value} {spec.norm.value} {eps:g}")
        rows.append(attack_row(ctx, spec_id, spec.attack, spec.norm, eps, correct, total, sec, seed,
                               spec_params(spec), idx))
    return rows
