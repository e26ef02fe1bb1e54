"""Bad Teacher: distil from an incompetent (randomly initialised) teacher on forget, from the original on retain.

Data = every forget sample (u=1) + a random `retain_fraction` of retain (u=0), shuffled together;
target = softmax(T_bad(x)/tau) if u else softmax(T_good(x)/tau); loss KL(target || S(x)/tau).

Reference code: if-loops/selective-synaptic-dampening: src/unlearn.py (`UnlearnerLoss`,
`blindspot_unlearner`), a copy of the authors' vikram2000b/bad-teaching-unlearning: Adam, tau 1,
retain subset 30%. The reference's `F.kl_div` averages over batch x classes, here over the batch: a
constant factor (the number of classes) that Adam's step does not see.
"""

import torch
from pydantic import Field

from muaudit.methods.base import MethodParams, UnlearnContext, descend
from muaudit.methods.common import kl_tau
from muaudit.methods.registry import register_method
from muaudit.training import batches, seeded_model
from muaudit.tuning import Range

BAD_TEACHER_SEED_OFFSET = 1000  # the incompetent teacher's init seed = method seed + this


class Params(MethodParams):
    lr: float = Field(1e-3, gt=0)  # Adam learning rate (as in the paper)
    epochs: int = Field(2, ge=1)  # passes over forget + the retain subset
    temperature: float = Field(1.0, gt=0)  # KL temperature
    retain_fraction: float = Field(0.3, gt=0, le=1)  # share of retain drawn (once, seeded) for the good teacher
    batch_size: int = Field(64, ge=1)


# tune@<method> searches these (docs/tuning.md); params.yaml narrows or fixes them: unlearn.<method>.search
SEARCH = {"lr": Range(1e-5, 1e-2, log=True), "epochs": Range(1, 4)}


@register_method(
    "bad_teacher",
    params=Params,
    description="Distil a random-init teacher on forget and the original on a retain subset.",
    reference="Chundawat et al. 2023, arXiv 2205.08096; if-loops/selective-synaptic-dampening: src/unlearn.py",
    search=SEARCH,
)
def bad_teacher(ctx: UnlearnContext, p: Params):
    bad = seeded_model(ctx.build_model, ctx.seed + BAD_TEACHER_SEED_OFFSET).eval().requires_grad_(False)
    good = ctx.original.eval()
    generator = ctx.generator()
    n_keep = max(1, int(round(p.retain_fraction * len(ctx.x_retain))))
    keep = torch.randperm(len(ctx.x_retain), generator=generator)[:n_keep].to(ctx.device)
    x = torch.cat([ctx.x_forget, ctx.x_retain[keep]])
    from_bad = torch.cat([torch.ones(len(ctx.x_forget), dtype=torch.bool, device=ctx.device),
                          torch.zeros(n_keep, dtype=torch.bool, device=ctx.device)])
    model = ctx.model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=p.lr)
    loop = ctx.epochs(p.epochs, model=model, optimizer=optimizer, generator=generator)
    for _ in loop:
        for idx in batches(len(x), p.batch_size, generator, device=ctx.device):
            xb = x[idx]
            with torch.no_grad():
                target = torch.where(from_bad[idx, None], bad(xb), good(xb))
            loss = kl_tau(model(xb), target, p.temperature) / p.temperature**2  # the paper's loss is untempered-scale
            descend(optimizer, loss, "bad_teacher")
            loop.add(loss)
    return model.eval()
