"""SCRUB: a student (the model) moves away from the teacher (the original) on forget, stays close on retain.

Epochs 1..msteps start with a max-step pass over forget (minimise -KL_tau(S||T)); every epoch then does a
min-step pass over retain (gamma*CE + alpha*KL_tau(S||T)).
"""

from pydantic import Field
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext, descend
from muaudit.methods.common import kl_tau, sgd
from muaudit.methods.registry import register_method
from muaudit.training import batches


class Params(MethodParams):
    lr: float = Field(0.001, gt=0)  # SGD learning rate (max and min steps)
    momentum: float = Field(0.9, ge=0, lt=1)
    epochs: int = Field(5, ge=1)  # min-step passes over retain
    msteps: int = Field(2, ge=0)  # the first msteps epochs also do a max-step pass over forget
    gamma: float = Field(0.99, ge=0)  # weight of the retain CE in the min-step
    alpha: float = Field(0.001, ge=0)  # weight of the retain KL to the teacher in the min-step
    temperature: float = Field(4.0, gt=0)  # tau of the tempered KL
    batch_size: int = Field(64, ge=1)  # retain batch
    forget_batch_size: int = Field(32, ge=1)


@register_method(
    "scrub",
    params=Params,
    description="Teacher-student: max KL to the original on forget (first msteps epochs), min CE+KL on retain.",
    reference="Kurmanji et al. 2023, arXiv 2302.09880; meghdadk/SCRUB",
)
def scrub(ctx: UnlearnContext, p: Params):
    student, teacher = ctx.model.train(), ctx.original.eval()
    optimizer = sgd(student, p.lr, p.momentum)
    generator = ctx.generator()
    loop = ctx.epochs(p.epochs, model=student, optimizer=optimizer, generator=generator)
    for epoch in loop:
        if epoch < p.msteps:
            for idx in batches(len(ctx.x_forget), p.forget_batch_size, generator, device=ctx.device):
                x = ctx.x_forget[idx]
                loss = -kl_tau(student(x), teacher(x), p.temperature)
                descend(optimizer, loss, "scrub")
        for idx in batches(len(ctx.x_retain), p.batch_size, generator, device=ctx.device):
            x = ctx.x_retain[idx]
            logits = student(x)
            loss = p.gamma * F.cross_entropy(logits, ctx.y_retain[idx]) + p.alpha * kl_tau(
                logits, teacher(x), p.temperature
            )
            descend(optimizer, loss, "scrub")
            loop.add(loss)  # the min-step objective: the max-step passes only run in the first epochs
    return student.eval()
