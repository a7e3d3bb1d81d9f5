"""Training (PAPER.md sections 3-4): CE + alpha * similarity loss, cyclic lr, best checkpoint.

One step = one classification batch (``batch_size`` images) and, when ``alpha > 0``, one batch of
``k`` pairs (2k regularization images) drawn by a ``PairSampler`` with targets from a
``SimilarityTarget``; a single backward pass of ``CE + alpha * similarity_loss``. With
``alpha == 0`` the similarity path is never built (no regularization images, no target, no pair
forward passes).

Run directory ``out_dir/run_name``: ``last.pt`` (everything needed to resume, rewritten after
every epoch), ``best.pt`` (lowest validation loss), ``history.csv``, and ``result.json`` (the
``done`` marker, written last). A run started again with the same config resumes from its last
completed epoch and, on CPU, ends with the same weights as an uninterrupted run: each epoch's
data order and augmentation come from generators seeded by ``(seed, epoch)``, and the pair
sampler, optimizer and global RNG states are restored. A finished run is not redone.

Known nondeterminism: on CUDA, cuDNN kernels and atomics make runs differ in the last bits;
CPU runs call ``torch.use_deterministic_algorithms(True, warn_only=True)`` during training.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from pixsim.checkpoint import (FORMAT, FORMAT_VERSION, atomic_save, capture_rng_state, load_checkpoint,
                               read_checkpoint, restore_rng_state)
from pixsim.config import ConfigError, TrainConfig, add_config_arguments, config_from_args
from pixsim.data import augment_cifar, load_split, regularization_images, validation_split
from pixsim.models import build_model
from pixsim.pairs import PairSampler
from pixsim.runtime import environment_versions, git_revision, resolve_device, seed_everything, use_all_cores
from pixsim.schedule import CyclicSchedule
from pixsim.similarity import build_target
from pixsim.steps import (_CE, _CORR_OK, _CORR_STEP, _CORRECT, _N, _SIM, _pearson, evaluate, pooled_correlation,
                          train_step)

__all__ = ["TrainResult", "train", "train_step", "evaluate", "load_checkpoint", "configure_parser", "run_from_args"]

LOG_EVERY = 20  # steps between progress-bar updates (each one is a host sync)
DEVICE_DATA_MAX_BYTES = 4 * 2**30  # data sets up to this size are moved to the GPU once
_CORR_SEED_OFFSET = 7919  # seeds the fixed correlation pairs apart from the training pairs


@dataclass
class TrainResult:
    """What ``train`` returns.

    Attributes: ``run_dir``; ``checkpoint`` (best.pt, lowest validation loss); ``last_checkpoint``
    (last.pt); ``history`` (one row per epoch); ``test_accuracy`` (clean accuracy of the best
    checkpoint on ``test_limit`` test images, in [0, 1]); ``metadata`` (the best checkpoint's);
    ``reused`` (True when the run had already finished and nothing was trained).
    """

    run_dir: Path
    checkpoint: Path
    last_checkpoint: Path
    history: pd.DataFrame
    test_accuracy: float
    metadata: dict[str, Any]
    reused: bool = False


def _generator(seed: int, epoch: int, stream: int, device: torch.device = torch.device("cpu")) -> torch.Generator:
    """A generator seeded from (seed, epoch, stream): resumable data order by construction."""
    state = int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)
    return torch.Generator(device=device).manual_seed(state)


class _Similarity:
    """The regularization path: images (on the device), target (CPU), sampler, fixed eval pairs."""

    def __init__(self, cfg: TrainConfig, device: torch.device, image_shape: tuple[int, ...]) -> None:
        name = cfg.reg_dataset_name
        try:
            images = regularization_images(name, cfg.n_reg, root=cfg.data_root, download=cfg.download,
                                           frozen_augmentation=cfg.frozen_reg_augmentation,
                                           synthetic_size=cfg.synthetic_size)
        except ValueError as exc:
            raise ConfigError("n_reg", f"got {cfg.n_reg!r}; the regularization set refused it: {exc}") from exc
        cfg.check_n_reg(len(images))  # a set shorter than n_reg gives fewer images
        if images.shape[1] != image_shape[0]:
            raise ConfigError("reg_dataset", f"{name!r} gives {images.shape[1]}-channel images; "
                              f"the classification images have {image_shape[0]}")
        if cfg.pair_mode == "fused" and tuple(images.shape[1:]) != tuple(image_shape):
            raise ConfigError("pair_mode", f"'fused' needs regularization images of the classification "
                              f"size {tuple(image_shape)}, got {tuple(images.shape[1:])}; use 'separate' or 'joint'")
        labels = feature_net = None
        if cfg.target_kind == "categorical":
            labels = load_split(name, "train", limit=cfg.n_reg, root=cfg.data_root, download=cfg.download,
                                synthetic_size=cfg.synthetic_size).labels
        if cfg.target_kind == "features":
            net, _ = load_checkpoint(cfg.target_path, device="cpu")
            feature_net = lambda x: net.forward_features(x)[1][3]  # stage 3 output  # noqa: E731
        # the target lives on the CPU: its index checks and the sampler's range tests would
        # otherwise sync the GPU every step; k dot products a step cost nothing there
        self.target = build_target(cfg.target_kind, images=images, labels=labels, threshold=cfg.threshold,
                                   threshold2=cfg.threshold2, feature_net=feature_net,
                                   matrix_path=cfg.target_path, seed=cfg.seed, device="cpu")
        thresholds = dict(threshold=cfg.threshold, threshold2=cfg.threshold2)
        self.sampler = PairSampler(self.target, cfg.pair_range, cfg.k, seed=cfg.seed, **thresholds)
        eval_sampler = PairSampler(self.target, cfg.pair_range, cfg.corr_pairs,
                                   seed=cfg.seed + _CORR_SEED_OFFSET, **thresholds)
        self.eval_i, self.eval_j = eval_sampler.sample()
        self.eval_t = self.target(self.eval_i, self.eval_j)
        self.images = images.to(device)
        self.device = device

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(xa [k,C,H,W], xb [k,C,H,W], target [k]) on the device, without a host sync."""
        i, j = self.sampler.sample()
        t = self.target(i, j).to(self.device, non_blocking=True)
        i, j = i.to(self.device, non_blocking=True), j.to(self.device, non_blocking=True)
        return self.images[i], self.images[j], t

    @torch.no_grad()
    def eval_correlation(self, model: torch.nn.Module, amp: Callable) -> float:
        """Pearson correlation of S_cnn (eval mode) and the target on the fixed pairs."""
        return self.eval_correlations(model, amp)[0]

    @torch.no_grad()
    def eval_correlations(self, model: torch.nn.Module, amp: Callable) -> list[float]:
        """Pearson correlations with the target on the fixed pairs (eval mode): of S_cnn first,
        then of each layer's similarity s_l (stem, stages 1-4)."""
        was_training = model.training
        model.eval()
        i, j = self.eval_i.to(self.device), self.eval_j.to(self.device)
        with amp():
            feats_a = model.forward_features(self.images[i])[1]
            feats_b = model.forward_features(self.images[j])[1]
            per_layer = model.sim_head.layer_similarities(feats_a, feats_b).float().cpu()  # [n, L]
        s = (per_layer * model.sim_head.layer_weights().detach().float().cpu()).sum(dim=1)
        model.train(was_training)
        return [_pearson(s, self.eval_t)] + [_pearson(per_layer[:, l], self.eval_t) for l in range(per_layer.shape[1])]


def _load_data(cfg: TrainConfig) -> tuple[Any, Any, Any]:
    """(train, validation, test) ImageSets: the 1% validation split is held out of train."""
    full, test = (load_split(cfg.dataset, split, limit=limit, root=cfg.data_root, download=cfg.download,
                             synthetic_size=cfg.synthetic_size)
                  for split, limit in (("train", cfg.train_limit), ("test", cfg.test_limit)))
    if len(full) < 2 * cfg.batch_size:
        raise ConfigError("train_limit", f"{len(full)} training images is fewer than two batches of "
                          f"batch_size={cfg.batch_size}; use more images or a smaller batch_size")
    train_idx, val_idx = validation_split(len(full), cfg.val_fraction, cfg.seed)
    return full.subset(train_idx), full.subset(val_idx), test


def _to_device(data: Any, device: torch.device) -> Any:
    """The ImageSet on ``device`` when it fits (CUDA), else left where it is (batches move)."""
    if device.type == "cpu" or data.images.numel() * data.images.element_size() > DEVICE_DATA_MAX_BYTES:
        return data
    return data.to(device)


def _metadata(cfg: TrainConfig, model: torch.nn.Module, history: list[dict], epoch: int,
              best: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {"config": cfg.to_dict(), "model_config": model.config(), "history": history,
            "epochs_completed": epoch, "best_epoch": best["epoch"], "best_val_loss": best["val_loss"],
            "seed": cfg.seed, "run_name": cfg.resolved_run_name(), **extra}


def _check_same_run(cfg: TrainConfig, stored: dict[str, Any], run_dir: Path) -> None:
    mine = cfg.to_dict()
    diff = [f"{k}: stored {stored.get(k)!r}, given {mine[k]!r}" for k in mine
            if k not in TrainConfig.RUNTIME_FIELDS and stored.get(k) != mine[k]]
    if diff:
        raise ValueError(f"run directory {str(run_dir)!r} holds a run with another config ({'; '.join(diff)}); "
                         "choose another run_name or out_dir")


def _finished(cfg: TrainConfig, run_dir: Path) -> TrainResult | None:
    """The stored result when this run has already finished, else None."""
    done = run_dir / "result.json"
    if not done.is_file():
        return None
    result = json.loads(done.read_text())
    _check_same_run(cfg, result["config"], run_dir)
    if result["epochs_completed"] != cfg.epochs:
        return None
    meta = read_checkpoint(run_dir / "best.pt")["metadata"]
    return TrainResult(run_dir, run_dir / "best.pt", run_dir / "last.pt", pd.DataFrame(meta["history"]),
                       float(meta["test_accuracy"]), meta, reused=True)


def train(config: TrainConfig, *, progress: bool = True,
          callback: Callable[[int, dict[str, Any]], None] | None = None) -> TrainResult:
    """Train one model (or resume it, or return it if already finished).

    Args:
        config: the run's ``TrainConfig`` (validated here before any work).
        progress: tqdm bars per epoch (also off when ``config.quiet``).
        callback: called as ``callback(epoch, row)`` after epoch ``epoch`` (0-based) is complete
            and saved; an exception it raises stops training with that epoch kept.

    Returns:
        ``TrainResult`` (run directory, best and last checkpoints, history with one row per
        epoch, clean test accuracy of the best checkpoint in [0, 1], metadata).
    """
    cfg = config.validate()
    progress = progress and not cfg.quiet
    run_dir = cfg.run_dir()
    finished = _finished(cfg, run_dir)
    if finished is not None:
        return finished
    device = resolve_device(cfg.device)
    deterministic = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        threads = torch.get_num_threads()
        use_all_cores() if cfg.num_threads is None else torch.set_num_threads(cfg.num_threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _train(cfg, device, run_dir, progress, callback)
    finally:
        torch.use_deterministic_algorithms(deterministic)
        if device.type == "cpu":
            torch.set_num_threads(threads)


def _train(cfg: TrainConfig, device: torch.device, run_dir: Path, progress: bool,
           callback: Callable[[int, dict[str, Any]], None] | None) -> TrainResult:
    seed_everything(cfg.seed)
    train_set, val_set, test_set = _load_data(cfg)
    sim = _Similarity(cfg, device, train_set.shape) if cfg.regularized else None
    train_set, val_set, test_set = (_to_device(d, device) for d in (train_set, val_set, test_set))
    model = build_model(cfg.arch, in_channels=train_set.shape[0], num_classes=train_set.num_classes,
                        width=cfg.width, init=cfg.init, input_scaling=cfg.resolved_input_scaling).to(device)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    schedule = CyclicSchedule(cfg.lr, cfg.lr_decay, cfg.phase_epochs, cfg.cycle_phases)
    amp = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16")  # noqa: E731
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"epoch": None, "val_loss": math.inf}
    versions = {key: None if value is None else str(value) for key, value in environment_versions().items()}
    extra: dict[str, Any] = {"versions": versions, "git_revision": git_revision()}
    start = 0
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if last_path.is_file():
        state = read_checkpoint(last_path, map_location="cpu")
        meta = state["metadata"]
        _check_same_run(cfg, meta["config"], run_dir)
        if meta["epochs_completed"] > cfg.epochs:
            raise ConfigError("epochs", f"got {cfg.epochs}; {str(run_dir)!r} already holds "
                              f"{meta['epochs_completed']} epochs")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if sim is not None:
            sim.sampler.load_state_dict(state["sampler"])
        restore_rng_state(state["rng"])
        history, start = meta["history"], meta["epochs_completed"]
        best = {"epoch": meta["best_epoch"], "val_loss": meta["best_val_loss"]}
        extra["init_pair_corr"] = meta.get("init_pair_corr")
        if not cfg.quiet and start < cfg.epochs:
            print(f"resuming {run_dir} after epoch {start}", file=sys.stderr)
    else:  # S_cnn-target correlation of the untrained network, on the fixed pairs
        extra["init_pair_corr"] = sim.eval_correlation(model, amp) if sim else None
    steps = len(train_set) // cfg.batch_size  # the last partial batch is dropped
    try:
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            lr = schedule.lr_at_step(epoch * steps, steps)  # the rate at the epoch's first step
            model.train()
            order = torch.randperm(len(train_set), generator=_generator(cfg.seed, epoch, 1)).to(train_set.labels.device)
            aug_gen = _generator(cfg.seed, epoch, 2, device) if cfg.use_augmentation else None
            acc = torch.zeros(12, dtype=torch.float64, device=device)
            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
            for step in range(steps):
                for group in optimizer.param_groups:  # per step: phase_epochs may be fractional
                    group["lr"] = schedule.lr_at_step(epoch * steps + step, steps)
                idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
                x = train_set.batch(idx).to(device, non_blocking=True)
                y = train_set.labels[idx].to(device, non_blocking=True)
                if aug_gen is not None:
                    x = augment_cifar(x, aug_gen)
                pairs = sim.batch() if sim is not None else None
                acc += train_step(model, optimizer, x, y, pairs, alpha=cfg.alpha, transform=cfg.transform,
                                  pair_mode=cfg.pair_mode, amp=amp, memory_format=fmt)
                bar.update(1)
                if progress and (step + 1) % LOG_EVERY == 0:
                    ce_sum, sim_sum = acc[_CE].item(), acc[_SIM].item()
                    bar.set_postfix(ce=f"{ce_sum / (step + 1):.3f}", sim=f"{sim_sum / (step + 1):.3f}")
            bar.close()
            row = _epoch_row(epoch, lr, acc.tolist(), steps, cfg, model, val_set, sim, amp, fmt)
            row["seconds"] = time.perf_counter() - t0
            history.append(row)
            if row["val_loss"] < best["val_loss"]:
                best = {"epoch": epoch, "val_loss": row["val_loss"]}
                atomic_save({"format": FORMAT, "format_version": FORMAT_VERSION, "model": model.state_dict(),
                             "metadata": _metadata(cfg, model, history, epoch + 1, best, extra)}, best_path)
            atomic_save({"format": FORMAT, "format_version": FORMAT_VERSION, "model": model.state_dict(),
                         "optimizer": optimizer.state_dict(), "sampler": sim.sampler.state_dict() if sim else None,
                         "rng": capture_rng_state(),
                         "metadata": _metadata(cfg, model, history, epoch + 1, best, extra)}, last_path)
            pd.DataFrame(history).to_csv(run_dir / "history.csv", index=False)
            if not cfg.quiet:
                print(_describe(row), file=sys.stderr)
            if callback is not None:
                callback(epoch, row)
    except KeyboardInterrupt:
        if not cfg.quiet:
            kept = f"{last_path} keeps epoch {len(history)}" if history else "no epoch was complete"
            print(f"interrupted: {kept}; run again with the same config to resume", file=sys.stderr)
        raise
    return _finish(cfg, run_dir, model, test_set, amp, fmt, history)


def _epoch_row(epoch: int, lr: float, acc: list[float], steps: int, cfg: TrainConfig, model: torch.nn.Module,
               val_set: Any, sim: _Similarity | None, amp: Callable, fmt: torch.memory_format) -> dict[str, Any]:
    nan = float("nan")
    val_loss, val_acc = evaluate(model, val_set, cfg.eval_batch_size, amp, fmt)
    row = {"epoch": epoch, "lr": lr, "train_ce": acc[_CE] / steps,
           "sim_loss": acc[_SIM] / steps if sim else nan,
           "train_acc": acc[_CORRECT] / acc[_N], "corr": pooled_correlation(acc),
           "corr_step_mean": acc[_CORR_STEP] / acc[_CORR_OK] if sim and acc[_CORR_OK] > 0 else nan,
           "val_loss": val_loss, "val_acc": val_acc}
    weights = model.sim_head.layer_weights().detach().float().cpu().tolist()
    corrs = sim.eval_correlations(model, amp) if sim else [nan] * (len(weights) + 1)
    row["pair_corr"] = corrs[0]
    row.update({f"layer_w{i}": w for i, w in enumerate(weights)})
    row.update({f"layer_corr{i}": c for i, c in enumerate(corrs[1:])})  # per-layer s_l vs target
    return row


def _describe(row: dict[str, Any]) -> str:
    return (f"epoch {row['epoch'] + 1}: lr {row['lr']:.4g} ce {row['train_ce']:.4f} sim {row['sim_loss']:.4f} "
            f"corr {row['corr']:.3f} val_loss {row['val_loss']:.4f} val_acc {row['val_acc']:.4f} "
            f"({row['seconds']:.1f} s)")


def _finish(cfg: TrainConfig, run_dir: Path, model: torch.nn.Module, test_set: Any, amp: Callable,
            fmt: torch.memory_format, history: list[dict[str, Any]]) -> TrainResult:
    """Evaluate the best checkpoint on the test set; write its final metadata and result.json."""
    best_path = run_dir / "best.pt"
    payload = read_checkpoint(best_path, map_location="cpu")
    model.load_state_dict(payload["model"])
    test_loss, test_acc = evaluate(model, test_set, cfg.eval_batch_size, amp, fmt)
    meta = payload["metadata"]
    meta.update(test_accuracy=test_acc, test_loss=test_loss, n_test=len(test_set), history=history,
                epochs_completed=len(history), done=True)
    payload["metadata"] = meta
    atomic_save(payload, best_path)
    clean = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
             for r in history]
    summary = {"run_name": cfg.resolved_run_name(), "config": cfg.to_dict(), "test_accuracy": test_acc,
               "test_loss": test_loss, "n_test": len(test_set), "best_epoch": meta["best_epoch"],
               "best_val_loss": meta["best_val_loss"], "init_pair_corr": meta.get("init_pair_corr"),
               "epochs_completed": len(history), "history": clean, "git_revision": meta["git_revision"]}
    done = run_dir / "result.json"
    tmp = done.with_name(".result.json.tmp")
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(done)
    return TrainResult(run_dir, best_path, run_dir / "last.pt", pd.DataFrame(history), test_acc, meta)


# -- command line -----------------------------------------------------------------------------
def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``pixsim train``: ``--config FILE.yaml`` and one option per TrainConfig field."""
    add_config_arguments(parser)


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``pixsim train``; prints the run directory and the test accuracy; returns 0 (2 for a bad
    configuration, with the message naming the field and the allowed values)."""
    try:
        cfg = config_from_args(args)
        result = train(cfg, progress=not cfg.quiet)
    except ConfigError as exc:
        print(f"pixsim train: error: {exc}", file=sys.stderr)
        return 2
    word = "already finished" if result.reused else "finished"
    print(f"{result.run_dir}: {word}; clean test accuracy {result.test_accuracy:.4f} "
          f"(best epoch {result.metadata['best_epoch']}); checkpoint {result.checkpoint}")
    return 0
