"""A NumPy .npz with arrays `x` (N, ...) and `y` (N,) integer labels, and optionally `ids` (N,) strings.

Loaded with allow_pickle=False: object arrays would be pickles, which can run code. x is used as given.
"""

import numpy as np

from muaudit.data.files import require_path
from muaudit.data.registry import Dataset, register_dataset
from muaudit.errors import BadInputError

EXPECTED = "a .npz file with arrays x (N, ...) and y (N,) of integer labels, optionally ids (N,)"


@register_dataset("npz")
def npz(path: str | None = None) -> Dataset:
    file = require_path(path, "npz", EXPECTED)
    try:
        with np.load(file, allow_pickle=False) as arrays:
            missing = [k for k in ("x", "y") if k not in arrays.files]
            if missing:
                raise BadInputError(f"data.path: {file} lacks array(s) {', '.join(missing)}; expected {EXPECTED}")
            x, y = arrays["x"], arrays["y"]
            ids = arrays["ids"].astype(str) if "ids" in arrays.files else np.array([f"npz-{i:06d}" for i in range(len(y))])
    except (ValueError, OSError) as err:
        raise BadInputError(f"data.path: {file} is not a readable .npz without pickles ({err})") from None
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise BadInputError(f"data.path: {file}: y must be a 1-d array of non-negative integer labels")
    return Dataset(name="npz", x=x.astype(np.float32), y=y.astype(np.int64), sample_ids=ids,
                   num_classes=int(y.max()) + 1)
