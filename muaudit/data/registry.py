"""Dataset registry: a loader is one function that returns a Dataset, registered by name."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from muaudit.errors import BadInputError


@dataclass(frozen=True)
class Dataset:
    """Samples as one float32 array (N, ...) with int64 labels and stable string ids."""

    name: str
    x: np.ndarray
    y: np.ndarray
    sample_ids: np.ndarray  # str, unique, stable across loads
    num_classes: int

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or len(self.y) != len(self.sample_ids):
            raise BadInputError(f"dataset {self.name}: x, y and sample ids differ in length")

    def content_hashes(self) -> np.ndarray:
        """Per-sample sha256 of the features and the label."""
        x = np.ascontiguousarray(self.x, dtype=np.float32)
        return np.array(
            [hashlib.sha256(x[i].tobytes() + int(self.y[i]).to_bytes(8, "little")).hexdigest() for i in range(len(x))]
        )


Loader = Callable[..., Dataset]
_LOADERS: dict[str, Loader] = {}


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    def wrap(fn: Loader) -> Loader:
        _LOADERS[name] = fn
        return fn

    return wrap


def _load_builtin_loaders() -> None:
    import muaudit.data.loaders as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{mod.name}")


def get_dataset(name: str, path: str | None = None, **options) -> Dataset:
    """Load a dataset and check every sample (muaudit.data.checks: dtype, finite features, labels within the
    declared classes, non-empty unique ids); options (data.label_column, ...) reach only the loaders
    that declare them."""
    from muaudit.data.checks import check_samples, source_of

    _load_builtin_loaders()
    if name not in _LOADERS:
        close = difflib.get_close_matches(name, list(_LOADERS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise BadInputError(f"data.name: unknown dataset '{name}'{hint}; expected one of {', '.join(sorted(_LOADERS))}")
    loader = _LOADERS[name]
    accepted = inspect.signature(loader).parameters
    dataset = loader(path=path, **{k: v for k, v in options.items() if k in accepted})
    check_samples(dataset.x, dataset.y, dataset.sample_ids, dataset.num_classes, source_of(name, path))
    return dataset
