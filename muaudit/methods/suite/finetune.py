"""Fine-tune on retain (FT): keep training on D_r only and let the forget set fade.

Reference code: OPTML-Group/Unlearn-Saliency: Classification/unlearn/FT.py (`FT`, `FT_iter`), run by the
loop of Classification/unlearn/impl.py: SGD, momentum 0.9, weight decay 5e-4, constant lr over a
10-epoch run (its milestones 91, 136 are never reached).
"""

from pydantic import Field
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext, descend
from muaudit.methods.common import sgd
from muaudit.methods.registry import register_method
from muaudit.training import batches
from muaudit.tuning import Range


class Params(MethodParams):
    lr: float = Field(0.05, gt=0)  # SGD learning rate
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)  # the reference loop's (OPTML unlearn/impl.py)
    epochs: int = Field(10, ge=1)  # passes over the retain set
    batch_size: int = Field(64, ge=1)


# tune@<method> searches these (docs/tuning.md); params.yaml narrows or fixes them: unlearn.<method>.search
SEARCH = {"lr": Range(1e-3, 0.2, log=True), "epochs": Range(2, 10)}


@register_method(
    "finetune",
    params=Params,
    description="Fine-tune on the retain set (SGD, cross-entropy).",
    reference="OPTML-Group/Unlearn-Saliency: Classification/unlearn/FT.py",
    search=SEARCH,
)
def finetune(ctx: UnlearnContext, p: Params):
    model = ctx.model.train()
    optimizer = sgd(model, p.lr, p.momentum, p.weight_decay)
    generator = ctx.generator()
    loop = ctx.epochs(p.epochs, model=model, optimizer=optimizer, generator=generator)
    for _ in loop:
        for idx in batches(len(ctx.x_retain), p.batch_size, generator, device=ctx.device):
            loss = F.cross_entropy(model(ctx.x_retain[idx]), ctx.y_retain[idx])
            descend(optimizer, loss, "finetune")
            loop.add(loss)
    return model.eval()
