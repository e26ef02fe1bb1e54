"""Method registry: @register_method on a function (ctx, params) -> nn.Module in its own module.

Users add methods from their own package without editing muaudit: a params block with a `target`,
e.g. `unlearn.my_method: {target: "my_pkg.unlearn:my_method", lr: 0.01}`, is resolved by import. The
attr is a MethodSpec (its Params check the other keys) or a function (ctx, params_dict) -> nn.Module.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pydantic import ConfigDict
from torch import nn

from muaudit.blocks import validate_block
from muaudit.errors import BadInputError
from muaudit.methods.base import MethodParams, UnlearnContext
from muaudit.tuning import Range

SCENARIOS = ("random", "class")
TARGET_KEY = "target"  # in a params block: "module:attr" of a user method
SEARCH_KEY = "search"  # in a params block: narrows or fixes the declared search space (muaudit.tuning)


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fn: Callable[[UnlearnContext, MethodParams], nn.Module]
    params: type[MethodParams]
    description: str
    scenarios: tuple[str, ...] = SCENARIOS
    reference: str = ""
    control: bool = False  # an instrument check with a known expected verdict, not an unlearning method
    search: dict[str, Range] = field(default_factory=dict)  # tunable keys and their ranges (muaudit.tuning)

    def int_keys(self) -> set[str]:
        return {k for k, f in self.params.model_fields.items() if f.annotation is int}

    def parse_params(self, block: dict, key: str) -> MethodParams:
        return validate_block(self.params, block, key, "hyperparameters")


_METHODS: dict[str, MethodSpec] = {}


def register_method(
    name: str,
    params: type[MethodParams],
    description: str,
    scenarios: tuple[str, ...] = SCENARIOS,
    reference: str = "",
    control: bool = False,
    search: dict[str, Range] | None = None,
):
    def wrap(fn):
        _METHODS[name] = MethodSpec(name, fn, params, description, tuple(scenarios), reference, control,
                                    dict(search or {}))
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


def describe() -> list[dict]:
    """One entry per built-in method, for `muaudit methods`: name, description, scenarios, reference and
    hyperparameters with their defaults."""
    return [
        {
            "name": spec.name,
            "description": spec.description,
            "scenarios": list(spec.scenarios),
            "reference": spec.reference,
            "hyperparameters": {k: f.default for k, f in spec.params.model_fields.items()},
        }
        for spec in (get(n) for n in names())
    ]


class UserParams(MethodParams):
    """Params of a user function method: any keys, handed to the function as a dict."""

    model_config = ConfigDict(extra="allow", frozen=True)


def is_user_block(block) -> bool:
    return isinstance(block, dict) and TARGET_KEY in block


def resolve(name: str, block: dict | None = None) -> MethodSpec:
    """The spec for `name`: imported from the block's `target` when it has one, else the registered method."""
    if not is_user_block(block):
        return get(name)
    key = f"unlearn.{name}.{TARGET_KEY}"
    if name in names():
        raise BadInputError(f"{key}: '{name}' is a built-in method; give your method another name")
    target = block[TARGET_KEY]
    if not isinstance(target, str) or target.count(":") != 1:
        raise BadInputError(f"{key}: expected 'module:attr', got {target!r}")
    module_name, attr = target.split(":")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as err:
        raise BadInputError(f"{key}: cannot import module '{module_name}' ({err})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise BadInputError(f"{key}: module '{module_name}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    if isinstance(obj, MethodSpec):
        return replace(obj, name=name, reference=obj.reference or target)
    if not callable(obj):
        raise BadInputError(f"{key}: '{target}' is neither a function nor a MethodSpec")
    doc = (obj.__doc__ or f"user method {target}").strip().splitlines()[0]
    return MethodSpec(name, _call_with_dict(obj), UserParams, doc, SCENARIOS, target)


def _call_with_dict(fn):
    def call(ctx: UnlearnContext, p: MethodParams) -> nn.Module:
        return fn(ctx, p.model_dump())

    return call


def parse(name: str, block: dict | None) -> tuple[MethodSpec, MethodParams]:
    """Resolve the method and check its block (`target` and `search` excluded) against its params."""
    spec = resolve(name, block)
    block = block or {}
    if isinstance(block, dict):
        block = {k: v for k, v in block.items() if k not in (TARGET_KEY, SEARCH_KEY)}
    return spec, spec.parse_params(block, key=f"unlearn.{name}")


def tuning_space(name: str, block: dict | None) -> tuple[dict[str, Range], dict, int | None]:
    """(ranges to search, fixed values, the method's own trial budget or None) for `name`: its declared
    search space narrowed or fixed by `unlearn.<name>.search`; every range end and fixed value is checked
    against the method's params."""
    from muaudit.tuning import TRIALS_KEY, space

    spec, base = parse(name, block)
    key = f"unlearn.{name}.{SEARCH_KEY}"
    override = (block or {}).get(SEARCH_KEY) if isinstance(block, dict) else None
    if override is not None and not isinstance(override, dict):
        raise BadInputError(f"{key}: expected a mapping of tunable keys, got {override!r}")
    override = dict(override or {})
    trials = override.pop(TRIALS_KEY, None)
    if trials is not None and (type(trials) is not int or trials < 1):
        raise BadInputError(f"{key}.{TRIALS_KEY}: expected a whole number of trials, 1 or more (got {trials!r})")
    ranges, fixed = space(spec.search, override, key, spec.int_keys())
    values = base.model_dump()
    for ends in ([r.low for r in ranges.values()], [r.high for r in ranges.values()]):
        setting = dict(zip(ranges, ends, strict=True))
        setting = {k: int(v) if k in spec.int_keys() else v for k, v in setting.items()}
        spec.parse_params({**values, **fixed, **setting}, key)
    return ranges, fixed, trials
