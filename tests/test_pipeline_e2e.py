"""The whole pipeline for real (Prefect flow, DVC stages, MLflow runs) on a tiny params file."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import BIN, TINY, make_workspace, muaudit


def snapshot(ws: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every artifact file: unchanged means the stage did not rerun."""
    return {
        str(p.relative_to(ws)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in (ws / "data").rglob("*")
        if p.is_file() and ".gitignore" not in p.name
    }


def child_runs(ws: Path, parent_id: str) -> set[str]:
    from mlflow.tracking import MlflowClient

    cl = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    runs = cl.search_runs(cl.get_experiment_by_name("muaudit").experiment_id,
                          f"tags.mlflow.parentRunId = '{parent_id}'", max_results=500)
    return {r.info.run_name for r in runs}


def audit_runs(ws: Path):
    from mlflow.tracking import MlflowClient

    cl = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    return cl.search_runs(cl.get_experiment_by_name("muaudit").experiment_id, "tags.`muaudit.kind` = 'audit'",
                          order_by=["attributes.start_time ASC"], max_results=50)


def wait_for_runs(ws: Path, count: int, timeout_s: float = 120):
    """The audit runs once there are count of them (the no-op's is written in the background)."""
    deadline = time.monotonic() + timeout_s
    while len(runs := audit_runs(ws)) < count or runs[-1].info.status == "RUNNING":
        assert time.monotonic() < deadline, f"{len(runs)} audit runs after {timeout_s} s, expected {count}"
        time.sleep(0.5)
    return runs


# Not marked slow: `make test` (and so CI) runs this one real audit on the tiny params: a run, `dvc status`
# agreeing that nothing is stale, a no-op, and a one-method change rerunning only that method's stages.
def test_run_noop_and_one_method_change(tiny_workspace: Path, prefect_server: str):
    ws = tiny_workspace
    env = {"PREFECT_API_URL": prefect_server}
    first = muaudit(ws, "run", "--workers", "2", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Report:" in first.stdout and (ws / "data/report/index.html").exists()
    assert "| finetune |" in first.stdout
    status = subprocess.run([str(BIN / "dvc"), "status"], cwd=ws, capture_output=True, text=True)
    assert "up to date" in status.stdout

    runs = audit_runs(ws)
    stages = child_runs(ws, runs[-1].info.run_id)
    assert {"split", "train", "retrain@1", "retrain@2", "unlearn@finetune", "extract_original", "metrics",
            "report", "attack_original", "attack_unlearn@finetune", "tune@finetune", "tune_reference@1"} <= stages \
        and len(stages) == 22  # with a tune@ per method and a tune_reference@ per seed (unlearn.tune: [] here)
    # progress, piped: a line as each stage starts and ends, with the count, the outcome and the duration
    assert re.search(r"^\[ ?\d+/22\] train +started$", first.stdout, re.M)
    assert re.search(r"^\[ ?\d+/22\] train +ok +\d+\.\d s$", first.stdout, re.M)
    assert re.search(r"^\[22/22\] report +ok +\d+\.\d s$", first.stdout, re.M)
    # MLflow: the tensors' device, and the loss per epoch of a training stage
    from mlflow.tracking import MlflowClient

    cl = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    train = cl.search_runs([runs[-1].info.experiment_id], "attributes.run_name = 'train'")[0]
    assert train.data.tags["env.device"] == "cpu" and train.data.tags["env.device_requested"] == "cpu"
    assert [m.step for m in cl.get_metric_history(train.info.run_id, "loss")] == [1, 2, 3]
    assert not any((ws / ".muaudit/checkpoints").glob("*/*")) and not (ws / ".muaudit/progress").exists()
    before = snapshot(ws)

    noop = muaudit(ws, "run", env={"PREFECT_API_URL": "http://127.0.0.1:9/api"})  # no Prefect is needed
    assert noop.returncode == 0 and "Nothing is stale" in noop.stdout
    runs = wait_for_runs(ws, len(runs) + 1)  # a background process records the no-op (muaudit.runner.noop_record)
    assert runs[-1].data.tags["muaudit.noop"] == "true" and runs[-1].data.tags["muaudit.stale_stages"] == ""
    assert runs[-1].info.status == "FINISHED"
    assert snapshot(ws) == before

    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["unlearn"]["gradient_ascent"]["lr"] = 0.0002  # half the default: unclipped ascent (#15) diverges at 0.02
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = muaudit(ws, "status")
    assert "unlearn@gradient_ascent:" in status.stdout and "unlearn.gradient_ascent modified" in status.stdout
    assert "unlearn@finetune" not in status.stdout

    second = muaudit(ws, "run", "--workers", "2", env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    after = snapshot(ws)
    changed = {p for p in before if before[p] != after.get(p)}
    assert changed, "nothing reran"
    reran_prefixes = ("data/tune/gradient_ascent.json", "data/models/gradient_ascent/", "data/activations/model=gradient_ascent/",
                      "data/attacks/model=gradient_ascent/", "data/metrics/", "data/report/")
    assert all(p.startswith(reran_prefixes) for p in changed), sorted(changed)
    assert any(p.startswith("data/models/gradient_ascent/") for p in changed)
    # tune@gradient_ascent reads the method's block (its search overrides live there), so it reruns too
    assert child_runs(ws, audit_runs(ws)[-1].info.run_id) == {
        "tune@gradient_ascent", "unlearn@gradient_ascent", "extract_unlearn@gradient_ascent", "attack_unlearn@gradient_ascent", "metrics",
        "report"}


@pytest.mark.slow  # dvc repro runs each stage in a fresh process: 4-9 min on 2 cores
def test_muaudit_run_and_dvc_repro_make_identical_artifacts(tmp_path: Path, prefect_server: str):
    a = make_workspace(tmp_path / "a", TINY)
    b = make_workspace(tmp_path / "b", TINY)
    assert muaudit(a, "run", "--workers", "2", env={"PREFECT_API_URL": prefect_server}).returncode == 0
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    repro = subprocess.run([str(BIN / "dvc"), "repro"], cwd=b, capture_output=True, text=True, env=env, timeout=900)
    assert repro.returncode == 0, repro.stderr[-3000:]

    def outs(ws: Path) -> dict:
        lock = yaml.safe_load((ws / "dvc.lock").read_text())["stages"]
        return {name: [(o["path"], o["md5"]) for o in st["outs"]] for name, st in lock.items() if name != "report"}

    assert outs(a) == outs(b)
    assert (a / "data/metrics/metrics.parquet").read_bytes() == (b / "data/metrics/metrics.parquet").read_bytes()
