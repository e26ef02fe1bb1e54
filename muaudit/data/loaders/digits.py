"""scikit-learn's digits: 1,797 real 8x8 handwritten digits, 10 classes, shipped with the package."""

import numpy as np
from sklearn.datasets import load_digits

from muaudit.data.registry import Dataset, register_dataset

_PIXEL_MAX = 16.0  # digits pixels are integers 0..16


@register_dataset("digits")
def digits(path: str | None = None) -> Dataset:
    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / _PIXEL_MAX)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    ids = np.array([f"digits-{i:05d}" for i in range(len(y))])
    return Dataset(name="digits", x=x, y=y, sample_ids=ids, num_classes=10)
