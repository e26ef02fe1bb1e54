"""Real faults on a real `muaudit run`: SIGKILL, SIGINT and SIGTERM (mid-training, during the checks, the
Prefect server start and a commit), and a method that diverges."""

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


def start(ws: Path, env: dict[str, str]) -> subprocess.Popen:
    """`muaudit run` in its own process group."""
    return subprocess.Popen([sys.executable, "-m", "muaudit.runner.cli", "-C", str(ws), "run", "--workers", "2"],
                            cwd=ROOT, env={**os.environ, **env}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen, ready, what: str, timeout_s: float = 300) -> None:
    """Poll until ready() is true; the audit must still be running meanwhile."""
    deadline = time.time() + timeout_s
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"the audit ended before {what}: {proc.communicate()}")
        if time.time() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"not {what} within {timeout_s:.0f} s")
        time.sleep(0.05)


def running_runs(ws: Path) -> dict[str, str]:
    # Read MLflow only once the run has created its database (it did before the split was recorded):
    # opening it earlier would race the schema migration.
    return {r.info.run_id: r.info.run_name for r in mlflow_runs(ws) if r.info.status == "RUNNING"} if lock_stages(ws) else {}


def start_and_signal(ws: Path, prefect_url: str, sig: int, group: bool = True
                     ) -> tuple[subprocess.Popen, dict[str, str], list]:
    """Start `muaudit run`; once a retrain stage is training, signal its process group (or only the audit
    process, as `timeout`, Kubernetes and `kill` do). Returns the process, the RUNNING MLflow runs at the
    signal, and the audit's descendant processes just before it."""
    proc = start(ws, {"PREFECT_API_URL": prefect_url})
    wait_for(proc, lambda: any(n.startswith("retrain@") for n in running_runs(ws).values()), "a retrain stage ran")
    time.sleep(0.5)  # into the epochs, not at the start
    children = descendants(proc)
    (os.killpg if group else os.kill)(proc.pid, sig)
    return proc, running_runs(ws), children


def descendants(proc: subprocess.Popen) -> list:
    import psutil

    return psutil.Process(proc.pid).children(recursive=True)


def none_left(processes: list, timeout_s: float = 30) -> list:
    """The processes still alive after timeout_s (zombies count as gone); polls."""
    import psutil

    deadline = time.time() + timeout_s
    while True:
        alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive or time.time() > deadline:
            return [" ".join(p.cmdline()[:4]) for p in alive]
        time.sleep(0.2)


