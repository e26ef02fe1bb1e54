"""CIFAR-100 (fine labels) from a local `cifar-100-python` folder (the official python version)."""

import numpy as np

from muaudit.data.files import find_file, load_cifar_batch, require_path
from muaudit.data.loaders.cifar10 import cifar_arrays
from muaudit.data.registry import Dataset, register_dataset

EXPECTED = "the cifar-100-python folder (train, test) from cs.toronto.edu/~kriz/cifar.html"


@register_dataset("cifar100")
def cifar100(path: str | None = None) -> Dataset:
    folder = require_path(path, "cifar100", EXPECTED)
    if (folder / "cifar-100-python").is_dir():
        folder = folder / "cifar-100-python"
    files = [find_file(folder, (name,), EXPECTED) for name in ("train", "test")]
    batches = [load_cifar_batch(f) for f in files]
    x, y = cifar_arrays(batches, b"fine_labels")
    ids = np.array([f"cifar100-{f.name}-{i:05d}" for f, b in zip(files, batches, strict=True)
                    for i in range(len(b[b"fine_labels"]))])
    return Dataset(name="cifar100", x=x, y=y, sample_ids=ids, num_classes=100)
