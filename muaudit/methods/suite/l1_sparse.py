"""l1-sparse: fine-tune on retain with an l1 penalty on all weights whose weight decays linearly to 0.

Sparsity makes the model forget more of what only the forget set supported (Jia et al.); the decaying
schedule lets the last epochs recover retain accuracy without the penalty.

Reference code: OPTML-Group/Unlearn-Sparse: unlearn/FT.py (`FT_l1`: `FT_iter` with `with_l1=True`;
gamma_t = alpha * (1 - epoch / (epochs - no_l1_epochs)), no_l1_epochs 0 by default), in the loop of
unlearn/impl.py: SGD, momentum 0.9, weight decay 5e-4, constant lr. The l1 term is the norm of all
parameters, biases included, as the reference's `l1_regularization`.
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
    gamma: float = Field(2e-3, ge=0)  # initial l1 weight; gamma_t = gamma * (1 - t / epochs), t = epoch index
    epochs: int = Field(10, ge=1)  # passes over the retain set
    batch_size: int = Field(64, ge=1)


# tune@<method> searches these (docs/tuning.md); params.yaml narrows or fixes them: unlearn.<method>.search
SEARCH = {"lr": Range(1e-3, 0.2, log=True), "gamma": Range(1e-4, 1e-2, log=True), "epochs": Range(2, 10)}


@register_method(
    "l1_sparse",
    params=Params,
    description="Fine-tune on retain with CE + gamma_t*||theta||_1, gamma_t decaying linearly to 0.",
    reference="Jia et al. 2023, arXiv 2304.04934; OPTML-Group/Unlearn-Sparse: unlearn/FT.py",
    search=SEARCH,
)
def l1_sparse(ctx: UnlearnContext, p: Params):
    model = ctx.model.train()
    optimizer = sgd(model, p.lr, p.momentum, p.weight_decay)
    generator = ctx.generator()
    loop = ctx.epochs(p.epochs, model=model, optimizer=optimizer, generator=generator)
    for epoch in loop:
        gamma_t = p.gamma * (1 - epoch / p.epochs)
        for idx in batches(len(ctx.x_retain), p.batch_size, generator, device=ctx.device):
            l1 = sum(w.abs().sum() for w in model.parameters())
            loss = F.cross_entropy(model(ctx.x_retain[idx]), ctx.y_retain[idx]) + gamma_t * l1
            descend(optimizer, loss, "l1_sparse")
            loop.add(loss)
    return model.eval()
