"""MNIST from local IDX files (gzipped or raw); train and t10k are pooled, the audit draws its own test."""

import numpy as np

from muaudit.data.files import find_file, read_idx, require_path
from muaudit.data.registry import Dataset, register_dataset
from muaudit.errors import BadInputError

PARTS = ("train", "t10k")


def idx_dataset(name: str, path: str | None) -> Dataset:
    expected = f"a folder with the {name} IDX files train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], " \
               "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"
    folder = require_path(path, name, expected)
    xs, ys, ids = [], [], []
    for part in PARTS:
        images = read_idx(find_file(folder, (f"{part}-images-idx3-ubyte", f"{part}-images-idx3-ubyte.gz"), expected))
        labels = read_idx(find_file(folder, (f"{part}-labels-idx1-ubyte", f"{part}-labels-idx1-ubyte.gz"), expected))
        if len(images) != len(labels):
            raise BadInputError(f"data.path: {name} {part}: {len(images)} images but {len(labels)} labels")
        xs.append(images[:, None].astype(np.float32) / 255.0)
        ys.append(labels.astype(np.int64))
        ids += [f"{name}-{part}-{i:05d}" for i in range(len(labels))]
    return Dataset(name=name, x=np.concatenate(xs), y=np.concatenate(ys), sample_ids=np.array(ids), num_classes=10)


@register_dataset("mnist")
def mnist(path: str | None = None) -> Dataset:
    return idx_dataset("mnist", path)
