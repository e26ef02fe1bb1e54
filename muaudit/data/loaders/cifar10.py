"""CIFAR-10 from a local `cifar-10-batches-py` folder (the official python version; never downloaded).

The official train and test batches are pooled; the audit draws its own stratified test split.
"""

import numpy as np

from muaudit.data.files import find_file, load_cifar_batch, require_path
from muaudit.data.registry import Dataset, register_dataset

EXPECTED = "the cifar-10-batches-py folder (data_batch_1..5, test_batch) from cs.toronto.edu/~kriz/cifar.html"
BATCHES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")


def cifar_arrays(batches: list[dict], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([np.asarray(b[b"data"], dtype=np.uint8) for b in batches])
    y = np.concatenate([np.asarray(b[label_key], dtype=np.int64) for b in batches])
    return (x.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0), y


@register_dataset("cifar10")
def cifar10(path: str | None = None) -> Dataset:
    folder = require_path(path, "cifar10", EXPECTED)
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    files = [find_file(folder, (name,), EXPECTED) for name in BATCHES]
    batches = [load_cifar_batch(f) for f in files]
    x, y = cifar_arrays(batches, b"labels")
    ids = np.array([f"cifar10-{f.name}-{i:05d}" for f, b in zip(files, batches, strict=True)
                    for i in range(len(b[b"labels"]))])
    return Dataset(name="cifar10", x=x, y=y, sample_ids=ids, num_classes=10)
