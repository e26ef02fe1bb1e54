"""Boundary Shrink: relabel each forget sample with its nearest wrong class and fine-tune on forget only.

Reference code: OPTML-Group/Unlearn-Saliency: Classification/unlearn/boundary_sh.py (`boundary_shrink_iter`,
`FGSM_perturb`), a re-implementation of Chen et al.'s (their code is not on GitHub).

The "nearest wrong class" comes from a frozen copy of the original: one FGSM step x' = clip(x + eps *
sign(grad_x CE)), then the raw argmax of its logits on x', as in the reference: when the step does not
cross the boundary the label is the true class, and that sample is simply fine-tuned on. SGD with
momentum 0.9 and weight decay 5e-4 (the reference loop, unlearn/impl.py). Two departures, both for
non-image data: x' is clipped to the forget set's own value range instead of [0, 1], and not rounded
to 8-bit levels (the reference's `discretize`).

Class scenario only. On a random forget set the forget samples are i.i.d. with retain, and the retrained
model classifies them about as well as test samples; pushing every one of them over the boundary drives
forget accuracy to ~0, far below retrain, which is the opposite of unlearning (Chen et al. design it for
class-wise forgetting, and the OPTML re-implementations report it weak on random subsets).
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
    lr: float = Field(1e-4, gt=0)  # SGD learning rate
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    epsilon: float = Field(0.3, gt=0)  # FGSM step in input units; the reference's 0.1 (CIFAR) rarely crosses on digits
    epochs: int = Field(5, ge=1)  # passes over the forget set
    batch_size: int = Field(64, ge=1)


# tune@<method> searches these (docs/tuning.md); params.yaml narrows or fixes them: unlearn.<method>.search
SEARCH = {"lr": Range(1e-5, 1e-2, log=True), "epsilon": Range(0.01, 1.0, log=True), "epochs": Range(1, 6)}


def nearest_wrong_class(frozen, x: torch.Tensor, y: torch.Tensor, epsilon: float, low: float,
                        high: float) -> torch.Tensor:
    """argmax of the frozen model's logits after one FGSM step (the true class is not excluded)."""
    x_adv = x.clone().requires_grad_(True)
    F.cross_entropy(frozen(x_adv), y).backward()
    x_adv = (x + epsilon * x_adv.grad.sign()).clamp(low, high)
    with torch.no_grad():
        return frozen(x_adv).argmax(1)


@register_method(
    "boundary_shrink",
    params=Params,
    description="Fine-tune on forget samples relabelled with their FGSM-nearest wrong class.",
    scenarios=("class",),
    reference="Chen et al. 2023, arXiv 2303.11570; OPTML-Group/Unlearn-Saliency: Classification/unlearn/boundary_sh.py",
    search=SEARCH,
)
def boundary_shrink(ctx: UnlearnContext, p: Params):
    frozen = ctx.original.eval()  # the original's weights are the frozen copy: never updated
    model = ctx.model.train()
    optimizer = sgd(model, p.lr, p.momentum, p.weight_decay)
    low, high = ctx.x_forget.min().item(), ctx.x_forget.max().item()
    generator = ctx.generator()
    loop = ctx.epochs(p.epochs, model=model, optimizer=optimizer, generator=generator)
    for _ in loop:
        for idx in batches(len(ctx.x_forget), p.batch_size, generator, device=ctx.device):
            x = ctx.x_forget[idx]
            target = nearest_wrong_class(frozen, x, ctx.y_forget[idx], p.epsilon, low, high)
            ctx.count(len(idx))  # the FGSM pass runs on the frozen copy
            loss = F.cross_entropy(model(x), target)
            descend(optimizer, loss, "boundary_shrink")
            loop.add(loss)
    return model.eval()
