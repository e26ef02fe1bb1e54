"""Validate one params block against its pydantic model, with the project's one-line error."""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ValidationError

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
