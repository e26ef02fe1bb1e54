"""Checks of params.yaml and the data that need the dataset or the model, run by `muaudit run` before any stage.

config.py checks the file's shape and ranges alone. Whether the data can be audited (muaudit.data.checks:
finite features, labels within the declared classes, unique ids, every class in retain and test, a forget
set large enough for the configured metrics) and whether the model takes the samples and has the extract
layers depends on the dataset and the model, so it is checked here on the real data and a freshly built
model (both cheap), not first in a stage hours in. The split stage runs the same data checks itself, so a
bare `dvc repro` refuses bad data too.
"""

from __future__ import annotations

from pathlib import Path

from muaudit.config import Params
from muaudit.errors import BadInputError


def validate_inputs(params: Params) -> None:
    """Raise BadInputError (one line naming the key, file, sample or column) if the audit cannot run."""
    import numpy as np

    from muaudit.data import get_dataset, make_roles
    from muaudit.data.checks import check_forget_size, check_model_input, source_of
    from muaudit.data.split import requested_ids
    from muaudit.extraction import resolve_layers
    from muaudit.metrics.registry import forget_minimum
    from muaudit.models import build_model

    data, split = params.data, params.split
    if data.path is not None and not Path(data.path).exists():
        raise BadInputError(f"data.path: {data.path}: missing; expected the dataset file or folder")
    dataset = get_dataset(data.name, data.path, label_column=data.label_column, id_column=data.id_column)
    # The split stage's own role assignment and checks.
    roles = make_roles(dataset.y, split.scenario, split.forget_fraction, split.forget_classes, data.test_fraction,
                       split.seed, dataset.sample_ids, requested_ids(split.forget_ids, split.forget_ids_file),
                       dataset.num_classes)
    n_forget = int(np.sum(roles == "forget"))
    n_forget -= int(round(split.tune_fraction * n_forget))  # the tuning split is never measured
    if params.extract.max_samples_per_role is not None:  # the metrics see the capped forget set
        n_forget = min(n_forget, params.extract.max_samples_per_role)
    check_forget_size(n_forget, forget_minimum(params.metrics.parsed(), split.scenario))

    def build():
        return build_model(params.model.name, dataset.x.shape[1:], dataset.num_classes, **params.model.kwargs)

    check_model_input(build, dataset.x, dataset.num_classes, params.model.name, source_of(data.name, data.path))
    resolve_layers(build(), params.extract.layers)
    modules = dict(build().named_modules())
    for name in params.unlearn.methods:  # a method naming a layer (None: the model's penultimate one)
        layer = getattr(params.unlearn.method_params(name), "layer", None)
        if isinstance(layer, str) and layer not in modules:
            raise BadInputError(f"unlearn.{name}.layer: unknown layer '{layer}' for {params.model.name}; expected "
                                f"one of {', '.join(n for n in modules if n)}, or null for the penultimate layer")
