"""Random-noise robustness (PAPER.md section 5): Gaussian, uniform, salt-and-pepper.

Each noisy image is clamped to its *own* clean [min, max] (per image, over all its pixels and
channels), not to [0, 1] globally, as in the paper. Noise is drawn from an explicit
``torch.Generator`` seeded per (attack, epsilon), so the same seed gives the same table.
"""

from __future__ import annotations

import torch

from pixsim.robustness.common import EvalContext, accuracy_sweep, attack_row, derive_seed
from pixsim.robustness.specs import AttackName, NoiseSpec, spec_params


def clamp_per_image(noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Clamp each image of ``noisy`` [B, C, H, W] to the min and max of the same image of
    ``clean`` (one min and one max per image)."""
    lo = clean.flatten(1).amin(1).view(-1, *[1] * (clean.dim() - 1))
    hi = clean.flatten(1).amax(1).view(-1, *[1] * (clean.dim() - 1))
    return torch.maximum(torch.minimum(noisy, hi), lo)


def add_noise(x: torch.Tensor, attack: AttackName | str, epsilon: float,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Noisy copy of images ``x`` [B, C, H, W] in [0, 1], clamped per image to its clean range.

    Args:
        attack: ``gaussian`` (epsilon = sigma), ``uniform`` (U(-epsilon, epsilon) per pixel) or
            ``salt_and_pepper`` (each pixel value, with probability epsilon, gets +1 or -1 with
            a random sign; the clamp then sets it to the image's max or min).
        epsilon: non-negative, pixel units (a probability <= 1 for salt-and-pepper).
        generator: a generator on ``x``'s device (None: torch's global RNG).
    """
    attack = AttackName.parse(attack)
    if not epsilon >= 0:
        raise ValueError(f"epsilon must be non-negative, got {epsilon!r}")
    kw = dict(generator=generator, device=x.device, dtype=x.dtype)
    if attack is AttackName.GAUSSIAN:
        noisy = x + epsilon * torch.randn(x.shape, **kw)
    elif attack is AttackName.UNIFORM:
        noisy = x + epsilon * (2 * torch.rand(x.shape, **kw) - 1)
    elif attack is AttackName.SALT_AND_PEPPER:
        if epsilon > 1:
            raise ValueError(f"salt_and_pepper epsilon is a probability <= 1, got {epsilon!r}")
        hit = torch.rand(x.shape, **kw) < epsilon
        sign = torch.where(torch.rand(x.shape, **kw) < 0.5, -1.0, 1.0).to(x.dtype)
        noisy = x + hit.to(x.dtype) * sign
    else:
        raise ValueError(f"not a noise attack: {attack.value!r}; allowed: gaussian, uniform, salt_and_pepper")
    return clamp_per_image(noisy, x)


def run(spec: NoiseSpec, ctx: EvalContext, spec_id: int) -> list[dict]:
    """One accuracy row per epsilon of ``spec`` over all images of ``ctx``."""
    rows = []
    for i, eps in enumerate(spec.epsilons):
        seed = derive_seed(ctx.seed, spec.attack.value, i)
        gen = torch.Generator(device=ctx.device).manual_seed(seed)
        correct, total, sec = accuracy_sweep(
            ctx, lambda b, x, y: add_noise(x, spec.attack, eps, gen), None, f"{spec.attack.value} {eps:g}")
        rows.append(attack_row(ctx, spec_id, spec.attack, spec.norm, eps, correct, total, sec, seed,
                               spec_params(spec)))
    return rows
