"""Held-out retrain control: one more model retrained from scratch on retain, with a seed outside the band.

A negative control: it is correct forgetting by construction, so the audit must call it `consistent`.
It uses the retrain recipe (seeded init, Adam, seeded batch order); unlearn stages do not read the
`train` block, so the recipe is repeated here with the train block's defaults.

Reference code: none, a control of this project: the project's own retrain recipe (muaudit/training.py).
"""

from pydantic import Field

from muaudit.blocks import TrainParams
from muaudit.methods.base import MethodParams, UnlearnContext
from muaudit.methods.registry import register_method
from muaudit.training import seeded_model, train_classifier

_TRAIN = TrainParams()


class Params(MethodParams):
    seed: int = 11  # must not be one of retrain.seeds (checked in muaudit/config.py)
    epochs: int = Field(_TRAIN.epochs, ge=1)
    lr: float = Field(_TRAIN.lr, gt=0)  # Adam
    batch_size: int = Field(_TRAIN.batch_size, ge=1)
    weight_decay: float = Field(_TRAIN.weight_decay, ge=0)


@register_method(
    "heldout_retrain",
    params=Params,
    description="Control: retrain from scratch on retain with a seed not in the retrain band.",
    reference="negative control (issue 10)",
    control=True,
)
def heldout_retrain(ctx: UnlearnContext, p: Params):
    seed = p.seed + ctx.seed  # ctx.seed: 0 for the method's own run, the extra seed for unlearn_seed runs
    model = seeded_model(ctx.build_model, seed)
    return train_classifier(model, ctx.x_retain, ctx.y_retain, p.epochs, p.lr, p.batch_size, seed, p.weight_decay,
                            ctx.hooks)
