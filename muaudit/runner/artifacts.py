"""The one place that reads and writes stage artifacts: a reader and a writer per kind of the stage table.

A stage body (tasks/<stage>.py `run`) sees data only: a SplitData, a StoredModel, a dict, a DataFrame, an
activation store. What the files look like is decided here and in the core's format modules (muaudit.data.split,
muaudit.models.weights, muaudit.store); every write replaces its target atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muaudit.config import Params
from muaudit.io import atomic_dir, atomic_write_bytes, atomic_write_json, read_json, read_parquet


@dataclass
class ReadContext:
    """What a reader may need besides its path: the params, the inputs read before it (the split comes
    first: a model is built for its shape) and the paths of the stage's named inputs."""

    params: Params | None = None
    loaded: dict = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)


def read_dataset(path: str, ctx: ReadContext) -> Any:
    from muaudit.data import get_dataset

    d = ctx.params.data
    return get_dataset(d.name, d.path, label_column=d.label_column, id_column=d.id_column)


def read_split(path: str, ctx: ReadContext | None = None) -> Any:
    from muaudit.data import load_split

    return load_split(path)


def read_model(path: str, ctx: ReadContext) -> Any:
    """The sidecar, and the network built from params.model for the split's shape (none for a model whose
    stage recorded only an outcome: status failed or skipped)."""
    from muaudit.models import build_model
    from muaudit.models.weights import WEIGHTS, StoredModel, load_weights

    stored = StoredModel(read_json(Path(path) / "model.json", "the model sidecar written by the model's stage"))
    if not stored.ok:
        return stored
    split, m = ctx.loaded["split"], ctx.params.model
    stored.net = load_weights(build_model(m.name, split.input_shape, split.num_classes, **m.kwargs),
                              Path(path) / WEIGHTS).eval()
    return stored


def read_json_file(path: str, ctx: ReadContext | None = None) -> Any:
    return read_json(path, "a stage's JSON output")


def read_json_folder(path: str, ctx: ReadContext | None = None) -> dict[str, dict]:
    """file stem -> content of every *.json in the folder (data/tune_reference, data/tune)."""
    return {f.stem: read_json(f, "a stage's JSON output") for f in sorted(Path(path).glob("*.json"))}


def read_activation_store(path: str, ctx: ReadContext | None = None) -> Any:
    from muaudit.metrics.context import ParquetStore

    return ParquetStore(path)


def read_attacks(path: str, ctx: ReadContext | None = None) -> dict[str, dict]:
    """model -> the attack stage's result (data/attacks/model=<id>/attack.json)."""
    return {f.parent.name.removeprefix("model="): read_json(f, "the attack stage's results")
            for f in sorted(Path(path).glob("model=*/attack.json"))}


def read_sidecars(path: str, ctx: ReadContext | None = None) -> dict[str, dict]:
    """model -> its sidecar (data/models/<id>/model.json)."""
    return {f.parent.name: read_json(f, "the model sidecar") for f in sorted(Path(path).glob("*/model.json"))}


def read_metrics(path: str, ctx: ReadContext | None = None) -> Any:
    return read_parquet(Path(path) / "metrics.parquet", "the metrics table written by the metrics stage").to_pandas()


def read_split_summary(path: str, ctx: ReadContext | None = None) -> dict:
    """split.json, and the forget set's fingerprint from the manifest (without loading the samples)."""
    from muaudit.data.split import forget_fingerprint

    info = read_json(Path(path) / "split.json", "the split summary written by the split stage")
    meta = read_parquet(Path(path) / "manifest.parquet", "the split manifest written by the split stage",
                        columns=["sample_id", "role"]).to_pandas()
    return {**info, "forget_fingerprint": forget_fingerprint(meta.sample_id.to_numpy(), meta.role.to_numpy())}


def read_lineage(path: str, ctx: ReadContext) -> dict:
    """What the report states about how it was made: every locked output with its md5 and the MLflow run
    that made it, the code commit, the audit's identity and the sha256 of every input file (ctx.paths)."""
    from muaudit.lineage.identity import make_identity
    from muaudit.lineage.lock import read_lock
    from muaudit.lineage.manifest import artifact_hashes
    from muaudit.runner.records import stage_runs
    from muaudit.runner.tracking import git_commit

    ws = Path.cwd()
    stages = read_lock(ws) if (ws / path).exists() else {}
    runs = stage_runs(ws, list(stages))
    artifacts = [{"path": o.path, "stage": s.name, "md5": o.md5, **{
        k: runs.get(s.name, {}).get(k, "") for k in ("run_id", "git_commit")}} for s in stages.values() for o in s.outs]
    for a in artifacts:
        a["mlflow_run_id"] = a.pop("run_id") or "–"
    commit = git_commit(ws)
    return {"code_commit": commit, "artifacts": artifacts, "stage_runs": runs,
            "identity": make_identity(ws, ctx.params.model_dump(), commit, ctx.paths),
            "input_hashes": artifact_hashes(ws, ctx.paths)}


READERS: dict[str, Callable[[str, ReadContext], Any]] = {
    "dataset": read_dataset, "split": read_split, "model": read_model, "json": read_json_file,
    "json_folder": read_json_folder, "activation_store": read_activation_store, "attacks": read_attacks,
    "sidecars": read_sidecars, "metrics": read_metrics, "split_summary": read_split_summary,
    "lineage": read_lineage,
}


def _write_folder_of_one(path: str, name: str, value) -> None:
    """A stage's output folder holding one JSON file, replaced whole."""
    with atomic_dir(path) as tmp:
        atomic_write_json(Path(tmp) / name, value)


def write_split(path: str, value) -> None:
    from muaudit.data import write_split as write

    write(path, value.dataset, value.roles, value.tune)


def write_model(path: str, value) -> None:
    from muaudit.models import save_model

    if value.net is None:  # an outcome without weights: the sidecar alone says why
        _write_folder_of_one(path, "model.json", value.meta)
    else:
        save_model(value.net, path, value.meta)


def write_json(path: str, value) -> None:
    atomic_write_json(path, value)


def write_activations(path: str, value) -> None:
    """Streamed: the body's batches are computed while they are written, one batch in memory at a time."""
    from muaudit.store import STATUS_FILE, stream_model_activations

    if value.status != "ok":
        _write_folder_of_one(path, STATUS_FILE, {"status": value.status})
        return
    with stream_model_activations(path, value.layer_meta) as writer:
        for batch in value.batches:
            writer.append(*batch)


def write_attack(path: str, value) -> None:
    _write_folder_of_one(path, "attack.json", value)


def write_metrics(path: str, value) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from muaudit.io import atomic_write

    arrow = pa.Table.from_pandas(value, preserve_index=False)
    atomic_write(Path(path) / "metrics.parquet", lambda tmp: pq.write_table(arrow, tmp, compression="zstd"))


def write_report(path: str, value: dict[str, bytes]) -> None:
    """The report's files, each replaced atomically (the folder also holds DVC's metrics and plots files)."""
    for name, content in value.items():
        atomic_write_bytes(Path(path) / name, content)


WRITERS: dict[str, Callable[[str, Any], None]] = {
    "split": write_split, "model": write_model, "json": write_json, "activations": write_activations,
    "attack": write_attack, "metrics": write_metrics, "report": write_report,
}

