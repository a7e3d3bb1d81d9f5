"""The results store: one directory per run, the records of finished steps, and gathering tidy
tables.

Layout of a profile's output directory (``results/<profile>`` by default)::

    <out>/
      profile.yaml                 the profile as run
      reproduce.json               what the last `pixsim reproduce` did (steps, seconds, failures)
      runs/<run>/
        train.ipynb                executed training notebook
        best.pt, last.pt           checkpoints written by pixsim.training.train
        history.csv                per-epoch training metrics (pixsim.training.train)
        result.json                the training run's record (pixsim.training.train, written last)
        robustness.ipynb           executed robustness notebook
        robustness.csv             tidy robustness rows (one per attack x norm x epsilon ...)
        robustness.done.json       completion marker written by the runner after the step succeeded
      analysis/
        similarity.ipynb, results.ipynb, figures and gathered tables (results.csv, ...)

Each finished step has one record: a training step the run record that ``pixsim.training.train``
writes when the run has finished (``result.json``: its config, clean test accuracy, history, ...);
every other step a ``<kind>.done.json`` marker (digest of its parameters, seconds) written by
the runner (:mod:`pixsim.reproduce`).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from pixsim.checkpoint import file_sha256
from pixsim.config import TrainConfig

__all__ = [
    "RUN_RECORD", "HISTORY", "ROBUSTNESS_CSV", "STEP_OUTPUTS", "write_run_record", "read_run_record", "verify_run",
    "parameters_digest", "marker_path", "write_marker", "read_marker", "is_complete", "recorded_seconds",
    "find_checkpoint", "gather_results", "gather_histories", "gather_runs", "write_manifest", "read_manifest",
    "save_table", "MODEL_INFO_FIELDS", "model_info", "load_test_set",
]

RUN_RECORD = "result.json"
HISTORY = "history.csv"
ROBUSTNESS_CSV = "robustness.csv"

# outputs (relative to the step's directory) that must exist for a step to count as complete
STEP_OUTPUTS = {
    "train": ("train.ipynb", RUN_RECORD, HISTORY),
    "robustness": ("robustness.ipynb", ROBUSTNESS_CSV),
    "similarity": ("similarity.ipynb",),
    "results": ("results.ipynb",),
}


# -- the training run's record ------------------------------------------------------------------
def write_run_record(run_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write a finished training run's record (``result.json``) atomically; ``pixsim.training.train``
    calls it last, so the file exists only for a finished run."""
    path = Path(run_dir) / RUN_RECORD
    tmp = path.with_name(f".{RUN_RECORD}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)
    return path


def read_run_record(run_dir: str | Path) -> dict[str, Any] | None:
    """The record of the finished training run in ``run_dir`` (None when it has not finished).

    Raises:
        ValueError: the file is not a JSON mapping (damaged); the message names it.
    """
    path = Path(run_dir) / RUN_RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a readable run record ({type(exc).__name__}: {exc})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} is not a run record (a JSON mapping), got {type(record).__name__}")
    return record


def verify_run(run_dir: str | Path, record: dict[str, Any] | None = None) -> str | None:
    """None when the finished training run in ``run_dir`` holds the files its record names, as
    they were written: its checkpoint and ``history.csv`` have the SHA-256 the record holds
    (records written before checksums: the files exist and are not empty). Otherwise what is
    wrong, naming the file."""
    run_dir = Path(run_dir)
    try:
        record = record if record is not None else read_run_record(run_dir)
    except ValueError as exc:
        return str(exc)
    if record is None:
        return f"{run_dir / RUN_RECORD} is missing (the run has not finished)"
    for name, key in ((record.get("checkpoint") or "best.pt", "checkpoint_sha256"), (HISTORY, "history_sha256")):
        path = run_dir / name
        if not path.is_file() or path.stat().st_size == 0:
            return f"{path} is missing or empty"
        if record.get(key) and file_sha256(path) != record[key]:
            return f"{path} differs from the checksum in its run record (changed or damaged since the run finished)"
    return None


