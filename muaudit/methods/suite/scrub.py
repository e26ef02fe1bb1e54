"""SCRUB: a student (the model) moves away from the teacher (the original) on forget, stays close on retain.

Reference code: meghdadk/SCRUB: thirdparty/repdistiller/helper/loops.py (`train_distill`), driven by the
"SCRUB unlearning" cells of large_scale_unlearning.ipynb (CIFAR-10, ResNet), with the lr schedule of
thirdparty/repdistiller/helper/util.py (`adjust_learning_rate`).

For epoch e = 1..epochs: if e <= msteps, a max-step pass over forget (minimise -KL_tau(S||T)); then a
min-step pass over retain (gamma*CE + alpha*KL_tau(S||T)). One SGD optimizer (momentum 0.9, weight
decay 5e-4) for both; its lr is multiplied by lr_decay_rate for each milestone in lr_decay_epochs that
the (1-based) epoch has passed, as the reference's `steps = sum(epoch > lr_decay_epochs)`.
"""

from pydantic import Field
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext, descend
from muaudit.methods.common import kl_tau, sgd
from muaudit.methods.registry import register_method
from muaudit.training import batches
from muaudit.tuning import Range


class Params(MethodParams):
    lr: float = Field(0.001, gt=0)  # SGD learning rate (max and min steps)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    lr_decay_epochs: list[int] = [3, 5, 9]  # lr x lr_decay_rate after each of these (1-based) epochs
    lr_decay_rate: float = Field(0.1, gt=0, le=1)
    epochs: int = Field(3, ge=1)  # min-step passes over retain
    msteps: int = Field(2, ge=0)  # epochs 1..msteps also do a max-step pass over forget
    gamma: float = Field(0.99, ge=0)  # weight of the retain CE in the min-step
    alpha: float = Field(0.001, ge=0)  # weight of the retain KL to the teacher in the min-step
    temperature: float = Field(4.0, gt=0)  # tau of the tempered KL
    batch_size: int = Field(64, ge=1)  # retain batch
    forget_batch_size: int = Field(32, ge=1)


# tune@<method> searches these (docs/tuning.md); params.yaml narrows or fixes them: unlearn.<method>.search
SEARCH = {"lr": Range(1e-4, 0.05, log=True), "msteps": Range(1, 5), "epochs": Range(2, 6)}


def epoch_lr(p: Params, epoch: int) -> float:
    """The lr of the 1-based epoch."""
    return p.lr * p.lr_decay_rate ** sum(epoch > milestone for milestone in p.lr_decay_epochs)


@register_method(
    "scrub",
    params=Params,
    description="Teacher-student: max KL to the original on forget (first msteps epochs), min CE+KL on retain.",
    reference="Kurmanji et al. 2023, arXiv 2302.09880; meghdadk/SCRUB: thirdparty/repdistiller/helper/loops.py",
    search=SEARCH,
)
def scrub(ctx: UnlearnContext, p: Params):
    student, teacher = ctx.model.train(), ctx.original.eval()
    optimizer = sgd(student, p.lr, p.momentum, p.weight_decay)
    generator = ctx.generator()
    loop = ctx.epochs(p.epochs, model=student, optimizer=optimizer, generator=generator)
    for index in loop:
        epoch = index + 1  # the reference counts epochs from 1
        for group in optimizer.param_groups:
            group["lr"] = epoch_lr(p, epoch)
        if epoch <= p.msteps:
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
