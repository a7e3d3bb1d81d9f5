"""File formats and on-disk layouts behind :mod:`pixsim.data`.

Readers here return uint8 arrays/tensors exactly as stored; :mod:`pixsim.data` turns them into
:class:`pixsim.data.ImageSet` objects. Contents:

- :func:`read_idx`: a small reader of the original MNIST / Fashion-MNIST idx files (``.gz`` or
  uncompressed), used for flat folders such as the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``). torchvision's own classes read its
  ``<root>/<Class>/raw/`` layout.
- :class:`CIFAR10Files` / :class:`CIFAR100Files`: torchvision's CIFAR classes with one switch,
  ``verify_checksums``. torchvision's ``_check_integrity`` compares the md5 of every pickle
  batch (and ``_load_meta`` the md5 of the meta file) with the published archive; with
  ``verify_checksums=False`` only the files' existence is checked. Default ``True`` (the
  published files); the tests pass ``False`` because their fake batches, written in the real
  pickle format, cannot have the real checksums.
- :func:`to_grayscale`: ITU-R 601-2 luma, bit-exact with PIL's ``Image.convert("L")``.
- :func:`read_image_folder`: ImageNet-style regularization images (grayscale, centre crop
  144 x 256, every 4th pixel -> 36 x 64).
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from tqdm.auto import tqdm

__all__ = [
    "DatasetNotFoundError",
    "read_idx",
    "IDX_FILES",
    "idx_file",
    "CIFAR10Files",
    "CIFAR100Files",
    "to_grayscale",
    "crop_subsample",
    "list_image_files",
    "read_image_folder",
    "IMAGE_EXTENSIONS",
    "CROP_HW",
    "SUBSAMPLE",
]


class DatasetNotFoundError(FileNotFoundError):
    """A data set is in none of the places searched (the message lists them and how to get it)."""


# ----------------------------------------------------------------------------------------- idx
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: Base names of the idx files per split: (images, labels).
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_file(directory: Path, base: str) -> Path | None:
    """The idx file ``base`` in ``directory``: uncompressed first, else ``base + '.gz'``; None if absent."""
    for candidate in (directory / base, directory / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: str | os.PathLike, expected_ndim: int | None = None) -> np.ndarray:
    """Read one idx file (the MNIST format), gzip-compressed or not.

    The header is validated: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, then one big-endian
    uint32 per dimension; the payload must hold exactly the product of the dimensions.

    Args:
        path: a ``.gz`` file (detected by its gzip magic bytes, not its name) or a raw idx file.
        expected_ndim: if given, the number of dimensions the file must have (3 for images
            [N, H, W], 1 for labels [N]).

    Returns:
        A native-byte-order numpy array with the stored shape and dtype (uint8 for MNIST).

    Raises:
        ValueError: bad magic number, unknown type code, wrong ndim or truncated/overlong payload.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=f) as gz:
                data = gz.read()
        else:
            data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path} is not an idx file: magic bytes {data[:4].hex() or '(empty)'}, expected "
            f"00 00 <type code in {sorted(hex(k) for k in _IDX_DTYPES)}> <ndim>"
        )
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise ValueError(f"{path}: idx file has {ndim} dimensions, expected {expected_ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: idx header truncated ({len(data)} bytes, expected >= {header})")
    shape = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: idx payload is {len(data) - header} bytes, expected {expected} for shape "
            f"{shape} of {dtype}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


