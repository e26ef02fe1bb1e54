"""Typed parameters: params.yaml is validated here before any stage runs.

Every block rejects unknown keys (with a did-you-mean), wrong types and out-of-range values, and the
error is one line naming the key, the value and what was expected.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from muaudit.blocks import Block, TrainParams, supplied_problem
from muaudit.errors import BadInputError

REGISTRIES = "registries"  # validation context key: False skips the checks that import the method/metric code


def _with_registries(info: ValidationInfo) -> bool:
    return (info.context or {}).get(REGISTRIES, True)


class DataParams(Block):
    name: str = "digits"
    path: str | None = None  # file-based datasets only: a file or folder under supplied/data/ (a DVC dependency)
    label_column: str = "label"  # tabular: the column holding the class
    id_column: str | None = None  # tabular: a column of sample ids (default: the row number)
    test_fraction: float = Field(0.2, gt=0, lt=1)  # share of all samples held out as test, stratified


class SplitParams(Block):
    scenario: Literal["random", "class", "ids"] = "class"
    forget_fraction: float = Field(0.1, gt=0, lt=1)  # random scenario: share of train to forget
    forget_classes: list[int] = [3]  # class scenario: every train sample of these classes
    forget_ids: list[str] = []  # ids scenario: the sample ids of a deletion request
    forget_ids_file: str | None = None  # ids scenario: a file under supplied/requests/, one id per line
    seed: int = 0
    # share of forget, retain and test set aside for tuning only (docs/tuning.md): trained and unlearned on
    # like the rest of their role, never extracted or measured; 0: none (then unlearn.tune must be [])
    tune_fraction: float = Field(0.2, ge=0, lt=1)


class ModelParams(Block):
    name: str = "small_cnn"  # a registry name, or a user builder as "my_pkg.models:build"
    kwargs: dict[str, Any] = {}  # keyword arguments for the builder


class RetrainParams(Block):
    seeds: list[int] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]

    @field_validator("seeds")
    @classmethod
    def _at_least_two_distinct(cls, seeds: list[int]) -> list[int]:
        if len(seeds) < 2:
            raise ValueError("at least two seeds are needed to measure the retrain band")
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct")
        return seeds


class UnlearnParams(BaseModel):
    """`methods` plus one block per method; each block is checked against that method's own params."""

    model_config = ConfigDict(extra="allow", frozen=True)
    # every method whose defaults are swept (docs/methods-sweep.md); the last two are the instrument controls
    methods: list[str] = ["finetune", "gradient_ascent", "neggrad_plus", "random_labels", "l1_sparse", "salun",
                          "scrub", "bad_teacher", "ssd", "boundary_shrink", "fisher_forgetting",
                          "representation_scrub", "head_only", "heldout_retrain"]
    tune: list[str] | None = None  # methods tuned by tune@<method>; None: every training method in `methods`
    tune_trials: int = Field(8, ge=1)  # trials per tuned method (docs/tuning.md: the measured time)
    tune_seed: int = 0  # seed of the TPE sampler
    # The extra seeds every method also runs with, beside seed 0 (the `<method>` model): each is its own
    # stage unlearn_seed@<method>-<seed>, model `<method>_s<seed>`. A list, not a count, because DVC's
    # matrix iterates lists only: the issue's `method_seeds: N` is `extra_seeds: [1, ..., N-1]`.
    extra_seeds: list[int] = []

    @field_validator("extra_seeds")
    @classmethod
    def _extra_seeds(cls, seeds: list[int]) -> list[int]:
        if any(s < 1 for s in seeds):
            raise ValueError(f"unlearn.extra_seeds: {seeds} holds a seed below 1; expected seeds 1 or more "
                             "(seed 0 is every method's own run)")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"unlearn.extra_seeds: {seeds} repeats a seed; expected distinct seeds")
        return seeds

    @model_validator(mode="after")
    def _check_method_blocks(self, info: ValidationInfo) -> UnlearnParams:
        clash = [f"{m}_s{k}" for m in self.methods for k in self.extra_seeds if f"{m}_s{k}" in self.methods]
        if clash:
            raise ValueError(f"unlearn.methods: '{clash[0]}' is also the name of a method's seed run "
                             "(unlearn.extra_seeds); rename the method")
        if not _with_registries(info):
            return self
        from muaudit.methods import registry

        blocks = self.model_extra or {}
        known = registry.names() + sorted(n for n, b in blocks.items() if registry.is_user_block(b))
        for name in self.methods:
            if name not in known:
                raise ValueError(_unknown("unlearn.methods", name, known))
            if name not in blocks:  # a listed method without a block must be happy with its defaults
                registry.parse(name, None)
        for name, block in blocks.items():
            if name not in known:
                raise ValueError(_unknown("unlearn", name, known))
            registry.parse(name, block)  # a user block's target is imported here: bad targets fail early
            if isinstance(block, dict) and registry.SEARCH_KEY in block:
                registry.tuning_space(name, block)
        for name in self.tune or []:
            if name not in self.methods:
                raise ValueError(f"unlearn.tune: '{name}' is not in unlearn.methods {self.methods}")
            spec = self.method_spec(name)
            if spec.control:
                raise ValueError(f"unlearn.tune: '{name}' is a control; controls are never tuned")
            if not spec.search:
                raise ValueError(f"unlearn.tune: '{name}' declares no search space; expected a method registered "
                                 "with search={...}")
        return self

    def tuned(self) -> list[str]:
        """The methods tune@<method> tunes: `tune`, or every training method with a search space."""
        if self.tune is not None:
            return list(self.tune)
        specs = {name: self.method_spec(name) for name in self.methods}
        return [name for name, spec in specs.items() if not spec.control and spec.search]

    def method_spec(self, name: str):
        """The method's spec; blocks with a `target` name a user method (module:attr)."""
        from muaudit.methods import registry

        return registry.resolve(name, (self.model_extra or {}).get(name))

    def method_params(self, name: str) -> BaseModel:
        from muaudit.methods import registry

        return registry.parse(name, (self.model_extra or {}).get(name))[1]


