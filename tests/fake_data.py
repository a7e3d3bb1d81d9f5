"""Write small fake data-set roots in each data set's REAL on-disk format (for offline tests).

- CIFAR-10: ``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``; CIFAR-100:
  ``<root>/cifar-100-python/{train, test, meta}``. Pickle protocol 2 dicts whose keys are
  Python-2 ``str`` objects (SHORT_BINSTRING opcodes), as in the published archives: they load as
  ``"data"`` with ``encoding="latin1"`` (torchvision) and as ``b"data"`` with
  ``encoding="bytes"`` (the CIFAR web page's recipe). ``data`` is uint8 [n, 3072] (1024 red,
  1024 green, 1024 blue values, rows of 32), labels a list of ints.
  Their md5 differs from the published files, so load them with ``verify_checksums=False``.
- MNIST / Fashion-MNIST: idx files (big-endian header, magic 0x00000803 / 0x00000801), ``.gz``
  or uncompressed, in torchvision's ``<root>/<Class>/raw/`` layout or a flat folder.

Every writer returns the arrays it wrote so tests can compare pixel values and labels exactly.
Import from tests as ``from fake_data import ...`` (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B, np.dtype(np.int32): 0x0C}


class Py2Str(bytes):
    """A byte string pickled as a Python-2 ``str`` (how the published CIFAR pickles store text)."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler lets us add an opcode writer
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2str(self, obj: Py2Str) -> None:
        raw = bytes(obj)
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[Py2Str] = save_py2str


def py2_pickle(obj, path: Path) -> None:
    """Pickle ``obj`` (protocol 2) to ``path``; :class:`Py2Str` values become Python-2 strings."""
    with open(path, "wb") as f:
        _Py2Pickler(f, protocol=2).dump(obj)


def _s(text: str) -> Py2Str:
    return Py2Str(text.encode("latin1"))


def _cifar_images(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)


def write_cifar10_root(root: Path, per_batch: int = 4, n_test: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a fake CIFAR-10 root (5 training batches of ``per_batch`` images, one test batch).

    Returns:
        {"train_images", "test_images": uint8 [n, 3, 32, 32] (CHW), "train_labels",
        "test_labels": int64 [n]} in file order.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    out = {"train_images": [], "train_labels": []}
    for b in range(1, 6):
        images, labels = _cifar_images(rng, per_batch), rng.integers(0, 10, per_batch)
        out["train_images"].append(images)
        out["train_labels"].append(labels)
        py2_pickle(
            {
                _s("batch_label"): _s(f"training batch {b} of 5"),
                _s("labels"): [int(v) for v in labels],
                _s("data"): images.reshape(per_batch, 3072),
                _s("filenames"): [_s(f"img_{b}_{i}.png") for i in range(per_batch)],
            },
            folder / f"data_batch_{b}",
        )
    test_images, test_labels = _cifar_images(rng, n_test), rng.integers(0, 10, n_test)
    py2_pickle(
        {
            _s("batch_label"): _s("testing batch 1 of 1"),
            _s("labels"): [int(v) for v in test_labels],
            _s("data"): test_images.reshape(n_test, 3072),
            _s("filenames"): [_s(f"test_{i}.png") for i in range(n_test)],
        },
        folder / "test_batch",
    )
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    py2_pickle(
        {_s("num_cases_per_batch"): per_batch, _s("label_names"): [_s(n) for n in names], _s("num_vis"): 3072},
        folder / "batches.meta",
    )
    return {
        "train_images": np.concatenate(out["train_images"]),
        "train_labels": np.concatenate(out["train_labels"]).astype(np.int64),
        "test_images": test_images,
        "test_labels": test_labels.astype(np.int64),
    }


def write_cifar100_root(root: Path, n_train: int = 12, n_test: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a fake CIFAR-100 root (``train``, ``test``, ``meta``); labels are the fine labels."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, fine = _cifar_images(rng, n), rng.integers(0, 100, n)
        py2_pickle(
            {
                _s("filenames"): [_s(f"{split}_{i}.png") for i in range(n)],
                _s("batch_label"): _s(f"{split}ing batch 1 of 1"),
                _s("fine_labels"): [int(v) for v in fine],
                _s("coarse_labels"): [int(v) // 5 for v in fine],
                _s("data"): images.reshape(n, 3072),
            },
            folder / split,
        )
        out[f"{split}_images"], out[f"{split}_labels"] = images, fine.astype(np.int64)
    py2_pickle(
        {
            _s("fine_label_names"): [_s(f"fine_{i}") for i in range(100)],
            _s("coarse_label_names"): [_s(f"coarse_{i}") for i in range(20)],
        },
        folder / "meta",
    )
    return out


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """Write ``array`` as an idx file (``path + '.gz'`` gzip-compressed when ``compress``)."""
    array = np.asarray(array)
    header = bytes([0, 0, _IDX_CODES[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path = Path(path)
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def write_mnist_files(
    folder: Path, n_train: int = 7, n_test: int = 3, compress: bool = True, seed: int = 0
) -> dict[str, np.ndarray]:
    """Write the four MNIST-format idx files (28 x 28 uint8 images, labels 0..9) into ``folder``.

    Returns:
        {"train_images": uint8 [n, 28, 28], "train_labels": int64 [n], "test_images", "test_labels"}.
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        write_idx(folder / IDX_NAMES[split][0], images, compress)
        write_idx(folder / IDX_NAMES[split][1], labels, compress)
        out[f"{split}_images"], out[f"{split}_labels"] = images, labels.astype(np.int64)
    return out


def write_mnist_root(
    root: Path, name: str = "mnist", layout: str = "torchvision", compress: bool = False, **kwargs
) -> dict[str, np.ndarray]:
    """A fake MNIST (``name="mnist"``) or Fashion-MNIST (``"fashion_mnist"``) root.

    ``layout="torchvision"`` writes ``<root>/MNIST/raw/`` (or ``FashionMNIST/raw/``); ``"flat"``
    writes the files directly into ``root`` (like ``/usr/share/datasets/fashion-mnist``).
    torchvision's class reads the uncompressed raw layout; pixsim's idx reader the rest.
    """
    if layout == "torchvision":
        folder = Path(root) / {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}[name] / "raw"
    elif layout == "flat":
        folder = Path(root)
    else:
        raise ValueError(f"layout must be 'torchvision' or 'flat', got {layout!r}")
    return write_mnist_files(folder, compress=compress, **kwargs)
