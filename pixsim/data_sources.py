"""Where each data set is looked for, in which layout, and the one error when it is nowhere.

Search order for every named data set (first hit wins):

1. the explicit ``root`` argument;
2. ``$PIXSIM_DATA`` (a folder shared by all data sets);
3. system copies: ``/usr/share/datasets/fashion-mnist`` for Fashion-MNIST (Debian package
   ``dataset-fashion-mnist``: the four original ``.gz`` idx files directly in that folder);
4. the default download folder ``$XDG_CACHE_HOME/pixsim`` (``~/.cache/pixsim``), where
   ``download=True`` puts data when neither ``root`` nor ``$PIXSIM_DATA`` is given.

Layouts inside a root ``R``:

- CIFAR-10 / CIFAR-100: torchvision's ``R/cifar-10-batches-py/`` / ``R/cifar-100-python/``
  (``R`` may also be that folder itself).
- MNIST / Fashion-MNIST: torchvision's ``R/MNIST/raw/`` / ``R/FashionMNIST/raw/`` (read by
  torchvision's class when the uncompressed files are there, else by :func:`read_idx` when
  only ``.gz`` files are), a flat folder ``R/mnist/`` / ``R/fashion-mnist/`` of ``.gz`` or
  uncompressed idx files, and -- for an explicit ``root`` only -- ``R`` itself as a flat folder.
  (MNIST and Fashion-MNIST use the same file names, so a flat folder directly in the shared
  ``$PIXSIM_DATA`` would be ambiguous.)
- image folder: ``R`` (explicit root) or ``$PIXSIM_DATA/image_folder``; the train split is
  ``R/train`` if it exists, else ``R``; the test split is ``R/test`` or ``R/val``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchvision

from pixsim.datasets_io import (
    IDX_FILES,
    CIFAR10Files,
    CIFAR100Files,
    DatasetNotFoundError,
    idx_file,
    read_idx,
    read_image_folder,
)

ENV_VAR = "PIXSIM_DATA"
#: System-wide copies per data set name (flat folders of idx files); tests may monkeypatch this.
SYSTEM_LOCATIONS: dict[str, list[Path]] = {"fashion_mnist": [Path("/usr/share/datasets/fashion-mnist")]}

_MNIST_TYPE = {
    "mnist": (torchvision.datasets.MNIST, "mnist", "MNIST"),
    "fashion_mnist": (torchvision.datasets.FashionMNIST, "fashion-mnist", "Fashion-MNIST"),
}
_CIFAR = {"cifar10": (CIFAR10Files, "CIFAR-10"), "cifar100": (CIFAR100Files, "CIFAR-100")}


def default_data_dir() -> Path:
    """The default download folder: ``$XDG_CACHE_HOME/pixsim`` or ``~/.cache/pixsim``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pixsim"


@dataclass
class Loaded:
    """Raw result of a loader: uint8 images [N, C, H, W], int64 labels [N], where they came from."""

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    source: str


@dataclass
class _Search:
    """Collects the places looked at, to build one :class:`DatasetNotFoundError` message."""

    title: str
    looked: list[str] = field(default_factory=list)

    def miss(self, where: str, why: str) -> None:
        self.looked.append(f"  - {where}: {why}")

    def error(self, how: list[str], extra: str = "") -> DatasetNotFoundError:
        lines = [f"{self.title} not found{extra}. Looked in:", *self.looked, "To get it:"]
        lines += [f"  - {h}" for h in how]
        return DatasetNotFoundError("\n".join(lines))


def _bases(root, search: _Search) -> list[tuple[Path, bool]]:
    """(folder, is_explicit) for the explicit root and $PIXSIM_DATA, recording unset ones."""
    bases = []
    if root is not None:
        bases.append((Path(root).expanduser(), True))
    else:
        search.miss("root argument", "not given")
    env = os.environ.get(ENV_VAR)
    if env:
        bases.append((Path(env).expanduser(), False))
    else:
        search.miss(f"${ENV_VAR}", "not set")
    return bases


def _download_target(root) -> Path:
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else default_data_dir()


def _how(root, label: str, layout: str) -> list[str]:
    return [
        f"pass download=True (needs a network; `pixsim train --download`, `-p download True` "
        f"in papermill) to download {label} into {_download_target(root)}",
        f"or put {layout} in a folder and pass root=<folder> or set {ENV_VAR}=<folder>",
    ]


# ------------------------------------------------------------------------------- MNIST-type
def _flat_idx(directory: Path, split: str, search: _Search, where: str) -> tuple[np.ndarray, np.ndarray] | None:
    if not directory.is_dir():
        search.miss(where, "no such folder")
        return None
    paths = [idx_file(directory, base) for base in IDX_FILES[split]]
    if None in paths:
        missing = [b for b, p in zip(IDX_FILES[split], paths) if p is None]
        search.miss(where, f"missing {', '.join(m + '[.gz]' for m in missing)}")
        return None
    images, labels = read_idx(paths[0], expected_ndim=3), read_idx(paths[1], expected_ndim=1)
    if len(images) != len(labels):
        raise ValueError(f"{directory}: {len(images)} images but {len(labels)} labels in the {split} idx files")
    return images, labels


def _torchvision_mnist_present(cls, base: Path) -> bool:
    """torchvision's own test: uncompressed idx files in raw/ (or its legacy processed/*.pt)."""
    folder = base / cls.__name__
    legacy = all((folder / "processed" / f).is_file() for f in (cls.training_file, cls.test_file))
    raw = all((folder / "raw" / Path(f).stem).is_file() for f, _ in cls.resources)
    return legacy or raw