# -- the runner's records of the other steps -----------------------------------------------------
def parameters_digest(parameters: dict[str, Any]) -> str:
    """A short stable hash of a step's parameters (JSON with sorted keys)."""
    text = json.dumps(parameters, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def marker_path(step_dir: str | Path, kind: str) -> Path:
    """Path of the completion marker of step ``kind`` in ``step_dir``."""
    return Path(step_dir) / f"{kind}.done.json"


def write_marker(step_dir: str | Path, kind: str, parameters: dict[str, Any], seconds: float) -> Path:
    """Record that step ``kind`` (not ``train``, which has its run record) completed in ``step_dir``
    with these parameters."""
    path = marker_path(step_dir, kind)
    path.write_text(json.dumps({
        "kind": kind,
        "digest": parameters_digest(parameters),
        "parameters": parameters,
        "seconds": round(float(seconds), 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }, indent=1, default=str))
    return path


def read_marker(step_dir: str | Path, kind: str) -> dict[str, Any]:
    """The completion marker of step ``kind`` in ``step_dir`` ({} when absent or unreadable)."""
    try:
        return json.loads(marker_path(step_dir, kind).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _same_training(record: dict[str, Any], parameters: dict[str, Any]) -> bool:
    """True when a run record's config has the values a training step's parameters set (as
    TrainConfig normalises them). Fields the step leaves to the notebook's defaults are not
    compared, as the runner's digest of the parameters never compared them."""
    try:
        wanted = TrainConfig.from_dict(dict(parameters)).to_dict()
    except (ValueError, TypeError):
        return False
    stored = record.get("config") or {}
    return all(key in stored and stored[key] == wanted[key] for key in parameters)


def is_complete(step_dir: str | Path, kind: str, parameters: dict[str, Any]) -> bool:
    """True when step ``kind`` finished in ``step_dir`` with the same parameters.

    Complete means: the step's record says it finished with these parameters (a training step:
    its run record's config has the values the parameters set; any other step: its marker's
    parameter digest matches) and every expected output file (``STEP_OUTPUTS[kind]``) exists and is non-empty. A run
    whose outputs were deleted, or whose parameters changed in the profile, is not complete and
    is run again.
    """
    step_dir = Path(step_dir)
    if kind == "train":
        try:
            record = read_run_record(step_dir)
        except (OSError, json.JSONDecodeError):
            return False
        if record is None or not _same_training(record, parameters):
            return False
    elif read_marker(step_dir, kind).get("digest") != parameters_digest(parameters):
        return False
    for name in STEP_OUTPUTS.get(kind, ()):
        f = step_dir / name
        if not f.exists() or f.stat().st_size == 0:
            return False
    return True


def recorded_seconds(step_dir: str | Path, kind: str) -> float:
    """Seconds a complete step took when it ran, from its record (a training step: the summed
    epoch times of its run record)."""
    if kind == "train":
        return float((read_run_record(step_dir) or {}).get("train_seconds") or 0.0)
    return float(read_marker(step_dir, kind).get("seconds", 0.0))


def find_checkpoint(path: str | Path) -> Path:
    """Resolve a checkpoint file or a finished run's directory (its record names the checkpoint)
    to a file.

    Raises:
        FileNotFoundError: nothing usable at ``path`` (the message says what was looked for).
    """
    path = Path(path)
    if path.is_file():
        return path
    record = read_run_record(path) if path.is_dir() else None
    if record is not None:
        ckpt = path / record["checkpoint"]
        if ckpt.exists():
            return ckpt
        raise FileNotFoundError(f"{path / RUN_RECORD} names checkpoint {ckpt}, which does not exist")
    raise FileNotFoundError(
        f"no checkpoint at {path}: expected a checkpoint file or a finished run's directory with {RUN_RECORD}"
    )


def _concat_csvs(files: Iterable[Path], add_run: bool = True) -> pd.DataFrame:
    frames = []
    for f in sorted(files):
        try:
            df = pd.read_csv(f)
        except pd.errors.EmptyDataError:
            continue
        if add_run and "run_name" not in df.columns:
            df.insert(0, "run_name", f.parent.name)
        frames.append(df)
    return pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()


def gather_results(out_dir: str | Path) -> pd.DataFrame:
    """All robustness rows of a profile's output directory, concatenated into one tidy table."""
    return _concat_csvs(Path(out_dir).glob(f"runs/*/{ROBUSTNESS_CSV}"))


def gather_histories(out_dir: str | Path) -> pd.DataFrame:
    """All per-epoch training histories of a profile, with a ``run_name`` column."""
    return _concat_csvs(Path(out_dir).glob(f"runs/*/{HISTORY}"))


def gather_runs(out_dir: str | Path) -> pd.DataFrame:
    """One row per training run: run name, its labels (from ``reproduce.json``), config and
    record fields (clean accuracy, seconds, ...) from its run record (``result.json``)."""
    out_dir = Path(out_dir)
    labels = {}
    manifest = read_manifest(out_dir)
    for step in manifest.get("steps", []):
        if step.get("kind") == "train":
            labels[step["run"]] = dict(step.get("labels", {}))
            labels[step["run"]]["status"] = step.get("status")
            labels[step["run"]]["train_seconds"] = step.get("seconds")
    rows = []
    for record in sorted(out_dir.glob(f"runs/*/{RUN_RECORD}")):
        info = json.loads(record.read_text())
        run = record.parent.name
        row: dict[str, Any] = {"run_name": run}
        row.update(labels.pop(run, {}))
        cfg = info.get("config", {})
        for key in ("dataset", "reg_dataset", "alpha", "threshold", "target_kind", "k", "n_reg",
                    "arch", "width", "epochs", "train_limit"):
            if key in cfg:
                row[key] = cfg[key]
        if "alpha" in cfg and not float(cfg["alpha"] or 0) > 0:  # baseline: no regularizer
            row.update(reg_dataset="none", threshold=None, target_kind=None)
        elif "reg_dataset" in cfg and cfg["reg_dataset"] is None:
            row["reg_dataset"] = cfg.get("dataset")
        for key, value in info.items():
            if key not in ("config", "checkpoint") and not isinstance(value, (dict, list)):
                row[key] = value
        rows.append(row)
    for run, lab in labels.items():  # runs listed in the manifest that left no record
        rows.append({"run_name": run, **lab})
    return pd.DataFrame(rows)


def write_manifest(out_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``reproduce.json`` (what the runner did) into ``out_dir``."""
    path = Path(out_dir) / "reproduce.json"
    path.write_text(json.dumps(manifest, indent=1, default=str))
    return path


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    """Read ``reproduce.json`` from ``out_dir`` ({} when absent)."""
    path = Path(out_dir) / "reproduce.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Save a tidy table as CSV (and as Parquet beside it when pyarrow is installed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return path
    df.to_parquet(path.with_suffix(".parquet"), index=False)
    return path


# config fields copied into every robustness row (the model's identifying columns)
MODEL_INFO_FIELDS = ("dataset", "reg_dataset", "arch", "width", "epochs", "alpha", "threshold",
                     "target_kind", "k", "n_reg", "pair_range", "seed", "train_limit")


def model_info(metadata: dict[str, Any], **labels: Any) -> dict[str, Any]:
    """Identifying columns of a model for its robustness rows: the run labels given (run_name,
    experiment, condition, ...; empty values dropped), the config fields of
    ``MODEL_INFO_FIELDS`` from the checkpoint metadata, ``regularized`` and the clean
    ``test_accuracy`` when recorded. ``reg_dataset`` None is written as the data set used."""
    cfg = dict(metadata.get("config", {}))
    info: dict[str, Any] = {k: v for k, v in labels.items() if v not in (None, "")}
    for key in MODEL_INFO_FIELDS:
        if key in cfg:
            info.setdefault(key, cfg[key])
    if info.get("reg_dataset") is None and "dataset" in cfg:
        info["reg_dataset"] = cfg["dataset"]
    alpha = float(cfg.get("alpha", 0) or 0)
    info["regularized"] = alpha > 0
    if alpha == 0:
        info["reg_dataset"] = "none"
    return info


def load_test_set(config: dict[str, Any], limit: int | None = None, data_root: str | None = None):
    """The test split a training run was evaluated on, from its config dict (checkpoint
    metadata): :func:`pixsim.data.load_split` with the run's data set options.

    Args:
        config: the run's TrainConfig as a dict.
        limit: first ``limit`` test images (None: ``config["test_limit"]``, then all).
        data_root: data directory (None: the run's ``data_root``, then the default search).

    Returns:
        ``pixsim.data.ImageSet`` (images uint8 or float32 [N, C, H, W]; ``float_images()`` in [0, 1]).
    """
    from pixsim.data import load_split

    return load_split(config["dataset"], "test", limit=limit if limit is not None else config.get("test_limit"),
                      root=data_root or config.get("data_root"), download=bool(config.get("download", False)),
                      synthetic_size=config.get("synthetic_size", 32))
