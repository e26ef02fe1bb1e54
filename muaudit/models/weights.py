"""Weights in safetensors (never pickle) with a JSON sidecar; the model folder is replaced atomically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from muaudit.errors import BadInputError
from muaudit.io import atomic_dir, canonical_json, read_json, require_file

WEIGHTS = "model.safetensors"
SIDECAR = "model.json"


@dataclass
class StoredModel:
    """A model folder's content: the sidecar, and the network unless the stage recorded only an outcome
    (status `failed` or `skipped`, no weights)."""

    meta: dict
    net: nn.Module | None = None

    @property
    def ok(self) -> bool:
        return self.meta.get("status", "ok") == "ok"


def save_model(model: nn.Module, out_dir: str | Path, meta: dict) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # One folder swap: a reader never sees new weights with an old sidecar, or either without the other.
    with atomic_dir(out_dir) as tmp:
        save_file(state, str(tmp / WEIGHTS))
        (tmp / SIDECAR).write_text(canonical_json(meta))


def load_weights(model: nn.Module, weights_path: str | Path) -> nn.Module:
    """Load safetensors weights into model; anything else is refused, since pickles can execute code."""
    weights_path = require_file(weights_path, "a safetensors weights file")
    try:
        state = load_file(str(weights_path))
    except Exception as err:
        raise BadInputError(f"{weights_path}: not a safetensors file ({type(err).__name__}); pickled weights are refused") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise BadInputError(f"{weights_path}: weights do not match the model ({first})") from None
    return model


def load_model(model: nn.Module, model_dir: str | Path) -> tuple[nn.Module, dict]:
    model_dir = Path(model_dir)
    load_weights(model, model_dir / WEIGHTS)
    meta_path = model_dir / SIDECAR
    meta = read_json(meta_path, "the model sidecar") if meta_path.exists() else {}
    return model.eval(), meta
