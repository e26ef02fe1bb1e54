"""MLflow as its users expect: the standard source tags, the dataset as a run input, one run per judged model."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
from pathlib import Path

from muaudit.runner import tracking


def test_runs_carry_source_tags_the_dataset_and_one_run_per_model(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    (tmp_path / "f").write_text("x")
    for cmd in (["git", "init", "-q"], ["git", "add", "f"], ["git", "commit", "-qm", "c"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, env={**os.environ, **env})
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    fingerprint = "ab" * 32
    with tracking.run("report", tmp_path, source="tasks.report") as rec:
        rec.log_dataset("digits", fingerprint, "digits", {"fingerprint": fingerprint, "forget": 3, "retain": 9})
        child = tracking.method_run(rec, tmp_path, "finetune", {"method": "finetune", "lr": 0.01},
                                    {"cka/fc/forget": 0.5}, {"muaudit.verdict": "output-only"}, "tasks.report")
    cl = tracking.client(tmp_path)
    parent = cl.get_run(rec.run_id)
    assert parent.data.tags["mlflow.source.git.commit"] == sha and parent.data.tags["muaudit.git.dirty"] == "false"
    assert parent.data.tags["mlflow.source.name"] == "tasks.report"
    assert parent.data.tags["mlflow.user"] == getpass.getuser()
    assert tracking.commit_of(parent.data.tags) == sha
    (ds,) = parent.inputs.dataset_inputs
    assert (ds.dataset.name, ds.dataset.digest) == ("digits", fingerprint[:36])
    assert json.loads(ds.dataset.profile)["fingerprint"] == fingerprint
    run = cl.get_run(child)
    assert run.info.status == "FINISHED" and run.info.run_name == "finetune"
    assert run.data.tags["mlflow.parentRunId"] == rec.run_id and run.data.tags["muaudit.verdict"] == "output-only"
    assert run.data.metrics == {"cka/fc/forget": 0.5} and run.data.params == {"method": "finetune", "lr": "0.01"}
    exp = cl.get_experiment_by_name(tracking.EXPERIMENT).experiment_id
    found = cl.search_runs([exp], "tags.`muaudit.kind` = 'verdict'")
    assert [r.info.run_id for r in found] == [child]


def test_judged_values_become_valid_mlflow_metric_names():
    from tasks.report import mlflow_names

    assert mlflow_names({"asymmetry/block1/": 0.1, "cka/fc/forget": 0.5, "policy_pass": 1}) == {
        "asymmetry/block1": 0.1, "cka/fc/forget": 0.5, "policy_pass": 1}


def test_a_fresh_store_is_a_copy_of_the_migrated_template(tmp_path, monkeypatch):
    """No migration on an audit's critical path: the store of a fresh workspace starts as the template's bytes,
    and records runs like a store MLflow created itself."""
    monkeypatch.setenv("MUAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    template = tracking.store_template()
    assert template.parent == tmp_path / "cache" and template.exists()
    ws = tmp_path / "ws"
    ws.mkdir()
    tracking.fresh_store(ws / "mlflow.db")
    assert (ws / "mlflow.db").read_bytes() == template.read_bytes()
    with tracking.run("stage", ws) as rec:
        rec.log_metrics({"x": 1.0})
    cl = tracking.client(ws)
    runs = cl.search_runs([tracking.experiment_id(cl, ws)])
    assert [r.data.metrics["x"] for r in runs] == [1.0]


def test_without_a_writable_cache_mlflow_creates_the_store_itself(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the cache folder would be: nothing can be written under it
    monkeypatch.setenv("MUAUDIT_CACHE_DIR", str(blocked / "cache"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ws = tmp_path / "ws"
    ws.mkdir()
    with tracking.run("stage", ws) as rec:
        rec.log_metrics({"x": 2.0})
    assert (ws / "mlflow.db").exists() and not list(ws.glob("mlflow.db.*.tmp"))
