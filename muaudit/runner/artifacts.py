"""The one place that reads and writes stage artifacts: a reader and a writer per kind of the stage table.

A stage body (tasks/<stage>.py `run`) sees data only: a SplitData, a StoredModel, a dict, a DataFrame, an
activation store. What the files look like is decided here and in the core's format modules (muaudit.data.split,
muaudit.models.weights, muaudit.store); every write replaces its target atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from muaudit.config import Params
from muaudit.errors import BadInputError
from muaudit.io import atomic_dir, atomic_write_bytes, atomic_write_json, read_json


def read_dataset(path: str, params: Params, loaded: dict) -> Any:
    from muaudit.data import get_dataset

    d = params.data
    return get_dataset(d.name, d.path, label_column=d.label_column, id_column=d.id_column)


def read_split(path: str, params: Params, loaded: dict) -> Any:
    from muaudit.data import load_split

    return load_split(path)


def read_model(path: str, params: Params, loaded: dict) -> Any:
    """The sidecar, and the network built from params.model for the split's shape (none for a model whose
    stage recorded only an outcome: status failed or skipped)."""
    from muaudit.models import build_model, load_model
    from muaudit.models.weights import StoredModel

    meta = read_json(Path(path) / "model.json", "the model sidecar written by the model's stage")
    if meta.get("status", "ok") != "ok":
        return StoredModel(meta)
    split = loaded["split"]
    m = params.model
    net, _ = load_model(build_model(m.name, split.input_shape, split.num_classes, **m.kwargs), path)
    return StoredModel(meta, net)


def read_json_file(path: str, params: Params, loaded: dict) -> Any:
    return read_json(path, "a stage's JSON output")


def read_json_folder(path: str, params: Params, loaded: dict) -> dict[str, dict]:
    """file stem -> content of every *.json in the folder (data/tune_reference, data/tune)."""
    return {f.stem: read_json(f, "a stage's JSON output") for f in sorted(Path(path).glob("*.json"))}


def read_activation_store(path: str, params: Params, loaded: dict) -> Any:
    from muaudit.metrics.context import ParquetStore

    return ParquetStore(path)


def read_attacks(path: str, params: Params, loaded: dict) -> dict[str, dict]:
    """model -> the attack stage's result (data/attacks/model=<id>/attack.json)."""
    return {f.parent.name.removeprefix("model="): read_json(f, "the attack stage's results")
            for f in sorted(Path(path).glob("model=*/attack.json"))}


def read_sidecars(path: str, params: Params, loaded: dict) -> dict[str, dict]:
    """model -> its sidecar (data/models/<id>/model.json)."""
    return {f.parent.name: read_json(f, "the model sidecar") for f in sorted(Path(path).glob("*/model.json"))}


def read_metrics(path: str, params: Params, loaded: dict) -> Any:
    import pyarrow.parquet as pq

    from muaudit.io import require_file

    table = require_file(Path(path) / "metrics.parquet", "the metrics table written by the metrics stage")
    try:
        return pq.read_table(table).to_pandas()
    except Exception as err:  # pyarrow raises several types for truncated files
        raise BadInputError(f"{table}: not a readable Parquet file ({type(err).__name__})") from None


def read_split_summary(path: str, params: Params, loaded: dict) -> dict:
    """split.json, and the forget set's fingerprint from the manifest (without loading the samples)."""
    import hashlib

    import pyarrow.parquet as pq

    info = read_json(Path(path) / "split.json", "the split summary written by the split stage")
    meta = pq.read_table(Path(path) / "manifest.parquet", columns=["sample_id", "role"]).to_pandas()
    ids = sorted(meta[meta.role == "forget"].sample_id.astype(str))
    return {**info, "forget_fingerprint": hashlib.sha256("\n".join(ids).encode()).hexdigest()}


def read_lineage(path: str, params: Params, loaded: dict, inputs: list[str] | None = None) -> dict:
    """What the report states about how it was made: every locked output with its md5 and the MLflow run
    that made it, the code commit, the audit's identity and the sha256 of every input file."""
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
    inputs = inputs or []
    return {"code_commit": commit, "artifacts": artifacts, "stage_runs": runs,
            "identity": make_identity(ws, params.model_dump(), commit, inputs),
            "input_hashes": artifact_hashes(ws, inputs)}


READERS: dict[str, Callable[[str, Params, dict], Any]] = {
    "dataset": read_dataset, "split": read_split, "model": read_model, "json": read_json_file,
    "json_folder": read_json_folder, "activation_store": read_activation_store, "attacks": read_attacks,
    "sidecars": read_sidecars, "metrics": read_metrics, "split_summary": read_split_summary,
    "lineage": read_lineage,
}


def write_split(path: str, value) -> None:
    from muaudit.data import write_split as write

    write(path, value.dataset, value.roles, value.tune)


def write_model(path: str, value) -> None:
    from muaudit.models import save_model

    if value.net is None:  # an outcome without weights: the sidecar alone says why
        with atomic_dir(path) as tmp:
            atomic_write_json(Path(tmp) / "model.json", value.meta)
    else:
        save_model(value.net, path, value.meta)


def write_json(path: str, value) -> None:
    atomic_write_json(path, value)


def write_activations(path: str, value) -> None:
    """Streamed: the body's batches are computed while they are written, one batch in memory at a time."""
    from muaudit.store import STATUS_FILE, stream_model_activations

    if value.status != "ok":
        with atomic_dir(path) as tmp:
            atomic_write_json(Path(tmp) / STATUS_FILE, {"status": value.status})
        return
    with stream_model_activations(path, value.layer_meta) as writer:
        for batch in value.batches:
            writer.append(*batch)


def write_attack(path: str, value) -> None:
    with atomic_dir(path) as tmp:
        atomic_write_json(Path(tmp) / "attack.json", value)


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

