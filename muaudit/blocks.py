"""Params blocks shared by the config and the registries, below both: the strict block base, the training
recipe, the supplied-files rule, and the validation of one block with the project's one-line error.

muaudit.config composes these into Params and imports the method and metric registries to check their
blocks; the registries' modules import from here, never from muaudit.config, so there is no import cycle."""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from muaudit.errors import BadInputError


def validate_block(model: type[BaseModel], block: object, key: str, what: str) -> BaseModel:
    """model.model_validate(block), or BadInputError naming `key.<field>` (did-you-mean for unknown keys)."""
    if not isinstance(block, dict):
        raise BadInputError(f"{key}: expected a mapping of {what}, got {block!r}")
    try:
        return model.model_validate(block)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        known = list(model.model_fields)
        if first["type"] == "extra_forbidden":
            close = difflib.get_close_matches(field, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise BadInputError(f"{key}.{field}: unknown key{hint}; expected one of {', '.join(known) or 'none'}") from None
        raise BadInputError(f"{key}.{field}: {first['msg']} (got {first.get('input')!r})") from None


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainParams(Block):
    seed: int = 0
    epochs: int = Field(30, ge=1)
    lr: float = Field(1e-3, gt=0)  # Adam learning rate
    batch_size: int = Field(64, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    weights: str | None = None  # a supplied original (safetensors under supplied/original/): not trained


SUPPLIED = Path("supplied")  # the one folder whose subfolders dvc.yaml tracks as inputs given by the user


def supplied_problem(path: str | None, sub: str) -> str | None:
    """User files must lie under supplied/<sub>/ in the workspace: that folder is a DVC dependency, so
    changing the file reruns the stages that read it (a path elsewhere would change unseen)."""
    if path is None:
        return None
    p = Path(path)
    if p.is_absolute() or ".." in p.parts or p.parts[:2] != (SUPPLIED.name, sub) or len(p.parts) < 3:
        return f"'{path}' must be a relative path under {SUPPLIED / sub}/ (a DVC dependency)"
    return None
