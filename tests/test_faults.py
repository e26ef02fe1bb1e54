"""Real faults on a real `muaudit run`: SIGKILL and SIGINT mid-training, and a method that diverges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, TINY, deep_update, make_workspace, muaudit

pytestmark = pytest.mark.slow

# Long enough training that the kill lands while a retrain stage is running.
# long enough (~5 s a model here) that a retrain is still training when the signal arrives
SLOW_TRAIN = deep_update(yaml.safe_load(yaml.safe_dump(TINY)), {"train": {"epochs": 60}})


def mlflow_runs(ws: Path):
    from mlflow.tracking import MlflowClient

    if not (ws / "mlflow.db").exists():
        return []
    cl = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    exp = cl.get_experiment_by_name("muaudit")
    return cl.search_runs([exp.experiment_id], max_results=1000) if exp else []


def lock_stages(ws: Path) -> set[str]:
    path = ws / "dvc.lock"
    return set((yaml.safe_load(path.read_text()) or {}).get("stages", {})) if path.exists() else set()


def start_and_signal(ws: Path, prefect_url: str, sig: int) -> tuple[subprocess.Popen, dict[str, str]]:
    """Start `muaudit run` in its own process group; once a retrain stage is training, signal the group."""
    proc = subprocess.Popen([sys.executable, "-m", "muaudit.cli", "-C", str(ws), "run", "--workers", "2"],
                            cwd=ROOT, env={**os.environ, "PREFECT_API_URL": prefect_url}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        # Read MLflow only once the run has created its database (it did before the split was recorded):
        # opening it earlier would race the schema migration.
        running = {r.info.run_name for r in mlflow_runs(ws) if r.info.status == "RUNNING"} if lock_stages(ws) else set()
        if any(name.startswith("retrain@") for name in running):
            time.sleep(0.5)  # into the epochs, not at the start
            os.killpg(proc.pid, sig)
            return proc, {r.info.run_id: r.info.run_name for r in mlflow_runs(ws) if r.info.status == "RUNNING"}
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("no retrain stage started within 300 s")


def group_gone(pgid: int, timeout_s: float = 30) -> bool:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def snapshot(ws: Path, stages: set[str]) -> dict[str, tuple[int, int]]:
    lock = yaml.safe_load((ws / "dvc.lock").read_text())["stages"]
    outs = [ws / o["path"] for s in stages for o in lock[s]["outs"]]
    return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for out in outs for p in [out, *out.rglob("*")]}


def check_interrupted_then_resumed(ws: Path, prefect_url: str, interrupted: dict[str, str]) -> None:
    """The guarantees after a kill: nothing half-recorded, and the next run redoes exactly what is missing."""
    done = lock_stages(ws)
    assert "split" in done and not done & set(interrupted.values())  # retrain needs only the split
    for model_dir in (ws / "data/models").iterdir():
        if not model_dir.name.startswith("."):  # a visible model folder is always complete
            assert {"model.json"} <= {p.name for p in model_dir.iterdir()}
    before = snapshot(ws, done)

    second = muaudit(ws, "run", "--workers", "2", env={"PREFECT_API_URL": prefect_url})
    assert second.returncode == 0, second.stderr[-3000:]
    runs = mlflow_runs(ws)
    audit = max((r for r in runs if r.data.tags.get("muaudit.kind") == "audit"), key=lambda r: r.info.start_time)
    reran = {r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == audit.info.run_id}
    assert reran == lock_stages(ws) - done  # exactly the unrecorded stages, none of the recorded ones
    assert snapshot(ws, done) == before
    assert not [p for p in (ws / "data").rglob("*.tmp")]
    stuck = [r.info.run_name for r in runs if r.info.status == "RUNNING"]
    assert not stuck
    statuses = {r.info.run_name: r.info.status for r in runs if r.info.run_id in interrupted}
    assert set(statuses) == set(interrupted.values()) and set(statuses.values()) == {"KILLED"}, statuses


def test_sigkill_mid_training(tmp_path: Path, prefect_server: str):
    ws = make_workspace(tmp_path / "ws", SLOW_TRAIN)
    proc, interrupted = start_and_signal(ws, prefect_server, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL and group_gone(proc.pid)
    assert any(name.startswith("retrain@") for name in interrupted.values())
    check_interrupted_then_resumed(ws, prefect_server, interrupted)


def test_sigint_stops_cleanly(tmp_path: Path, prefect_server: str):
    ws = make_workspace(tmp_path / "ws", SLOW_TRAIN)
    proc, interrupted = start_and_signal(ws, prefect_server, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted" in err.splitlines()[-1]
    assert group_gone(proc.pid)  # the worker pool was shut down with it
    assert not [r.info.run_name for r in mlflow_runs(ws) if r.info.status == "RUNNING"]  # ended, not reaped
    check_interrupted_then_resumed(ws, prefect_server, interrupted)


def test_diverging_method_fails_alone(tmp_path: Path, prefect_server: str):
    blowup = {"unlearn": {"gradient_ascent": {"lr": 1.0e6, "max_grad_norm": 1.0e9}}}
    ws = make_workspace(tmp_path / "ws", deep_update(yaml.safe_load(yaml.safe_dump(TINY)), blowup))
    result = muaudit(ws, "run", "--workers", "2", env={"PREFECT_API_URL": prefect_server})
    assert result.returncode == 1, result.stderr[-3000:]
    assert "at least one method failed" in result.stderr and "error: method gradient_ascent failed: " in result.stderr
    rows = {line.split("|")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("| ")}
    assert "failed" in rows["gradient_ascent"] and "failed" not in rows["finetune"], result.stdout
    report = (ws / "data/report/report.md").read_text()
    failures = report.split("## Failed or skipped")[1].split("\n## ")[0]
    assert "**gradient_ascent**: " in failures and "finetune" not in failures, report
    assert lock_stages(ws) >= {"unlearn@finetune", "unlearn@gradient_ascent", "report"}