def stopped_by_sigterm(proc: subprocess.Popen, children: list) -> None:
    """Exit 143 with one line, and no process the audit started survives it."""
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 143, err[-3000:]
    assert err.strip().startswith("terminated (SIGTERM)") and "\n" not in err.strip(), err[-3000:]
    assert none_left(children) == []


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
    proc, interrupted, children = start_and_signal(ws, prefect_server, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL and group_gone(proc.pid) and none_left(children) == []
    assert any(name.startswith("retrain@") for name in interrupted.values())
    check_interrupted_then_resumed(ws, prefect_server, interrupted)


def test_sigterm_during_the_checks_and_the_server_start(tmp_path: Path, prefect_server: str):
    ws = make_workspace(tmp_path / "ws", TINY)
    # its own temporary Prefect server, in a Prefect home of its own (a server stopped while it migrates a
    # database must not touch the user's)
    own = {"PREFECT_API_URL": "", "PREFECT_HOME": str(tmp_path / "prefect-home")}
    proc = start(ws, own)
    lock = ws / ".muaudit/audit.lock"
    wait_for(proc, lambda: lock.exists() and lock.read_text() == f"pid {proc.pid}", "holding the workspace")
    children = descendants(proc)
    os.kill(proc.pid, signal.SIGTERM)
    stopped_by_sigterm(proc, children)
    assert not (ws / "dvc.lock").exists() and not (ws / "data/split").exists()

    (ws / ".muaudit/prefect-server.log").unlink(missing_ok=True)
    proc = start(ws, own)
    wait_for(proc, lambda: (ws / ".muaudit/prefect-server.log").exists() and descendants(proc), "starting Prefect")
    children = descendants(proc)
    os.kill(proc.pid, signal.SIGTERM)
    stopped_by_sigterm(proc, children)  # the Prefect server, in a session of its own, included
    assert not (ws / "dvc.lock").exists()
    assert not [r.info.run_name for r in mlflow_runs(ws) if r.info.status == "RUNNING"]

    resumed = muaudit(ws, "run", "--workers", "2", env={"PREFECT_API_URL": prefect_server})
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    verified = muaudit(ws, "verify")
    assert verified.returncode == 0, verified.stderr


def test_sigterm_mid_stage_then_during_a_commit_then_the_run_resumes(tmp_path: Path, prefect_server: str):
    import fcntl

    ws = make_workspace(tmp_path / "ws", deep_update(yaml.safe_load(yaml.safe_dump(TINY)), {"train": {"epochs": 20}}))
    # 1. mid-stage, to the audit process only (as `timeout`, Kubernetes and `kill` send it)
    proc, interrupted, children = start_and_signal(ws, prefect_server, signal.SIGTERM, group=False)
    stopped_by_sigterm(proc, children)  # the warm workers and multiprocessing's resource tracker included
    runs = mlflow_runs(ws)
    assert not [r.info.run_name for r in runs if r.info.status == "RUNNING"]
    assert {r.info.status for r in runs if r.info.run_id in interrupted} == {"KILLED"}  # the audit's run too
    assert not set(interrupted.values()) & lock_stages(ws)

    # 2. during a commit: every commit waits inside commit() for the lock this test holds
    done = lock_stages(ws)
    log = ws / ".muaudit/logs/audit.log"
    with open(ws / ".muaudit/commit.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = start(ws, {"PREFECT_API_URL": prefect_server})

        def finished_unrecorded() -> set[str]:
            parents = [r for r in mlflow_runs(ws) if r.data.tags.get("muaudit.kind") == "audit"]
            this = max(parents, key=lambda r: r.info.start_time).info.run_id
            return {r.info.run_name for r in mlflow_runs(ws) if r.info.status == "FINISHED"
                    and r.data.tags.get("mlflow.parentRunId") == this} - done

        wait_for(proc, lambda: len(mlflow_runs(ws)) > len(runs) and finished_unrecorded(), "a stage finished")
        children = descendants(proc)
        os.kill(proc.pid, signal.SIGTERM)
        wait_for(proc, lambda: "stop requested by SIGTERM" in log.read_text(), "stopping")
        waiting = finished_unrecorded()
        assert not waiting & lock_stages(ws)  # still waiting in their commit
    stopped_by_sigterm(proc, children)  # the lock is free: the commits end, then the audit
    assert waiting <= lock_stages(ws)  # nothing computed is lost
    assert not [r.info.run_name for r in mlflow_runs(ws) if r.info.status == "RUNNING"]

    # 3. the next run resumes: it reruns exactly what is not recorded, and the record verifies
    recorded = lock_stages(ws)
    resumed = muaudit(ws, "run", "--workers", "2", env={"PREFECT_API_URL": prefect_server})
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    runs = mlflow_runs(ws)
    audit = max((r for r in runs if r.data.tags.get("muaudit.kind") == "audit"), key=lambda r: r.info.start_time)
    reran = {r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == audit.info.run_id}
    assert reran == lock_stages(ws) - recorded
    verified = muaudit(ws, "verify")
    assert verified.returncode == 0, verified.stderr


def test_sigint_stops_cleanly(tmp_path: Path, prefect_server: str):
    ws = make_workspace(tmp_path / "ws", SLOW_TRAIN)
    proc, interrupted, _ = start_and_signal(ws, prefect_server, signal.SIGINT)
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
