"""Checks of the data itself, run by the split stage and by `muaudit run` before any stage trains.

Every failed check is one BadInputError line naming the file (or built-in dataset), the sample id, row or
column, and what was expected. The per-sample checks are one streaming pass over the features in chunks
of CHUNK_SAMPLES samples, so validating a large dataset costs a fraction of reading it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from muaudit.errors import BadInputError

CHUNK_SAMPLES = 4096  # samples per chunk of the finiteness pass: bounded extra memory for any dataset size
MIN_FORGET = 2  # no statistic of the audit is defined on one forget sample (a metric may ask for more)
READABLE_KINDS = "fiub"  # numpy kinds that convert to float32 without loss of meaning: float, int, uint, bool


def source_of(name: str, path: str | None) -> str:
    """How a message names the data: the file for file-based datasets, else the built-in dataset."""
    return f"data.path: {path}" if path else f"data.name: {name}"


def require_numeric(array: np.ndarray, what: str, source: str) -> np.ndarray:
    """Refuse an array whose dtype is not real numbers (strings, complex, records, objects)."""
    if array.dtype.kind not in READABLE_KINDS:
        raise BadInputError(f"{source}: {what} has dtype {array.dtype.str} ({array.dtype.name}); "
                            "expected real numbers (float, int or bool)")
    return array


def first_nonfinite(x: np.ndarray, chunk: int = CHUNK_SAMPLES) -> tuple[int, int] | None:
    """(sample, flat feature index) of the first NaN or inf in x, scanning chunk samples at a time."""
    if x.dtype.kind not in "fc":
        return None  # integers and booleans are always finite
    flat = x.reshape(len(x), -1)
    for start in range(0, len(flat), chunk):
        bad = ~np.isfinite(flat[start : start + chunk])
        if bad.any():
            row, col = np.argwhere(bad)[0]
            return start + int(row), int(col)
    return None


def check_finite(x: np.ndarray, sample_ids: np.ndarray, source: str,
                 feature_names: Sequence[str] | None = None) -> None:
    """Refuse NaN or inf features, naming the sample and the feature (column name, or position in x)."""
    found = first_nonfinite(x)
    if found is None:
        return
    i, j = found
    value = x.reshape(len(x), -1)[i, j]
    if feature_names is not None:
        where = f"column '{feature_names[j]}'"
    elif x.ndim > 2:
        where = f"feature {tuple(int(k) for k in np.unravel_index(j, x.shape[1:]))}"
    else:
        where = f"feature {j}"
    raise BadInputError(f"{source}: sample {sample_ids[i]}: {where} is {value}; expected finite numbers")


def check_labels(y: np.ndarray, num_classes: int, sample_ids: np.ndarray, source: str) -> None:
    """Labels are integers in 0..num_classes-1 (whether every class has samples is a question of the split)."""
    require_numeric(y, "the labels", source)
    if y.dtype.kind not in "iu":
        raise BadInputError(f"{source}: the labels have dtype {y.dtype.name}; expected integer class labels")
    outside = np.flatnonzero((y < 0) | (y >= num_classes))
    if len(outside):
        i = outside[0]
        raise BadInputError(f"{source}: sample {sample_ids[i]}: label {int(y[i])} is outside the declared classes; "
                            f"expected 0..{num_classes - 1} ({num_classes} classes)")


def check_ids(sample_ids: np.ndarray, source: str) -> None:
    """Sample ids are non-empty and unique: deletion requests and the lineage name samples by them."""
    ids = sample_ids.astype(str)
    empty = np.flatnonzero(np.char.strip(ids) == "")
    if len(empty):
        raise BadInputError(f"{source}: row {int(empty[0])} has an empty sample id; expected a unique id for every sample")
    order = np.argsort(ids, kind="stable")
    same = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if len(same):
        dup = ids[order][same[0]]
        rows = np.flatnonzero(ids == dup)
        raise BadInputError(f"{source}: sample id '{dup}' appears {len(rows)} times (rows "
                            f"{', '.join(map(str, rows[:5]))}); expected unique sample ids")


def check_samples(x: np.ndarray, y: np.ndarray, sample_ids: np.ndarray, num_classes: int, source: str) -> None:
    """Every per-sample check of a loaded dataset: feature dtype, finiteness, labels, ids."""
    if not (len(x) == len(y) == len(sample_ids)):
        raise BadInputError(f"{source}: {len(x)} samples, {len(y)} labels and {len(sample_ids)} ids; expected one each")
    if len(x) == 0:
        raise BadInputError(f"{source}: no samples; expected a dataset with samples of every class")
    require_numeric(x, "the features", source)
    check_ids(sample_ids, source)
    check_labels(y, num_classes, sample_ids, source)
    check_finite(x, sample_ids, source)


def check_roles(y: np.ndarray, roles: np.ndarray, num_classes: int, scenario: str, forget_classes: Sequence[int],
                test_fraction: float) -> None:
    """The split can audit: a forget set of at least MIN_FORGET samples, every kept class in retain (the
    retrained references must learn it) and every class in test (the held-out reference of every metric)."""
    n_forget = int((roles == "forget").sum())
    if n_forget == 0:
        raise BadInputError("split: the forget set is empty; raise split.forget_fraction or pick other classes")
    if n_forget < MIN_FORGET:
        raise BadInputError(f"split: the forget set has {n_forget} sample; expected at least {MIN_FORGET} "
                            "(no statistic is defined on one sample)")
    if not (roles == "retain").any():
        raise BadInputError("split: the retain set is empty; forget fewer samples or classes")
    forgotten = set(forget_classes) if scenario == "class" else set()
    for role, needed in (("retain", [c for c in range(num_classes) if c not in forgotten]),
                         ("test", list(range(num_classes)))):
        present = set(np.unique(y[roles == role]).tolist())
        missing = [c for c in needed if c not in present]
        if missing:
            total = int((y == missing[0]).sum())
            if total == 0:
                hint = "the dataset has no sample of it"
            elif role == "test":
                hint = f"it has {total} sample(s) and data.test_fraction is {test_fraction}"
            else:
                hint = f"all {total} of its sample(s) went to test or forget"
            raise BadInputError(f"split: class {missing[0]} has no sample in {role} ({hint}); expected every "
                                f"{'kept ' if role == 'retain' and forgotten else ''}class in {role}")


def check_forget_size(n_forget: int, minimum: tuple[int, str]) -> None:
    """Refuse a forget set smaller than what the configured metrics need (minimum: (count, who needs it))."""
    need, who = minimum
    if n_forget < need:
        raise BadInputError(f"split: the forget set has {n_forget} samples; {who} needs at least {need}")


def check_model_input(build: Callable, x: np.ndarray, num_classes: int, model_name: str, source: str) -> None:
    """Build the model for these samples and run the first one through it: a feature shape that the
    model cannot take fails here with one line, not inside a training stage."""
    import torch

    shape = tuple(x.shape[1:])
    try:
        model = build().eval()
        with torch.inference_mode():
            out = model(torch.from_numpy(np.ascontiguousarray(x[:1], dtype=np.float32)))
    except BadInputError:
        raise
    except Exception as err:
        why = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BadInputError(f"{source}: samples of shape {shape} do not fit model {model_name} ({why}); "
                            "expected an input shape the model accepts (see `muaudit layers`)") from None
    if tuple(out.shape) != (1, num_classes):
        raise BadInputError(f"{source}: model {model_name} gives outputs of shape {tuple(out.shape[1:])} for samples "
                            f"of shape {shape}; expected {num_classes} logits, one per class")
