"""Method registry: @register_method on a function (ctx, params) -> nn.Module in its own module."""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError
from torch import nn

from muaudit.errors import BadInputError
from muaudit.methods.base import MethodParams, UnlearnContext

SCENARIOS = ("random", "class")


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fn: Callable[[UnlearnContext, MethodParams], nn.Module]
    params: type[MethodParams]
    description: str
    scenarios: tuple[str, ...] = SCENARIOS
    reference: str = ""
    control: bool = False  # an instrument check with a known expected verdict, not an unlearning method

    def parse_params(self, block: dict, key: str) -> MethodParams:
        if not isinstance(block, dict):
            raise BadInputError(f"{key}: expected a mapping of hyperparameters, got {block!r}")
        try:
            return self.params.model_validate(block)
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            if first["type"] == "extra_forbidden":
                known = list(self.params.model_fields)
                close = difflib.get_close_matches(field, known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise BadInputError(f"{key}.{field}: unknown key{hint}; expected one of {', '.join(known)}") from None
            raise BadInputError(f"{key}.{field}: {first['msg']} (got {first.get('input')!r})") from None


_METHODS: dict[str, MethodSpec] = {}


def register_method(
    name: str,
    params: type[MethodParams],
    description: str,
    scenarios: tuple[str, ...] = SCENARIOS,
    reference: str = "",
    control: bool = False,
):
    def wrap(fn):
        _METHODS[name] = MethodSpec(name, fn, params, description, tuple(scenarios), reference, control)
        return fn

    return wrap


def _load_builtin() -> None:
    import muaudit.methods.suite as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{mod.name}")


def names() -> list[str]:
    _load_builtin()
    return sorted(_METHODS)


def get(name: str) -> MethodSpec:
    _load_builtin()
    if name not in _METHODS:
        close = difflib.get_close_matches(name, list(_METHODS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise BadInputError(f"unlearn.methods: unknown method '{name}'{hint}; expected one of {', '.join(sorted(_METHODS))}")
    return _METHODS[name]