# --------------------------------------------------------------------------------------- CIFAR
class CIFAR10Files(torchvision.datasets.CIFAR10):
    """torchvision's CIFAR10 whose md5 verification can be switched off.

    Args:
        root: folder holding ``cifar-10-batches-py/``.
        train: training batches (True) or ``test_batch`` (False).
        download: download the archive into ``root`` if missing (needs a network).
        verify_checksums: True (default) keeps torchvision's md5 checks of every batch and the
            meta file; False only checks that those files exist (for re-packed or test data).

    After construction ``.data`` is uint8 [N, 32, 32, 3] (HWC) and ``.targets`` a list of ints.
    """

    def __init__(self, root, train: bool = True, download: bool = False, verify_checksums: bool = True):
        self.verify_checksums = bool(verify_checksums)
        super().__init__(root, train=train, download=download)

    @classmethod
    def required_files(cls, root) -> list[Path]:
        """Every file torchvision's loader opens under ``root`` (both splits' batches, then meta)."""
        folder = Path(root) / cls.base_folder
        names = [n for n, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        return [folder / n for n in names]

    def _check_integrity(self) -> bool:
        if self.verify_checksums:
            return super()._check_integrity()
        return all(p.is_file() for p in self.required_files(self.root)[:-1])

    def _load_meta(self) -> None:
        if self.verify_checksums:
            return super()._load_meta()
        with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as f:
            data = pickle.load(f, encoding="latin1")
        self.classes = data[self.meta["key"]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


class CIFAR100Files(CIFAR10Files):
    """torchvision's CIFAR100 (fine labels) with the same ``verify_checksums`` switch."""

    base_folder = torchvision.datasets.CIFAR100.base_folder
    url = torchvision.datasets.CIFAR100.url
    filename = torchvision.datasets.CIFAR100.filename
    tgz_md5 = torchvision.datasets.CIFAR100.tgz_md5
    train_list = torchvision.datasets.CIFAR100.train_list
    test_list = torchvision.datasets.CIFAR100.test_list
    meta = torchvision.datasets.CIFAR100.meta


# ----------------------------------------------------------------------------------- grayscale
def to_grayscale(images: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """RGB -> luma with the ITU-R 601-2 weights L = 0.299 R + 0.587 G + 0.114 B.

    For uint8 input the result is bit-exact with PIL's ``Image.convert("L")`` (the conversion the
    paper's torchvision ``Grayscale`` transform uses): fixed point
    ``(19595 R + 38470 G + 7471 B + 32768) >> 16``, i.e. the weights rounded to 16 bits and the
    result rounded to the nearest integer. Float input uses the exact weights.

    Args:
        images: [N, 3, H, W] uint8 (0..255) or floating (e.g. [0, 1]); [N, 1, H, W] is returned
            unchanged.
        chunk: images converted per step (bounds the int32 temporary for uint8 input).

    Returns:
        [N, 1, H, W] with the input's dtype and device.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be [N, 1 or 3, H, W], got shape {tuple(images.shape)}")
    if images.shape[1] == 1:
        return images
    if images.dtype == torch.uint8:
        out = torch.empty((images.shape[0], 1, *images.shape[2:]), dtype=torch.uint8, device=images.device)
        for s in range(0, images.shape[0], chunk):
            part = images[s : s + chunk]
            acc = part[:, 0:1].to(torch.int32) * 19595
            acc.add_(part[:, 1:2].to(torch.int32), alpha=38470).add_(part[:, 2:3].to(torch.int32), alpha=7471)
            out[s : s + chunk] = acc.add_(0x8000).bitwise_right_shift_(16)
        return out
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 or floating point, got {images.dtype}")
    w = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * w).sum(1, keepdim=True)


# -------------------------------------------------------------------------------- image folder
#: Centre crop (H, W) and subsampling step of the paper's ImageNet regularization images.
CROP_HW = (144, 256)
SUBSAMPLE = 4
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def crop_subsample(img: Image.Image, grayscale: bool = True) -> np.ndarray:
    """The paper's ImageNet preprocessing of one image: luma, centre crop 144 x 256, every 4th pixel.

    Images at least 144 high and 256 wide are cropped without resizing. A smaller image is first
    scaled up (bilinear, aspect ratio kept) by ``max(144 / H, 256 / W)`` so that it covers the
    crop; that scales its shorter side relative to the crop. The crop starts at row
    ``(H - 144) // 2`` and column ``(W - 256) // 2`` (floor), and subsampling keeps rows
    0, 4, ..., 140 and columns 0, 4, ..., 252 of the crop.

    Args:
        img: a PIL image in any mode.
        grayscale: luma via PIL ``convert("L")`` (True) or RGB (False).

    Returns:
        uint8 array [36, 64] (grayscale) or [36, 64, 3] (RGB).
    """
    img = img.convert("L" if grayscale else "RGB")
    (ch, cw), (w, h) = CROP_HW, img.size
    if h < ch or w < cw:
        scale = max(ch / h, cw / w)
        new_w = max(cw, int(math.ceil(w * scale - 1e-6)))
        new_h = max(ch, int(math.ceil(h * scale - 1e-6)))
        img = img.resize((new_w, new_h), Image.BILINEAR)
        w, h = new_w, new_h
    top, left = (h - ch) // 2, (w - cw) // 2
    arr = np.asarray(img)[top : top + ch : SUBSAMPLE, left : left + cw : SUBSAMPLE]
    return np.ascontiguousarray(arr)


def list_image_files(directory: Path) -> list[Path]:
    """Image files under ``directory`` (recursively), sorted by relative path (deterministic)."""
    files = [
        p
        for p in directory.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    ]
    return sorted(files, key=lambda p: p.relative_to(directory).as_posix())


def read_image_folder(
    directory: Path, *, grayscale: bool = True, limit: int | None = None, progress: bool = False
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Read a folder tree of image files as regularization images (see :func:`crop_subsample`).

    Files are taken in sorted relative-path order (the first ``limit`` of them). The label of a
    file is the index of its top-level sub-folder among the sorted sub-folder names (the
    torchvision ``ImageFolder`` / ImageNet convention); files directly in ``directory`` form a
    class named ``"."``.

    Returns:
        (images uint8 [N, C, 36, 64] with C = 1 or 3, labels int64 [N], class names).
    """
    files = list_image_files(directory)[: limit if limit is not None else None]
    if not files:
        raise DatasetNotFoundError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under {directory}")
    keys = [f.relative_to(directory).parts[0] if len(f.relative_to(directory).parts) > 1 else "." for f in files]
    classes = sorted(set(keys))
    index = {c: i for i, c in enumerate(classes)}
    arrays = []
    for f in tqdm(files, desc=f"images in {directory.name}", disable=not progress):
        with Image.open(f) as img:
            arrays.append(crop_subsample(img, grayscale=grayscale))
    stacked = np.stack(arrays)
    images = torch.from_numpy(stacked[:, None] if grayscale else stacked.transpose(0, 3, 1, 2).copy())
    labels = torch.tensor([index[k] for k in keys], dtype=torch.long)
    return images.contiguous(), labels, classes
