"""The stage table: every dvc.yaml stage's body, inputs, output and params keys, in one place.

dvc.yaml stays the graph DVC reads; tests/test_stage_table.py checks that each of its stages runs the
module named here with exactly these inputs, this output and these params keys, so the two cannot drift.
muaudit.runner.stage reads the inputs (muaudit.runner.artifacts), calls the body, writes the output and
records the params keys listed here; benchmarks/bare.py calls the same bodies with the data in memory.

Paths and params keys are dvc.yaml's, with `{seed}` and `{method}` for the matrix item.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Artifact:
    option: str  # the command-line option that names it ("" for what the params locate, e.g. the dataset)
    kind: str  # how muaudit.runner.artifacts reads or writes it
    path: str  # dvc.yaml's path, with {seed}/{method} for the matrix item
    required: bool = True  # False: a stage run without it still runs (an older layout, a test)


@dataclass(frozen=True)
class Stage:
    name: str
    module: str  # tasks.<module>: its run() is the body
    inputs: tuple[Artifact, ...]
    output: Artifact
    params: tuple[str, ...]
    options: dict[str, type] = field(default_factory=dict)  # the matrix item's values on the command line
    matrix: tuple[str, ...] = ()


SPLIT = Artifact("split", "split", "data/split")
ORIGINAL = Artifact("model_dir", "model", "data/models/original")
RUNTIME = ("runtime.threads", "runtime.device", "runtime.deterministic")
EXTRACT_PARAMS = ("extract", "model", *RUNTIME)
ATTACK_PARAMS = ("metrics.relearn", "metrics.head_refit", "model", "split.scenario", *RUNTIME)
UNLEARN_PARAMS = ("model", "split.scenario", "split.forget_classes", *RUNTIME, "unlearn.{method}")
SEED = {"seed": int}
METHOD = {"method": str}


def _per_model(prefix: str, module: str, kind: str, folder: str, params: tuple[str, ...]) -> list[Stage]:
    """The extract or attack stage of the original, each retrained model, each method and each extra seed."""
    models = [("original", "original", ()), ("retrain", "retrain_{seed}", ("seed",)),
              ("unlearn", "{method}", ("method",)), ("unlearn_seed", "{method}_s{seed}", ("method", "seed"))]
    return [Stage(f"{prefix}_{suffix}", module,
                  (Artifact("model_dir", "model", f"data/models/{model}"), SPLIT),
                  Artifact("out", kind, f"{folder}/model={model}"), params, matrix=matrix)
            for suffix, model, matrix in models]


STAGES: tuple[Stage, ...] = (
    Stage("split", "split", (Artifact("", "dataset", "supplied/data"),), Artifact("out", "split", "data/split"),
          ("data", "split")),
    Stage("train", "train", (SPLIT,), Artifact("out", "model", "data/models/original"),
          ("model", "train", *RUNTIME)),
    Stage("retrain", "retrain", (SPLIT,), Artifact("out", "model", "data/models/retrain_{seed}"),
          ("model", "train.seed", "train.epochs", "train.lr", "train.batch_size", "train.weight_decay", *RUNTIME),
          SEED, ("seed",)),
    Stage("tune_reference", "tune_reference",
          (Artifact("model_dir", "model", "data/models/retrain_{seed}"), SPLIT),
          Artifact("out", "json", "data/tune_reference/retrain_{seed}.json"),
          ("model", "metrics.mia_efficacy", *RUNTIME), matrix=("seed",)),
    Stage("tune", "tune",
          (SPLIT, Artifact("original", "model", "data/models/original"),
           Artifact("reference", "json_folder", "data/tune_reference")),
          Artifact("out", "json", "data/tune/{method}.json"),
          ("model", "split.scenario", "split.forget_classes", "retrain.seeds", *RUNTIME, "unlearn.methods",
           "unlearn.tune", "unlearn.tune_trials", "unlearn.tune_seed", "unlearn.{method}", "metrics.verdict.alpha",
           "metrics.verdict.tail_df", "metrics.mia_efficacy"),
          METHOD, ("method",)),
    Stage("unlearn", "unlearn",
          (SPLIT, Artifact("original", "model", "data/models/original"),
           Artifact("tuned", "json", "data/tune/{method}.json", False)),
          Artifact("out", "model", "data/models/{method}"), UNLEARN_PARAMS, METHOD, ("method",)),
    Stage("unlearn_seed", "unlearn",
          (SPLIT, Artifact("original", "model", "data/models/original"),
           Artifact("tuned", "json", "data/tune/{method}.json", False)),
          Artifact("out", "model", "data/models/{method}_s{seed}"), UNLEARN_PARAMS, {**METHOD, **SEED},
          ("method", "seed")),
    *_per_model("extract", "extract", "activations", "data/activations", EXTRACT_PARAMS),
    *_per_model("attack", "attack", "attack", "data/attacks", ATTACK_PARAMS),
    Stage("metrics", "metrics",
          (Artifact("activations", "activation_store", "data/activations"),
           Artifact("attacks", "attacks", "data/attacks", False), Artifact("models", "sidecars", "data/models")),
          Artifact("out", "metrics", "data/metrics"),
          ("metrics", "retrain.seeds", "unlearn.methods", "unlearn.extra_seeds", "split.scenario")),
    Stage("report", "report",
          (Artifact("metrics", "metrics", "data/metrics"), Artifact("split", "split_summary", "data/split"), Artifact("models", "sidecars", "data/models"),
           Artifact("activations", "activation_store", "data/activations"),
           Artifact("tune", "json_folder", "data/tune", False), Artifact("", "lineage", "dvc.lock")),
          Artifact("out", "report", "data/report"),
          ("data", "split", "model", "extract.layers", "retrain.seeds", "unlearn.methods", "policy", *RUNTIME)),
)


def by_name(name: str) -> Stage:
    """The stage of a dvc.yaml stage name, matrix item or not ("extract_retrain@3" -> extract_retrain)."""
    base = name.split("@")[0]
    for stage in STAGES:
        if stage.name == base:
            return stage
    raise KeyError(f"no stage {base!r} in the stage table (muaudit/runner/stage_table.py)")


def of_module(module: str) -> list[Stage]:
    return [s for s in STAGES if s.module == module]
