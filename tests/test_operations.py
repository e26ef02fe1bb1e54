"""Operations: workspace lock, serve's schedule, remote MLflow server, DVC remote and gc, the Dask runner."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import BIN, ROOT, TINY, _free_port, make_workspace, muaudit, stop

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def sh(*cmd: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, **GIT_ENV, "PATH": f"{BIN}:{os.environ['PATH']}"}
    out = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)
    assert out.returncode == 0, f"{cmd}: {out.stderr[-2000:]}"
    return out


def lock_outs(path: Path) -> dict:
    lock = yaml.safe_load((path / "dvc.lock" if path.is_dir() else path).read_text())["stages"]
    return {name: [(o["path"], o["md5"]) for o in st["outs"]] for name, st in lock.items() if name != "report"}


def cache_files(ws: Path) -> set[str]:
    return {str(p.relative_to(ws)) for p in (ws / ".dvc/cache").rglob("*") if p.is_file()}


def test_serve_without_a_prefect_server_fails_clearly(tiny_workspace: Path, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # no profile that could name a server
    out = subprocess.run([sys.executable, "-m", "muaudit.runner.cli", "-C", str(tiny_workspace), "serve", "--interval", "5"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert out.returncode == 2
    assert "PREFECT_API_URL" in out.stderr and "prefect server start" in out.stderr


def test_second_audit_on_a_busy_workspace_exits_with_a_clear_message(tiny_workspace: Path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from muaudit.runner.workspace import exclusive\n"
         f"with exclusive({str(tiny_workspace)!r}):\n    print('held', flush=True); sys.stdin.read()"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        second = muaudit(tiny_workspace, "run", timeout=120)
        assert second.returncode == 1
        assert f"another audit (pid {holder.pid}) is running on this workspace" in second.stderr
        assert not (tiny_workspace / "dvc.lock").exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server on loopback with its own sqlite backend and artifact folder."""
    home = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{home / 'backend.db'}", "--artifacts-destination", str(home / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                assert proc.poll() is None, (home / "server.log").read_text()[-2000:]
                assert time.time() < deadline, "mlflow server did not become healthy within 120 s"
                time.sleep(0.5)
        yield url
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="module")
def audited(tmp_path_factory, mlflow_server: str, prefect_server: str) -> Path:
    """One tiny audit, local runner, tracked on the MLflow server; later tests reuse its artifacts."""
    ws = make_workspace(tmp_path_factory.mktemp("audited") / "ws", TINY)
    out = muaudit(ws, "run", "--workers", "2", env={"MLFLOW_TRACKING_URI": mlflow_server, "PREFECT_API_URL": prefect_server})
    assert out.returncode == 0, out.stderr[-3000:]
    shutil.copy(ws / "dvc.lock", ws.parent / "first.dvc.lock")  # later tests change the workspace
    return ws


def server_runs(url: str, query: str):
    from mlflow.tracking import MlflowClient

    cl = MlflowClient(url)
    return cl.search_runs(cl.get_experiment_by_name("muaudit").experiment_id, query,
                          order_by=["attributes.start_time ASC"], max_results=500)


@pytest.mark.slow
def test_audit_records_parent_and_child_runs_on_an_mlflow_server(audited: Path, mlflow_server: str):
    assert not (audited / "mlflow.db").exists()
    parents = server_runs(mlflow_server, "tags.`muaudit.kind` = 'audit'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = server_runs(mlflow_server, f"tags.mlflow.parentRunId = '{parents[0].info.run_id}'")
    assert {"split", "train", "retrain@1", "retrain@2", "metrics", "report"} <= {r.info.run_name for r in children}
    assert all(r.data.tags.get("dvc.stage_hash") for r in children)


def _completed_runs(api_url: str) -> int:
    """Completed flow runs of the served deployment, read through the Prefect client."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def count() -> int:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["audit"])))
            return sum(r.state is not None and r.state.is_completed() for r in runs)

    with temporary_settings({PREFECT_API_URL: api_url}):
        return asyncio.run(count())


@pytest.mark.slow
def test_scheduled_audit_runs_and_records_a_noop(audited: Path, mlflow_server: str, prefect_server: str):
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "MLFLOW_TRACKING_URI": mlflow_server}
    serve = subprocess.Popen([sys.executable, "-m", "muaudit.runner.cli", "-C", str(audited), "serve", "--interval", "5"],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    try:
        deadline = time.time() + 300
        while _completed_runs(prefect_server) < 1:
            assert serve.poll() is None, serve.stdout.read()[-3000:]
            assert time.time() < deadline, "no scheduled run completed within 300 s"
            time.sleep(2)
    finally:
        stop(serve, timeout_s=30)
    deadline = time.time() + 120  # a background process records the no-op (muaudit.runner.noop_record)
    while not (noops := server_runs(mlflow_server, "tags.`muaudit.noop` = 'true'")) and time.time() < deadline:
        time.sleep(1)
    assert noops and all(r.data.tags["muaudit.stale_stages"] == "" for r in noops)


@pytest.mark.slow
def test_dvc_remote_push_clone_pull_then_nothing_runs(audited: Path, tmp_path: Path):
    remote = tmp_path / "remote"
    sh("dvc", "remote", "add", "-d", "store", str(remote), cwd=audited)
    sh("git", "add", "-A", cwd=audited)
    sh("git", "commit", "-qm", "audited", cwd=audited)
    sh("dvc", "push", cwd=audited)
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", str(audited), str(clone), cwd=tmp_path)
    sh("dvc", "pull", cwd=clone)
    rerun = muaudit(clone, "run", env={"PREFECT_API_URL": "http://127.0.0.1:9/api"})  # needs no Prefect
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "Nothing is stale" in rerun.stdout and (clone / "data/metrics/metrics.parquet").exists()


@pytest.mark.slow
def test_dvc_gc_workspace_drops_superseded_artifacts(audited: Path, mlflow_server: str, prefect_server: str):
    before = cache_files(audited)
    params = yaml.safe_load((audited / "params.yaml").read_text())
    params["unlearn"]["gradient_ascent"]["lr"] = 0.0002  # half the default: unclipped ascent (#15) diverges at 0.02
    (audited / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rerun = muaudit(audited, "run", "--workers", "2",
                    env={"MLFLOW_TRACKING_URI": mlflow_server, "PREFECT_API_URL": prefect_server})
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    grown = cache_files(audited)
    assert grown > before
    sh("dvc", "gc", "--workspace", "--all-commits", "--force", cwd=audited)  # the committed audit is kept too
    both = cache_files(audited)
    assert both <= grown  # objects no dvc.lock names (superseded within a run) may already go
    assert "up to date" in sh("dvc", "status", cwd=audited).stdout
    sh("dvc", "gc", "--workspace", "--force", cwd=audited)  # only what the current dvc.lock names survives
    kept = cache_files(audited)
    assert kept < both and before - kept
    assert "up to date" in sh("dvc", "status", cwd=audited).stdout


@pytest.mark.slow
def test_dask_runner_makes_the_same_artifacts_as_the_local_run(audited: Path, tmp_path: Path, prefect_server: str):
    ws = make_workspace(tmp_path / "dask", TINY)
    run = muaudit(ws, "run", "--runner", "dask", "--workers", "2", env={"PREFECT_API_URL": prefect_server})
    assert run.returncode == 0, run.stderr[-3000:]
    assert lock_outs(ws) == lock_outs(audited.parent / "first.dvc.lock")
