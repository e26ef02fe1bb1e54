"""Representation scrub (ours): move forget samples' features, not only their logits.

Motivated by "Erased, but Not Gone" (Yong et al., arXiv 2606.25001): output-level unlearning leaves the
forget information in the features. Rule, at the layer `layer` (default: the model's penultimate layer, `fc` in small_cnn):
  * prototypes: per class, the mean feature of the ORIGINAL model on the retain samples of that class;
    only classes that retain still contains have one. No retrained model is used.
  * target of a forget sample: the prototype nearest to its original feature. In the class scenario the
    forgotten class has no prototype, so the target is the nearest other class (what a retrained model
    maps it to); in the random scenario it is usually its own class, which removes the sample-specific
    part of the feature (what a model that never saw it would compute) and keeps the class information.
  * loss = MSE(h(x_f), target) + beta * MSE(h(x_r), h0(x_r)) + CE(f(x_r), y_r)
    on paired (retain, cycled forget) batches; h0 is the original's feature, kept fixed for retain.

Reference code: none, this method is ours (no published code to check it against); its optimizer is
the SGD with momentum 0.9 of the project's other fine-tuning methods.
"""

import torch
from pydantic import Field
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext, descend
from muaudit.methods.common import CycledBatches, FeatureTap, sgd
from muaudit.methods.registry import register_method
from muaudit.models.registry import penultimate_layer
from muaudit.training import batches
from muaudit.tuning import Range


class Params(MethodParams):
    lr: float = Field(0.01, gt=0)  # SGD learning rate
    momentum: float = Field(0.9, ge=0, lt=1)
    layer: str | None = None  # module whose output is scrubbed; None: the model's penultimate layer
    beta: float = Field(1.0, ge=0)  # weight of keeping retain features at the original's
    epochs: int = Field(5, ge=1)  # passes over retain; forget batches are cycled alongside
    batch_size: int = Field(64, ge=1)


# tune@<method> searches these (docs/tuning.md); params.yaml narrows or fixes them: unlearn.<method>.search
SEARCH = {"lr": Range(1e-3, 0.1, log=True), "beta": Range(0.1, 10.0, log=True), "epochs": Range(1, 6)}


@torch.no_grad()
def forget_targets(ctx: UnlearnContext, layer: str) -> torch.Tensor:
    with FeatureTap(ctx.original, layer) as tap:
        ctx.original.eval()(ctx.x_retain)
        h_retain = tap.value
        ctx.original(ctx.x_forget)
        h_forget = tap.value
    classes = torch.unique(ctx.y_retain)
    prototypes = torch.stack([h_retain[ctx.y_retain == c].mean(0) for c in classes])
    return prototypes[torch.cdist(h_forget, prototypes).argmin(1)]


@register_method(
    "representation_scrub",
    params=Params,
    description="Pull forget features to the nearest retain-class prototype; keep retain features and CE.",
    reference="ours; motivated by Yong et al. 2026, arXiv 2606.25001",
    search=SEARCH,
)
def representation_scrub(ctx: UnlearnContext, p: Params):
    layer = p.layer or penultimate_layer(ctx.model)
    targets = forget_targets(ctx, layer)
    model = ctx.model.train()
    optimizer = sgd(model, p.lr, p.momentum)
    generator = ctx.generator()
    forget = CycledBatches(len(ctx.x_forget), p.batch_size, ctx.generator(1), ctx.device)
    loop = ctx.epochs(p.epochs, model=model, optimizer=optimizer, generator=generator, forget_batches=forget)
    with FeatureTap(model, layer) as tap, FeatureTap(ctx.original, layer) as tap0:
        for _ in loop:
            for idx in batches(len(ctx.x_retain), p.batch_size, generator, device=ctx.device):
                f_idx = next(forget)
                with torch.no_grad():
                    ctx.original(ctx.x_retain[idx])
                    h0_retain = tap0.value
                logits = model(ctx.x_retain[idx])
                h_retain = tap.value
                model(ctx.x_forget[f_idx])
                h_forget = tap.value
                loss = (F.mse_loss(h_forget, targets[f_idx]) + p.beta * F.mse_loss(h_retain, h0_retain)
                        + F.cross_entropy(logits, ctx.y_retain[idx]))
                descend(optimizer, loss, "representation_scrub")
                loop.add(loss)
    return model.eval()
