"""Model registry. A builder takes (input_shape, num_classes, **kwargs) and returns an nn.Module that:

- returns logits from forward(x);
- names its classifier head `head` (a Linear), so head-only controls and probes know where the body ends;
- lists the layers extracted by default in `default_layers` (module names from named_modules()).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable

from torch import nn

from muaudit.errors import BadInputError

Builder = Callable[..., nn.Module]
_BUILDERS: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    def wrap(fn: Builder) -> Builder:
        _BUILDERS[name] = fn
        return fn

    return wrap


def _load_builtin() -> None:
    import muaudit.models.zoo as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{mod.name}")


def model_names() -> list[str]:
    _load_builtin()
    return sorted(_BUILDERS)


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, **kwargs) -> nn.Module:
    _load_builtin()
    if name not in _BUILDERS:
        close = difflib.get_close_matches(name, list(_BUILDERS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise BadInputError(f"model.name: unknown model '{name}'{hint}; expected one of {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[name](input_shape=tuple(input_shape), num_classes=num_classes, **kwargs)
