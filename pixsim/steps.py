"""One optimisation step of pixsim training and the statistics it keeps on the device.

``train_step`` runs one classification batch and (optionally) one batch of pairs through the
model and takes a single backward pass of ``CE + alpha * similarity_loss``; it returns the step's
statistics as one device tensor, so the loop can sum them without a host sync and read them once
per progress update (``pooled_correlation`` turns the sums into the S_cnn-target correlation).
``evaluate`` gives loss and accuracy of a model on an ``ImageSet``. Used by ``pixsim.train`` and
``benchmarks/step_cost.py``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from pixsim.loss import similarity_loss

__all__ = ["train_step", "evaluate", "pooled_correlation"]


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    den = float((a.square().sum() * b.square().sum()).sqrt())
    return float((a * b).sum()) / den if den > 0 else float("nan")


# accumulator slots (device tensor, summed every step, read once per LOG_EVERY steps / epoch)
_CE, _SIM, _CORRECT, _N, _PAIRS, _SS, _ST, _SSS, _STT, _SSTT, _CORR_STEP, _CORR_OK = range(12)


def pooled_correlation(acc: list[float]) -> float:
    """Pearson correlation of S_cnn and the target over all pairs summed into ``acc`` (the sums
    of ``train_step``'s statistics over steps); NaN with fewer than 2 pairs or a constant side."""
    n = acc[_PAIRS]
    if n < 2:
        return float("nan")
    cov = acc[_SSTT] - acc[_SS] * acc[_ST] / n
    var = (acc[_SSS] - acc[_SS] ** 2 / n) * (acc[_STT] - acc[_ST] ** 2 / n)
    return cov / math.sqrt(var) if var > 0 else float("nan")


def _step_stats(ce: torch.Tensor, sim: torch.Tensor | None, logits: torch.Tensor, y: torch.Tensor,
                s: torch.Tensor | None, t: torch.Tensor | None) -> torch.Tensor:
    zero = ce.new_zeros(())
    correct = (logits.argmax(1) == y).sum().to(ce.dtype)
    if s is None:
        return torch.stack([ce, zero, correct, ce.new_full((), float(len(y)))] + [zero] * 8)
    s, t = s.detach().float(), t.float()
    cs, ct = s - s.mean(), t - t.mean()
    den = (cs.square().sum() * ct.square().sum()).sqrt()
    ok = den > 0
    r = torch.where(ok, (cs * ct).sum() / den.clamp_min(1e-30), zero)
    return torch.stack([ce, sim, correct, ce.new_full((), float(len(y))), ce.new_full((), float(len(s))), s.sum(), t.sum(), s.square().sum(),
                        t.square().sum(), (s * t).sum(), r, ok.to(ce.dtype)])


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               pairs: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None, *, alpha: float = 0.0,
               transform: str = "atanh", pair_mode: str = "separate", amp: Callable | None = None,
               memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """One optimisation step: a single backward pass of CE(x, y) + alpha * similarity_loss(pairs).

    Args:
        model: a ``PixsimResNet`` in train mode. optimizer: its optimizer (lr already set).
        x: Tensor[B, C, H, W] in [0, 1] and y: LongTensor[B], the classification batch (on the device).
        pairs: ``(xa [k,C,H,W], xb [k,C,H,W], target [k])`` on the device, or None (unregularized).
        alpha, transform, pair_mode: as in ``TrainConfig``. amp: a context-manager factory
            (autocast) or None. memory_format: of the images passed to the model.

    Returns:
        Tensor[12] float64 on the device: step statistics (CE, similarity loss, correct, B and the
        sums behind the S_cnn-target correlation) for on-device accumulation, no host sync.
    """
    x = x.contiguous(memory_format=memory_format)
    s = t = sl = None
    with amp() if amp else torch.autocast(x.device.type, enabled=False):
        if pairs is None:
            logits = model(x)
        else:
            xa, xb, t = pairs
            logits, s = model.forward_with_pairs(x, xa.contiguous(memory_format=memory_format),
                                                 xb.contiguous(memory_format=memory_format), pair_mode)
    ce = F.cross_entropy(logits.float(), y)
    loss = ce
    if pairs is not None:
        sl = similarity_loss(s.float(), t, transform)
        loss = ce + alpha * sl
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return _step_stats(ce.detach().double(), None if sl is None else sl.detach().double(), logits.detach(), y, s, t)


@torch.no_grad()
def evaluate(model: torch.nn.Module, images: Any, batch_size: int = 500, amp: Callable | None = None,
             memory_format: torch.memory_format = torch.contiguous_format) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (in [0, 1]) of ``model`` (eval mode) on an ``ImageSet``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    for start in range(0, len(images), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(images)), device=images.labels.device)
        x = images.batch(idx).to(device, non_blocking=True).contiguous(memory_format=memory_format)
        y = images.labels[idx].to(device, non_blocking=True)
        with amp() if amp else torch.autocast(device.type, enabled=False):
            logits = model(x).float()
        sums += torch.stack([F.cross_entropy(logits, y, reduction="sum").double(),
                             (logits.argmax(1) == y).sum().double()])
    model.train(was_training)
    loss_sum, correct = sums.tolist()
    return loss_sum / len(images), correct / len(images)
