"""Readers shared by the file-based loaders: the path check, a restricted unpickler and the IDX format.

Datasets are never downloaded at run time: a missing path is a one-line error saying what to put where.
"""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path

import numpy as np

from muaudit.errors import BadInputError


def require_path(path: str | None, dataset: str, expected: str) -> Path:
    if not path:
        raise BadInputError(f"data.path: missing for dataset '{dataset}'; set it to {expected}")
    p = Path(path)
    if not p.exists():
        raise BadInputError(f"data.path: {p} does not exist; put {expected} there (muaudit never downloads data)")
    return p


def standardize(x: np.ndarray) -> np.ndarray:
    """Z-score each feature column; constant columns become 0 (MLPs train badly on raw tabular scales)."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    return ((x - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


class _ArraysOnlyUnpickler(pickle.Unpickler):
    # A pickle can call any importable function while loading. The CIFAR batches hold only dicts, lists,
    # bytes, ints and numpy arrays, so everything else is refused: a tampered file cannot run code.
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes into protocol-2 pickles
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return super().find_class(module, name)


def load_cifar_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return _ArraysOnlyUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise BadInputError(f"{path}: not a CIFAR python batch ({err})") from None


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST format), gzipped or raw: big-endian dims after a magic of 0, 0, dtype, ndim."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise BadInputError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = raw[4 + 4 * ndim :]
    if len(body) != int(np.prod(dims)):
        raise BadInputError(f"{path}: IDX header says {dims} but the file holds {len(body)} bytes")
    return np.frombuffer(io.BytesIO(body).getbuffer(), dtype=np.uint8).reshape(dims)


def find_file(folder: Path, names: tuple[str, ...], expected: str) -> Path:
    for name in names:
        if (folder / name).exists():
            return folder / name
    raise BadInputError(f"data.path: {folder} has no {names[0]}; expected {expected}")