def _from_arrays(found: tuple[np.ndarray, np.ndarray], source: str) -> Loaded:
    images, labels = found
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{source}: labels must be 0..9, found {labels.min()}..{labels.max()}")
    return Loaded(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)), 10, source)


def load_mnist_type(name: str, split: str, root, download: bool) -> Loaded:
    """MNIST or Fashion-MNIST ``split`` as uint8 [N, 1, 28, 28] and labels 0..9 (see module doc)."""
    cls, flat_name, label = _MNIST_TYPE[name]
    search = _Search(f"{label} ({split} split)")
    train = split == "train"

    def from_torchvision(base: Path) -> Loaded:
        ds = cls(str(base), train=train, download=False)
        return Loaded(ds.data.unsqueeze(1).contiguous(), ds.targets.long(), 10, f"{base} (torchvision {cls.__name__})")

    def try_base(base: Path, explicit: bool) -> Loaded | None:
        if _torchvision_mnist_present(cls, base):
            return from_torchvision(base)
        raw = base / cls.__name__ / "raw"
        found = _flat_idx(raw, split, search, f"{raw} (torchvision layout)")
        if found is None:
            found = _flat_idx(base / flat_name, split, search, f"{base / flat_name} (flat idx files)")
        if found is None and explicit:
            found = _flat_idx(base, split, search, f"{base} (flat idx files)")
        return None if found is None else _from_arrays(found, str(base))

    for base, explicit in _bases(root, search):
        if (loaded := try_base(base, explicit)) is not None:
            return loaded
    for system in SYSTEM_LOCATIONS.get(name, []):
        found = _flat_idx(system, split, search, f"{system} (system copy)")
        if found is not None:
            return _from_arrays(found, str(system))
    if (loaded := try_base(default_data_dir(), False)) is not None:
        return loaded
    how = _how(root, label, f"the four idx files ({', '.join(IDX_FILES['train'] + IDX_FILES['test'])}, .gz or not)")
    if name == "fashion_mnist":
        how.insert(1, "or on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist "
                   "(installs /usr/share/datasets/fashion-mnist)")
    if not download:
        raise search.error(how)
    target = _download_target(root)
    try:
        cls(str(target), train=train, download=True)
    except Exception as exc:  # network errors come as URLError, RuntimeError or OSError
        raise search.error(how, extra=f"; download into {target} failed ({type(exc).__name__}: {exc})") from exc
    return from_torchvision(target)


# ----------------------------------------------------------------------------------- CIFAR
def load_cifar(name: str, split: str, root, download: bool, verify_checksums: bool) -> Loaded:
    """CIFAR-10 or CIFAR-100 (fine labels) ``split`` as uint8 [N, 3, 32, 32] (see module doc)."""
    cls, label = _CIFAR[name]
    search = _Search(f"{label} ({split} split)")
    train = split == "train"
    num_classes = 10 if name == "cifar10" else 100

    def build(base: Path, dl: bool) -> Loaded:
        try:
            ds = cls(str(base), train=train, download=dl, verify_checksums=verify_checksums)
        except RuntimeError as exc:
            if dl:
                raise
            raise RuntimeError(
                f"{base / cls.base_folder}: {exc} (md5 checksums differ from torchvision's published "
                "ones; pass verify_checksums=False only if you re-packed these files on purpose)"
            ) from exc
        images = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
        return Loaded(images, torch.tensor(ds.targets, dtype=torch.long), num_classes, str(base / cls.base_folder))

    bases = []
    for base, _ in _bases(root, search) + [(default_data_dir(), False)]:
        bases.append(base)
        if base.name == cls.base_folder:
            bases.append(base.parent)
    for base in bases:
        missing = [p.name for p in cls.required_files(base) if not p.is_file()]
        if not missing:
            return build(base, False)
        where = base / cls.base_folder
        search.miss(str(where), "no such folder" if not where.is_dir() else f"missing {', '.join(missing)}")
    how = _how(root, label, f"the extracted {cls.base_folder}/ folder of {cls.filename}")
    if not download:
        raise search.error(how)
    target = _download_target(root)
    try:
        return build(target, True)
    except Exception as exc:
        raise search.error(how, extra=f"; download into {target} failed ({type(exc).__name__}: {exc})") from exc


# ------------------------------------------------------------------------------ image folder
def load_image_folder(split: str, root, grayscale: bool, limit: int | None, progress: bool) -> Loaded:
    """A folder tree of image files as [N, C, 36, 64] uint8 (see :func:`read_image_folder`)."""
    search = _Search(f"image folder ({split} split)")
    bases = []
    if root is not None:
        bases.append(Path(root).expanduser())
    else:
        search.miss("root argument", "not given")
    env = os.environ.get(ENV_VAR)
    if env:
        bases.append(Path(env).expanduser() / "image_folder")
    else:
        search.miss(f"${ENV_VAR}/image_folder", f"${ENV_VAR} not set")
    for base in bases:
        if split == "train":
            options = [base / "train"] if (base / "train").is_dir() else [base]
        else:
            options = [base / "test", base / "val"]
        for folder in options:
            if not folder.is_dir():
                search.miss(str(folder), "no such folder")
                continue
            try:
                images, labels, classes = read_image_folder(folder, grayscale=grayscale, limit=limit, progress=progress)
            except DatasetNotFoundError:
                search.miss(str(folder), "no image files")
                continue
            return Loaded(images, labels, len(classes), str(folder))
    raise search.error(
        [
            "there is no download: pass root=<folder tree of image files> (for the paper, ImageNet "
            f"images; class sub-folders optional) or put them under ${ENV_VAR}/image_folder",
        ]
    )
