"""Every file-based dataset format, from small files the tests write themselves."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from muaudit.data import get_dataset
from muaudit.errors import BadInputError

RNG = np.random.default_rng(0)


def write_cifar(folder: Path, names: list[str], label_key: bytes, n: int = 4) -> None:
    folder.mkdir(parents=True)
    for name in names:
        batch = {b"data": RNG.integers(0, 256, (n, 3072), dtype=np.uint8), label_key: list(range(n)),
                 b"batch_label": b"x"}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))


def test_cifar10_pools_the_six_batches(tmp_path: Path):
    write_cifar(tmp_path / "cifar-10-batches-py", [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"],
                b"labels")
    ds = get_dataset("cifar10", str(tmp_path))  # the parent folder is accepted too
    assert ds.x.shape == (24, 3, 32, 32) and ds.x.max() <= 1.0 and ds.num_classes == 10
    assert ds.sample_ids[0] == "cifar10-data_batch_1-00000" and ds.sample_ids[-1] == "cifar10-test_batch-00003"


def test_cifar100_uses_fine_labels(tmp_path: Path):
    write_cifar(tmp_path / "c", ["train", "test"], b"fine_labels", n=3)
    ds = get_dataset("cifar100", str(tmp_path / "c"))
    assert ds.x.shape == (6, 3, 32, 32) and ds.num_classes == 100 and ds.y.tolist() == [0, 1, 2, 0, 1, 2]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar_pickle_that_would_run_code_is_refused(tmp_path: Path):
    write_cifar(tmp_path / "c", ["train"], b"fine_labels")
    (tmp_path / "c" / "test").write_bytes(pickle.dumps({b"data": _Evil()}, protocol=2))
    with pytest.raises(BadInputError, match=r"test: not a CIFAR python batch .*refused global"):
        get_dataset("cifar100", str(tmp_path / "c"))


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    raw = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.mark.parametrize("name,gz", [("mnist", True), ("fashion_mnist", False)])
def test_idx_datasets_gz_or_raw(tmp_path: Path, name: str, gz: bool):
    suffix = ".gz" if gz else ""
    for part, n in (("train", 5), ("t10k", 3)):
        write_idx(tmp_path / f"{part}-images-idx3-ubyte{suffix}", RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8), gz)
        write_idx(tmp_path / f"{part}-labels-idx1-ubyte{suffix}", np.arange(n, dtype=np.uint8), gz)
    ds = get_dataset(name, str(tmp_path))
    assert ds.x.shape == (8, 1, 28, 28) and ds.y.tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert ds.sample_ids[5] == f"{name}-t10k-00000"


def test_idx_truncated_file_is_one_line_error(tmp_path: Path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 4, 4), np.uint8), False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes((tmp_path / "train-images-idx3-ubyte").read_bytes()[:-3])
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2, np.uint8), False)
    with pytest.raises(BadInputError, match="IDX header says"):
        get_dataset("mnist", str(tmp_path))


def test_image_folder_one_subfolder_per_class(tmp_path: Path):
    from PIL import Image

    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray(RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(tmp_path / c / f"{i}.png")
    ds = get_dataset("image_folder", str(tmp_path))
    assert ds.x.shape == (6, 3, 6, 5) and ds.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.sample_ids[3] == "dog/0.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "dog" / "9.png")
    with pytest.raises(BadInputError, match=r"9.png: image size \(4, 4\) differs"):
        get_dataset("image_folder", str(tmp_path))


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_tabular_label_and_id_columns(tmp_path: Path, suffix: str):
    table = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [5, 5, 5, 5], "kind": ["x", "y", "x", "y"],
                          "uid": ["u1", "u2", "u3", "u4"]})
    path = tmp_path / f"t.{suffix}"
    table.to_csv(path, index=False) if suffix == "csv" else table.to_parquet(path)
    ds = get_dataset("tabular", str(path), label_column="kind", id_column="uid")
    assert ds.x.shape == (4, 2) and ds.y.tolist() == [0, 1, 0, 1] and ds.sample_ids.tolist() == ["u1", "u2", "u3", "u4"]
    assert np.allclose(ds.x[:, 0].mean(), 0) and (ds.x[:, 1] == 0).all()  # standardised; constant column is 0
    with pytest.raises(BadInputError, match="data.label_column: column 'label' not in"):
        get_dataset("tabular", str(path))
    with pytest.raises(BadInputError, match="non-numeric columns uid"):
        get_dataset("tabular", str(path), label_column="kind")


def test_npz_and_pickled_npz_refused(tmp_path: Path):
    np.savez(tmp_path / "d.npz", x=np.ones((4, 2, 3)), y=np.array([0, 1, 2, 1]), ids=np.array(["a", "b", "c", "d"]))
    ds = get_dataset("npz", str(tmp_path / "d.npz"))
    assert ds.x.dtype == np.float32 and ds.num_classes == 3 and ds.sample_ids.tolist() == ["a", "b", "c", "d"]
    np.savez(tmp_path / "p.npz", x=np.ones((2, 2)), y=np.array([{"a": 1}, {"b": 2}], dtype=object))
    with pytest.raises(BadInputError, match="not a readable .npz without pickles"):
        get_dataset("npz", str(tmp_path / "p.npz"))


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "mnist", "fashion_mnist", "image_folder", "tabular", "npz"])
def test_missing_path_says_what_to_put_where(tmp_path: Path, name: str):
    with pytest.raises(BadInputError, match=r"^data.path: .*does not exist; put .* there \(muaudit never downloads"):
        get_dataset(name, str(tmp_path / "nowhere"))
    with pytest.raises(BadInputError, match=rf"^data.path: missing for dataset '{name}'; set it to"):
        get_dataset(name, None)


def test_wine_ships_with_scikit_learn():
    ds = get_dataset("wine")
    assert ds.x.shape == (178, 13) and ds.num_classes == 3
