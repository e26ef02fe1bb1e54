"""Fisher Forgetting: replace theta0 by a noisy copy, noise large where the retain set does not pin a weight.

Reference code: AdityaGolatkar/SelectiveForgetting: Forgetting.ipynb (`hessian`, `get_mean_var`), the
authors' code; the same rule is in meghdadk/SCRUB: large_scale_unlearning.ipynb and
OPTML-Group/Unlearn-Saliency: Classification/unlearn/fisher.py (`fisher_new`).

  * F = mean over retain samples of sum_c p(c|x) * (grad CE(f(x), c))^2: per-sample gradients, as the
    reference's batch-size-1 loop (here torch.func.vmap: one vectorised backward per class per batch).
  * v = alpha * clamp(1 / (F + 1e-8), max=1e3), the clamp at 1e2 on the output layer: the cap bounds
    1/F, so a weight with zero Fisher gets variance alpha * 1e3, not 1e3.
  * weights with more than one dimension: v averaged over dim 1 (the input channels), kept per output
    unit and, for convolutions, per kernel position, as `var.mean(dim=1)` in the reference.
  * class scenario: the forgotten classes' output rows (weight and bias) get mu = 0 and v = 1e-4.
  * x10 on the output layer (after the forgotten rows are set, so theirs end at 1e-3) and on every
    other 1-D parameter (biases, normalisation): the reference's "BatchNorm" branch is `p.ndim == 1`.
  * theta = mu + sqrt(v) * N(0, I), mu = theta0.
The reference finds the output layer by `p.size(0) == num_classes`; here it is the model's last
nn.Linear (weight and bias), which is what that test means and cannot also catch a hidden layer that
happens to have num_classes units.
"""

import torch
from pydantic import Field
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext
from muaudit.methods.common import head_linear
from muaudit.methods.registry import register_method
from muaudit.tuning import Range

EPS = 1e-8
MAX_INV_FISHER, MAX_INV_FISHER_HEAD = 1e3, 1e2  # caps on 1/F from the reference: the noise stays bounded
SCALE_HEAD_AND_1D = 10.0
FORGOTTEN_ROW_VAR = 1e-4  # before the x10 of the output layer, as in the reference


class Params(MethodParams):
    alpha: float = Field(1e-7, gt=0)  # noise scale: variance = alpha * min(1 / Fisher, cap)
    batch_size: int = Field(128, ge=1)  # retain batch of the Fisher pass (per-sample gradients: no effect on F)


# tune@<method> searches these (docs/tuning.md); params.yaml narrows or fixes them: unlearn.<method>.search
SEARCH = {"alpha": Range(1e-14, 1e-4, log=True)}


def retain_fisher(ctx: UnlearnContext, batch_size: int) -> dict[str, torch.Tensor]:
    model = ctx.model.eval()
    params = {n: w.detach() for n, w in model.named_parameters()}

    def sample_loss(theta, x, c):
        return F.cross_entropy(functional_call(model, theta, (x[None],)), c[None])

    per_sample_grad = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    fisher = {n: torch.zeros_like(w) for n, w in params.items()}
    for start in range(0, len(ctx.x_retain), batch_size):
        x = ctx.x_retain[start : start + batch_size]
        with torch.no_grad():
            prob = F.softmax(model(x), dim=1)
        for c in range(ctx.num_classes):
            grads = per_sample_grad(params, x, torch.full((len(x),), c, device=x.device))
            weight = prob[:, c]
            for n, g in grads.items():
                fisher[n] += torch.einsum("b,b...->...", weight, g.square())
        ctx.count(len(x) * ctx.num_classes)  # vmap calls bypass the forward counter
    return {n: f / len(ctx.x_retain) for n, f in fisher.items()}


def noise_distribution(theta0: torch.Tensor, fisher: torch.Tensor, alpha: float, is_head: bool,
                       forget_rows: tuple[int, ...] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, variance) of one parameter, in the reference's order of operations (see the module docstring)."""
    var = (1.0 / (fisher + EPS)).clamp(max=MAX_INV_FISHER_HEAD if is_head else MAX_INV_FISHER)
    var = alpha * var
    if var.ndim > 1:
        var = var.mean(dim=1, keepdim=True).expand_as(theta0).clone()
    mu = theta0.clone()
    if is_head and forget_rows:
        rows = torch.tensor(forget_rows)  # a CPU index: every device accepts one
        mu[rows] = 0.0
        var[rows] = FORGOTTEN_ROW_VAR
    if is_head or var.ndim == 1:
        var = var * SCALE_HEAD_AND_1D
    return mu, var


@register_method(
    "fisher_forgetting",
    params=Params,
    description="theta0 + sqrt(alpha*clamp(1/(F_retain+eps))) * N(0,I); class-wise zeroes the forgotten head rows.",
    reference="Golatkar et al. 2020, arXiv 1911.04933; AdityaGolatkar/SelectiveForgetting: Forgetting.ipynb",
    search=SEARCH,
)
def fisher_forgetting(ctx: UnlearnContext, p: Params):
    model = ctx.model
    fisher = retain_fisher(ctx, p.batch_size)
    head = head_linear(model)
    head_ids = {id(head.weight), id(head.bias)}
    forget_rows = tuple(ctx.forget_classes) if ctx.scenario == "class" else ()
    generator = ctx.generator()
    with torch.no_grad():
        for n, w in model.named_parameters():
            mu, var = noise_distribution(w, fisher[n], p.alpha, id(w) in head_ids, forget_rows)
            # the noise is drawn on the CPU from the method's generator: the same draw on every device
            w.copy_(mu + var.sqrt() * torch.randn(w.shape, generator=generator).to(w.device))
    return model.eval()