class ExtractParams(Block):
    layers: list[str] | None = None  # None: the model's default layers; logits are always stored
    batch_size: int = Field(256, ge=1)
    max_samples_per_role: int | None = Field(None, ge=2)  # cap per role (deterministic subsample); None: all
    # conv maps: "mean" (global average, one value per channel) or "HxW" (adaptive average pooling to a grid,
    # so spatial residue stays visible); one string for every layer or {layer: pooling}, "mean" where unlisted
    pool: str | dict[str, str] = "mean"

    @field_validator("pool")
    @classmethod
    def _pool(cls, v):
        from muaudit.pooling import check_pool_mode

        for key, mode in ({"": v} if isinstance(v, str) else v).items():
            check_pool_mode(mode, "extract.pool" + (f".{key}" if key else ""))
        return v


class MetricsParams(BaseModel):
    """The `metrics:` block; its schema (band knobs, enabled metrics, per-metric blocks) lives with the
    metric registry, so adding a metric needs no change here."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> MetricsParams:
        if not _with_registries(info):
            return self
        from muaudit.metrics import registry

        registry.parse_config(self.model_dump())
        return self

    def parsed(self):
        from muaudit.metrics import registry

        return registry.parse_config(self.model_dump())


class PolicyParams(Block):
    """Pass criteria declared before the run; the report and manifest state the outcome per method."""

    allowed_labels: list[str] = ["consistent"]  # the overall verdict every method must have
    layers: list[str] = []  # also require an allowed verdict at each of these layers
    max_avg_gap: float | None = Field(None, ge=0)  # bound on the output-level avg_gap, when measured


class RuntimeParams(Block):
    threads: int = Field(1, ge=1)  # torch threads per stage; changes float results, so it is a param
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    deterministic: bool = True
    # Resume checkpoints of training stages: "auto" (at an epoch end once a minute of training has passed
    # since the last one, so runs under a minute write none), "off", or every N epochs. Results do not
    # depend on it, so no stage lists it in dvc.yaml: changing it reruns nothing.
    checkpoint_every: str | int = "auto"

    @field_validator("checkpoint_every", mode="before")
    @classmethod
    def _epochs_or_mode(cls, value):
        if value in ("auto", "off") or (type(value) is int and value >= 1):
            return value
        raise ValueError("expected 'auto', 'off' or a number of epochs (1 or more)")


class Params(Block):
    # Factories, not instances: a default instance would be validated at import, and the unlearn and
    # metrics blocks import torch and scikit-learn to check themselves (2.5 s for `import muaudit.config`).
    data: DataParams = Field(default_factory=DataParams)
    split: SplitParams = Field(default_factory=SplitParams)
    model: ModelParams = Field(default_factory=ModelParams)
    train: TrainParams = Field(default_factory=TrainParams)
    retrain: RetrainParams = Field(default_factory=RetrainParams)
    unlearn: UnlearnParams = Field(default_factory=UnlearnParams)
    extract: ExtractParams = Field(default_factory=ExtractParams)
    metrics: MetricsParams = Field(default_factory=MetricsParams)
    runtime: RuntimeParams = Field(default_factory=RuntimeParams)
    policy: PolicyParams = Field(default_factory=PolicyParams)

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Params:
        if self.split.scenario == "class" and not self.split.forget_classes:
            raise ValueError("split.forget_classes: empty; the class scenario needs at least one class")
        if "heldout_retrain" in self.unlearn.methods and _with_registries(info):
            seed = self.unlearn.method_params("heldout_retrain").seed
            if seed in self.retrain.seeds:
                raise ValueError(f"unlearn.heldout_retrain.seed: {seed} is one of retrain.seeds {self.retrain.seeds}; "
                                 "expected a seed outside the retrain band (the control must be held out)")
            # its seed runs train with heldout_retrain.seed + the extra seed: held out too
            inside = [k for k in self.unlearn.extra_seeds if seed + k in self.retrain.seeds]
            if inside:
                raise ValueError(f"unlearn.extra_seeds: {inside[0]} makes heldout_retrain train with seed "
                                 f"{seed + inside[0]}, one of retrain.seeds {self.retrain.seeds}; expected "
                                 "heldout_retrain.seed + every extra seed outside the retrain band")
        if _with_registries(info):
            from muaudit.metrics.stats import MAX_DETECTABLE_EFFECT, detectable_effect, smallest_k

            verdict = self.metrics.parsed().verdict
            alpha = verdict.alpha
            # the detectable effect falls as K grows: the K given works iff it is at least smallest_k, which
            # is only computed (a null table per K tried) to say how many seeds would do
            if detectable_effect(len(self.retrain.seeds), alpha, verdict.tail_df) > MAX_DETECTABLE_EFFECT:
                k = smallest_k(alpha, verdict.tail_df)
                raise ValueError(f"retrain.seeds: {len(self.retrain.seeds)} seeds cannot reach metrics.verdict.alpha = "
                                 f"{alpha} (a quantity {MAX_DETECTABLE_EFFECT:g} retrain standard deviations off would "
                                 f"pass); expected at least {k} seeds")
        if self.split.tune_fraction == 0 and _with_registries(info) and self.unlearn.tuned():
            raise ValueError(f"split.tune_fraction: 0 sets no tuning split aside, but unlearn.tune names "
                             f"{self.unlearn.tuned()}; expected a share above 0, or unlearn.tune: []")
        if self.split.scenario == "ids" and not (self.split.forget_ids or self.split.forget_ids_file):
            raise ValueError("split.forget_ids: empty; the ids scenario needs forget_ids or forget_ids_file")
        supplied_under("data.path", self.data.path, "data")
        supplied_under("split.forget_ids_file", self.split.forget_ids_file, "requests")
        supplied_under("train.weights", self.train.weights, "original")
        return self


def supplied_under(key: str, path: str | None, sub: str) -> None:
    problem = supplied_problem(path, sub)
    if problem:
        raise ValueError(f"{key}: {problem}")


def _unknown(key: str, value: str, known: list[str]) -> str:
    close = difflib.get_close_matches(str(value), known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{key}: unknown name '{value}'{hint}; expected one of {', '.join(sorted(known))}"


def _format(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-after"))
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        parent_model = _model_at(Params, first["loc"][:-1])
        known = list(parent_model.model_fields) if parent_model else []
        close = difflib.get_close_matches(str(first["loc"][-1]), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{source}: {loc}: unknown key{hint}; expected one of {', '.join(known)}"
    if ":" in msg and msg.split(":")[0].count(".") >= 1 and " " not in msg.split(":")[0]:
        return f"{source}: {msg}"
    return f"{source}: {loc}: {msg} (got {first.get('input')!r})"


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model


def parse_params(raw: Any, source: str = "params.yaml", registries: bool = True) -> Params:
    """registries=False checks every block's keys, types and ranges but not the method and metric blocks
    against their registries (which import torch and scikit-learn)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise BadInputError(f"{source}: expected a mapping of blocks at the top level, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw, context={REGISTRIES: registries})
    except ValidationError as err:
        raise BadInputError(_format(err, source)) from None


def load_params(path: str | Path = "params.yaml", registries: bool = True) -> Params:
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{path}: missing; expected the audit's parameter file")
    try:
        raw = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise BadInputError(f"{path}: not valid YAML{where}") from None
    return parse_params(raw, str(path), registries)


def defaults_document() -> dict[str, Any]:
    """Every key of params.yaml with the value the code uses when the key is absent: the blocks' defaults,
    one block per registered method that has defaults, one per enabled metric that has knobs.

    The code is the one source of the defaults; tests/test_config.py checks params.yaml against this, key by key.
    """
    from muaudit.methods import registry as methods

    params = Params()
    doc = params.model_dump(mode="json")
    doc["unlearn"] = {"methods": list(params.unlearn.methods), "tune": params.unlearn.tune,
                      "tune_trials": params.unlearn.tune_trials, "tune_seed": params.unlearn.tune_seed,
                      "extra_seeds": list(params.unlearn.extra_seeds)}
    for name in methods.names():
        try:
            doc["unlearn"][name] = methods.parse(name, None)[1].model_dump(mode="json")
        except BadInputError:  # a method with a required key (e.g. external's weights) has no default block
            continue
    cfg = params.metrics.parsed()
    doc["metrics"] = cfg.model_dump(mode="json")
    for name in cfg.enabled:
        if knobs := cfg.metric_params(name).model_dump(mode="json"):
            doc["metrics"][name] = knobs
    return doc
