"""Checks of params.yaml that need the dataset or the model, run by `muaudit run` before any stage.

config.py checks the file's shape and ranges alone. Whether the forget classes exist, the forget and
retain sets are non-empty, and the extract layers exist depends on the dataset and the model, so it is
checked here on the real labels and a freshly built model (both cheap), not first in a stage hours in.
"""

from __future__ import annotations

from pathlib import Path

from muaudit.config import Params
from muaudit.errors import BadInputError


def validate_inputs(params: Params) -> None:
    """Raise BadInputError (one line naming the key or file) if the audit cannot run on these params."""
    from muaudit.data import get_dataset, make_roles
    from muaudit.extraction import resolve_layers
    from muaudit.models import build_model

    if params.data.path is not None and not Path(params.data.path).exists():
        raise BadInputError(f"data.path: {params.data.path}: missing; expected the dataset file or folder")
    dataset = get_dataset(params.data.name, params.data.path)
    # The split stage's own role assignment: it rejects unknown forget classes and empty forget/retain sets.
    make_roles(dataset.y, params.split.scenario, params.split.forget_fraction, params.split.forget_classes,
               params.data.test_fraction, params.split.seed)
    model = build_model(params.model.name, dataset.x.shape[1:], dataset.num_classes)
    resolve_layers(model, params.extract.layers)
