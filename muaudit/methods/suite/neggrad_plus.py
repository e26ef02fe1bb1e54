"""NegGrad+: descend on retain CE while ascending on forget CE, one step per (retain, forget) batch pair.

Reference code: meghdadk/SCRUB: thirdparty/repdistiller/helper/loops.py (`train_negrad`: retain batches
zipped with a cycled forget loader, loss alpha*CE_r - (1-alpha)*CE_f), driven by `negative_grad` in
BadT_experiments.ipynb: plain SGD, no momentum, no weight decay.
"""

from pydantic import Field
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext, descend
from muaudit.methods.common import CycledBatches, sgd
from muaudit.methods.registry import register_method
from muaudit.training import batches
from muaudit.tuning import Range


class Params(MethodParams):
    lr: float = Field(0.03, gt=0)  # SGD learning rate
    momentum: float = Field(0.0, ge=0, lt=1)  # the reference's SGD has none
    alpha: float = Field(0.99, gt=0, le=1)  # weight of the retain CE; 1 - alpha weighs the (negated) forget CE
    epochs: int = Field(5, ge=1)  # passes over the retain set; the forget set is cycled alongside
    batch_size: int = Field(64, ge=1)  # retain batch; forget batches have the same size


# tune@<method> searches these (docs/tuning.md); params.yaml narrows or fixes them: unlearn.<method>.search
SEARCH = {"lr": Range(1e-4, 0.05, log=True), "alpha": Range(0.5, 0.999), "epochs": Range(1, 6)}


@register_method(
    "neggrad_plus",
    params=Params,
    description="alpha*CE(retain) - (1-alpha)*CE(forget) on paired batches, forget set cycled.",
    reference="Kurmanji et al. 2023, arXiv 2302.09880; meghdadk/SCRUB: thirdparty/repdistiller/helper/loops.py",
    search=SEARCH,
)
def neggrad_plus(ctx: UnlearnContext, p: Params):
    model = ctx.model.train()
    optimizer = sgd(model, p.lr, p.momentum)
    generator = ctx.generator()
    forget = CycledBatches(len(ctx.x_forget), p.batch_size, ctx.generator(1), ctx.device)
    loop = ctx.epochs(p.epochs, model=model, optimizer=optimizer, generator=generator, forget_batches=forget)
    for _ in loop:
        for idx in batches(len(ctx.x_retain), p.batch_size, generator, device=ctx.device):
            f_idx = next(forget)
            loss = p.alpha * F.cross_entropy(model(ctx.x_retain[idx]), ctx.y_retain[idx]) - (
                1 - p.alpha
            ) * F.cross_entropy(model(ctx.x_forget[f_idx]), ctx.y_forget[f_idx])
            descend(optimizer, loss, "neggrad_plus")
            loop.add(loss)
    return model.eval()
