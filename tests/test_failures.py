"""muaudit.runner.failures: a failed stage is one line (stage, where, root cause, trace file); the full trace is in
the file and on the stage's MLflow run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tasks.split
from muaudit.errors import BadInputError, StepError, root_cause
from muaudit.metrics import registry
from muaudit.metrics.compute import metrics_table
from muaudit.metrics.context import ArrayStore, Context
from muaudit.runner.stage import run as run_stage

REAL_SPLIT = tasks.split.run


def _stage(tmp_path: Path, body, capsys, monkeypatch) -> tuple[int, str]:
    """Run the split stage with its body replaced by body (None: the real one)."""
    monkeypatch.setattr(tasks.split, "run", body or REAL_SPLIT)
    (tmp_path / "params.yaml").write_text("{}\n")
    code = run_stage("split", ["--params", str(tmp_path / "params.yaml"), "--out", str(tmp_path / "split")])
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return code, err


def test_root_cause_is_one_line():
    assert root_cause(ValueError("Input X contains NaN.\nLogisticRegression does not accept...")) == \
        "ValueError: Input X contains NaN."
    assert root_cause(KeyError()) == "KeyError"
    assert root_cause(BadInputError("data.path: x: bad")) == "data.path: x: bad"


def test_unexpected_error_is_one_line_with_its_trace_in_a_log_and_on_the_mlflow_run(tmp_path, capsys, monkeypatch):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)

    def body(params, hooks, **inputs):
        def deep():
            raise ZeroDivisionError("division by zero in the deep helper")

        deep()

    code, err = _stage(tmp_path, body, capsys, monkeypatch)
    assert code == 1
    assert err.startswith("error: split: ZeroDivisionError: division by zero in the deep helper (trace: .muaudit/logs/")
    trace = tmp_path / err.split("(trace: ")[1].rstrip(")")
    assert "in deep" in trace.read_text() and "Traceback (most recent call last)" in trace.read_text()
    cl = MlflowClient(uri)
    run = cl.search_runs([cl.get_experiment_by_name("muaudit").experiment_id])[0]
    assert run.info.status == "FAILED" and run.data.tags["muaudit.error"] == err.removeprefix("error: ")
    logged = Path(cl.download_artifacts(run.info.run_id, "traceback.txt", str(tmp_path / "dl"))).read_text()
    assert logged == trace.read_text()


def test_bad_input_in_a_stage_is_its_own_line_without_a_trace(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MUAUDIT_NO_TRACKING", "1")

    def body(params, hooks, **inputs):
        raise BadInputError("data/split/manifest.parquet: not a readable Parquet file")

    code, err = _stage(tmp_path, body, capsys, monkeypatch)
    assert (code, err) == (2, "error: split: data/split/manifest.parquet: not a readable Parquet file")
    assert not (tmp_path / ".muaudit").exists()


def test_in_a_warm_worker_the_line_and_the_run_id_go_to_the_outcome_file(tmp_path, capsys, monkeypatch):
    """muaudit run's workers read a stage's MLflow run id and failure from the file MUAUDIT_STAGE_OUTCOME names
    (no module state): the line is handed back there, not printed."""
    import json

    from muaudit.runner.stage import OUTCOME_ENV

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv(OUTCOME_ENV, str(tmp_path / "outcome.json"))

    def body(params, hooks, **inputs):
        raise BadInputError("data/split/manifest.parquet: not a readable Parquet file")

    code, err = _stage(tmp_path, body, capsys, monkeypatch)
    outcome = json.loads((tmp_path / "outcome.json").read_text())
    assert (code, err) == (2, "")
    assert outcome["failure"] == "split: data/split/manifest.parquet: not a readable Parquet file"
    assert len(outcome["run_id"]) == 32  # the stage's MLflow run, opened before the body failed

    _stage(tmp_path, None, capsys, monkeypatch)
    outcome = json.loads((tmp_path / "outcome.json").read_text())
    assert outcome["failure"] == "" and len(outcome["run_id"]) == 32


def test_a_failing_metric_names_itself_the_model_and_the_layer(monkeypatch):
    rng = np.random.default_rng(0)
    n = 12
    roles = np.array(["forget", "retain", "test"] * (n // 3))
    models = ["retrain_1", "retrain_2", "finetune"]
    store = ArrayStore(np.array([f"s{i}" for i in range(n)]), roles, np.arange(n) % 2,
                       {m: {"logits": rng.random((n, 2)), "fc": rng.random((n, 3))} for m in models})
    ctx = Context(store, models, models[:2], "random")

    def broken(ctx, params):
        ctx.raw("retrain_1", "fc")
        x = ctx.raw("finetune", "logits")
        raise ValueError(f"Input X contains NaN (shape {x.shape}).\nmore detail")

    spec = registry.MetricSpec("broken", broken, registry.MetricParams, {"broken": "both"}, "output")
    cfg = registry.parse_config({"enabled": []}).model_copy(update={"enabled": ["broken"]})
    monkeypatch.setattr(registry, "get", lambda name, get=registry.get: spec if name == "broken" else get(name))
    with pytest.raises(StepError) as err:
        metrics_table(ctx, dict.fromkeys(models, "ok"), models[:2], cfg, {})
    assert str(err.value) == "broken on model finetune, layer logits: ValueError: Input X contains NaN (shape (12, 2))."
    assert isinstance(err.value.__cause__, ValueError)
