"""scikit-learn's wine: 178 samples, 13 chemical features, 3 cultivars; shipped with the package.

A real non-image dataset for the tabular path (model: mlp); features are standardised per column.
"""

import numpy as np
from sklearn.datasets import load_wine

from muaudit.data.files import standardize
from muaudit.data.registry import Dataset, register_dataset


@register_dataset("wine")
def wine(path: str | None = None) -> Dataset:
    bunch = load_wine()
    y = bunch.target.astype(np.int64)
    ids = np.array([f"wine-{i:04d}" for i in range(len(y))])
    return Dataset(name="wine", x=standardize(bunch.data.astype(np.float32)), y=y, sample_ids=ids, num_classes=3)
