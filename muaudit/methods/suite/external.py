"""External: audit an unlearned model produced elsewhere (a vendor, another team) from its weights file.

Nothing is trained: the checkpoint is loaded into the configured architecture and then extracted, measured
and judged like any method. Safetensors only, since pickled checkpoints execute code when loaded.

Reference code: none, it runs no rule of its own (the supplier's method is whatever made the weights).
"""

from pydantic import field_validator

from muaudit.io import sha256_file
from muaudit.methods.base import MethodParams, UnlearnContext
from muaudit.methods.registry import register_method
from muaudit.models.weights import load_weights


class Params(MethodParams):
    weights: str  # a safetensors file under supplied/external/ (that folder is a DVC dependency)

    @field_validator("weights")
    @classmethod
    def _under_supplied(cls, weights: str) -> str:
        from muaudit.blocks import supplied_problem

        problem = supplied_problem(weights, "external")
        if problem:
            raise ValueError(problem)
        return weights


@register_method(
    "external",
    params=Params,
    description="An unlearned checkpoint made elsewhere (safetensors), audited as it is.",
)
def external(ctx: UnlearnContext, p: Params):
    model = load_weights(ctx.build_model(), p.weights).eval()
    model.muaudit_meta = {"supplied": p.weights, "weights_sha256": sha256_file(p.weights)}
    return model
