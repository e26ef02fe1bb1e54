"""Random labels (RL): per epoch, a pass on forget samples with random labels, then a pass on retain.

Reference code: OPTML-Group/Unlearn-Saliency: Classification/unlearn/RL.py (`RL`, its CIFAR-10/SVHN
branch): each forget batch gets labels drawn uniformly from all classes (the true one included), then a
pass over retain; the loop of Classification/unlearn/impl.py: SGD, momentum 0.9, weight decay 5e-4.
"""

import torch
from pydantic import Field
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext, descend
from muaudit.methods.common import sgd
from muaudit.methods.registry import register_method
from muaudit.training import batches
from muaudit.tuning import Range


class Params(MethodParams):
    lr: float = Field(0.003, gt=0)  # SGD learning rate
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)  # the reference loop's (OPTML unlearn/impl.py)
    epochs: int = Field(5, ge=1)
    batch_size: int = Field(64, ge=1)


# tune@<method> searches these (docs/tuning.md); params.yaml narrows or fixes them: unlearn.<method>.search
SEARCH = {"lr": Range(1e-3, 0.1, log=True), "epochs": Range(1, 6)}


@register_method(
    "random_labels",
    params=Params,
    description="Train on forget samples with uniformly random labels, alternating with retain passes.",
    reference="OPTML-Group/Unlearn-Saliency: Classification/unlearn/RL.py",
    search=SEARCH,
)
def random_labels(ctx: UnlearnContext, p: Params):
    model = ctx.model.train()
    optimizer = sgd(model, p.lr, p.momentum, p.weight_decay)
    generator = ctx.generator()
    loop = ctx.epochs(p.epochs, model=model, optimizer=optimizer, generator=generator)
    for _ in loop:
        for x, y in ((ctx.x_forget, None), (ctx.x_retain, ctx.y_retain)):
            for idx in batches(len(x), p.batch_size, generator, device=ctx.device):
                # random labels are drawn on the CPU (from the batch-order generator), then moved
                target = (torch.randint(0, ctx.num_classes, (len(idx),), generator=generator).to(ctx.device)
                          if y is None else y[idx])
                loss = F.cross_entropy(model(x[idx]), target)
                descend(optimizer, loss, "random_labels")
                loop.add(loss)
    return model.eval()
