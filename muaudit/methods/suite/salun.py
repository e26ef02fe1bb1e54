"""SalUn: random-labels unlearning restricted to the weights most salient for the forget loss.

Saliency = |sum over forget batches of grad CE| (one pass, no update); the global top `mask_fraction`
of entries may change, every other weight stays exactly at theta0 (gradient masked, value restored,
momentum cleared).

Reference code: OPTML-Group/Unlearn-Saliency: Classification/generate_mask.py (`save_gradient_ratio`:
|sum of forget gradients| in eval mode, exactly int(ratio * P) entries kept) and
Classification/unlearn/RL.py (`RL` with a mask: `_apply_mask_to_grads`, `_restore_masked_params`, which
also zeroes the masked entries of the momentum buffer), in the loop of Classification/unlearn/impl.py:
SGD, momentum 0.9, weight decay 5e-4.
"""

import torch
from pydantic import Field
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext, check_finite
from muaudit.methods.common import forget_gradients, sgd, top_fraction_mask
from muaudit.methods.registry import register_method
from muaudit.training import batches
from muaudit.tuning import Range


class Params(MethodParams):
    lr: float = Field(0.003, gt=0)  # SGD learning rate
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)  # the reference loop's (OPTML unlearn/impl.py)
    mask_fraction: float = Field(0.5, gt=0, le=1)  # share of all weights (global ranking) allowed to change
    epochs: int = Field(5, ge=1)  # each: a random-label pass on forget, then a pass on retain
    batch_size: int = Field(64, ge=1)


# tune@<method> searches these (docs/tuning.md); params.yaml narrows or fixes them: unlearn.<method>.search
SEARCH = {"lr": Range(1e-3, 0.1, log=True), "mask_fraction": Range(0.1, 0.9), "epochs": Range(1, 6)}


@register_method(
    "salun",
    params=Params,
    description="Saliency mask (top |grad| of forget CE), then random labels with masked gradients.",
    reference="Fan et al. 2024, arXiv 2310.12508; OPTML-Group/Unlearn-Saliency: Classification/unlearn/RL.py",
    search=SEARCH,
)
def salun(ctx: UnlearnContext, p: Params):
    model = ctx.model
    grads = forget_gradients(model, ctx.x_forget, ctx.y_forget, p.batch_size)
    mask = top_fraction_mask({n: g.abs() for n, g in grads.items()}, p.mask_fraction)
    theta0 = {n: w.detach().clone() for n, w in model.named_parameters()}
    model.train()
    optimizer = sgd(model, p.lr, p.momentum, p.weight_decay)
    generator = ctx.generator()
    # the mask and theta0 come from the starting weights: a resumed run recomputes them before its loop
    loop = ctx.epochs(p.epochs, model=model, optimizer=optimizer, generator=generator)
    for _ in loop:
        for x, y in ((ctx.x_forget, None), (ctx.x_retain, ctx.y_retain)):
            for idx in batches(len(x), p.batch_size, generator, device=ctx.device):
                target = (torch.randint(0, ctx.num_classes, (len(idx),), generator=generator).to(ctx.device)
                          if y is None else y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x[idx]), target)
                check_finite(loss, "salun")
                loss.backward()
                for n, w in model.named_parameters():
                    w.grad.mul_(mask[n])
                optimizer.step()
                with torch.no_grad():  # keeps masked-out weights bit-exact at theta0
                    for n, w in model.named_parameters():
                        w.copy_(torch.where(mask[n], w, theta0[n]))
                        state = optimizer.state.get(w, {})
                        if state.get("momentum_buffer") is not None:  # weight decay wrote into it
                            state["momentum_buffer"].mul_(mask[n])
                loop.add(loss)
    return model.eval()
