"""A NumPy .npz with arrays `x` (N, ...) and `y` (N,) integer labels, optionally `ids` (N,) strings and
`num_classes` (a scalar: the declared classes are 0..num_classes-1; default: the largest label + 1).

Loaded with allow_pickle=False: object arrays would be pickles, which can run code. x is used as given.
"""

import numpy as np

from muaudit.data.checks import require_numeric
from muaudit.data.files import require_path
from muaudit.data.registry import Dataset, register_dataset
from muaudit.errors import BadInputError

EXPECTED = "a .npz file with arrays x (N, ...) and y (N,) of integer labels, optionally ids (N,) and num_classes"


@register_dataset("npz")
def npz(path: str | None = None) -> Dataset:
    file = require_path(path, "npz", EXPECTED)
    source = f"data.path: {file}"
    try:
        with np.load(file, allow_pickle=False) as arrays:
            missing = [k for k in ("x", "y") if k not in arrays.files]
            if missing:
                raise BadInputError(f"{source} lacks array(s) {', '.join(missing)}; expected {EXPECTED}")
            x, y = arrays["x"], arrays["y"]
            ids = arrays["ids"].astype(str) if "ids" in arrays.files else np.array([f"npz-{i:06d}" for i in range(len(y))])
            declared = arrays["num_classes"] if "num_classes" in arrays.files else None
    except (ValueError, OSError) as err:
        raise BadInputError(f"{source} is not a readable .npz without pickles ({err})") from None
    require_numeric(x, "array x", source)
    require_numeric(y, "array y", source)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise BadInputError(f"{source}: array y has shape {y.shape} and dtype {y.dtype.name}; "
                            "expected a 1-d array of integer labels")
    if declared is not None and (declared.shape != () or declared.dtype.kind not in "iu" or int(declared) < 2):
        raise BadInputError(f"{source}: num_classes is {declared!r}; expected one integer of at least 2")
    num_classes = int(declared) if declared is not None else int(y.max(initial=-1)) + 1
    return Dataset(name="npz", x=x.astype(np.float32), y=y.astype(np.int64), sample_ids=ids, num_classes=num_classes)
