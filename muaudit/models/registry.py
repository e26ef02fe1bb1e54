"""Model registry. A builder takes (input_shape, num_classes, **kwargs) and returns an nn.Module that:

- returns logits from forward(x);
- names its classifier head `head` (a Linear), so head-only controls and probes know where the body ends;
- lists the layers extracted by default in `default_layers` (module names from named_modules()), the
  penultimate one last: methods that name a layer default to it (`penultimate_layer`).
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
    """Build a registered model, or the user's builder named "module.path:function" (model.kwargs go to it)."""
    _load_builtin()
    builder = _user_builder(name) if ":" in name else _BUILDERS.get(name)
    if builder is None:
        close = difflib.get_close_matches(name, list(_BUILDERS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise BadInputError(f"model.name: unknown model '{name}'{hint}; expected one of {', '.join(sorted(_BUILDERS))}")
    try:
        model = builder(input_shape=tuple(input_shape), num_classes=num_classes, **kwargs)
    except TypeError as err:
        raise BadInputError(f"model.kwargs: {name} rejected {sorted(kwargs)} ({err})") from None
    if not isinstance(model, nn.Module):
        raise BadInputError(f"model.name: {name} returned {type(model).__name__}; expected a torch nn.Module")
    return model


def default_layers(name: str, input_shape: tuple[int, ...], num_classes: int, **kwargs) -> list[str]:
    """The model's `default_layers`, from a model built on the meta device (no weights are allocated)."""
    import torch

    with torch.device("meta"):
        model = build_model(name, input_shape, num_classes, **kwargs)
    return list(getattr(model, "default_layers", ()))


def _user_builder(name: str) -> Builder:
    # Imported from the workspace (stages run with it on sys.path), like any Python package the user installs.
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise BadInputError(f"model.name: cannot import module '{module_name}' ({err}); expected 'module.path:function'") from None
    builder = getattr(module, attr, None)
    if not callable(builder):
        raise BadInputError(f"model.name: '{module_name}' has no function '{attr}'; expected 'module.path:function'")
    return builder


def penultimate_layer(model: nn.Module) -> str:
    """The module whose output feeds the head: the last of the model's `default_layers`."""
    layers = getattr(model, "default_layers", ())
    if not layers:
        raise BadInputError(f"model.name: {type(model).__name__} lists no default_layers; name the layer in the "
                            "method's params (e.g. unlearn.representation_scrub.layer)")
    return layers[-1]
