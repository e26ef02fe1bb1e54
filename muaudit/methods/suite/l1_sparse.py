"""l1-sparse: fine-tune on retain with an l1 penalty on all weights whose weight decays linearly to 0.

Sparsity makes the model forget more of what only the forget set supported (Jia et al.); the decaying
schedule lets the last epochs recover retain accuracy without the penalty.
"""

from pydantic import Field
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext, descend
from muaudit.methods.common import sgd
from muaudit.methods.registry import register_method
from muaudit.training import batches


class Params(MethodParams):
    lr: float = Field(0.02, gt=0)  # SGD learning rate
    momentum: float = Field(0.9, ge=0, lt=1)
    gamma: float = Field(2e-3, ge=0)  # initial l1 weight; gamma_t = gamma * (1 - t / epochs), t = epoch index
    epochs: int = Field(10, ge=1)  # passes over the retain set
    batch_size: int = Field(64, ge=1)


@register_method(
    "l1_sparse",
    params=Params,
    description="Fine-tune on retain with CE + gamma_t*||theta||_1, gamma_t decaying linearly to 0.",
    reference="Jia et al. 2023, arXiv 2304.04934; OPTML-Group/Unlearn-Sparse FT_iter with_l1",
)
def l1_sparse(ctx: UnlearnContext, p: Params):
    model = ctx.model.train()
    optimizer = sgd(model, p.lr, p.momentum)
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
