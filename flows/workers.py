"""Warm worker processes: torch, MLflow and the stage modules are imported once, not once per stage."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from muaudit.workspace import STATE_DIR, prefect_api_url


def enter_workspace(workspace: str) -> None:
    """Stage cmds use paths relative to the workspace and import its tasks/ and muaudit/ code."""
    if os.getcwd() != workspace:
        os.chdir(workspace)
    if workspace not in sys.path:
        sys.path.insert(0, workspace)


def _warm(workspace: str) -> None:
    enter_workspace(workspace)
    import mlflow.tracking  # noqa: F401 (no client yet: the audit process creates a new store first)
    import torch  # noqa: F401

    import tasks.extract  # noqa: F401
    import tasks.metrics  # noqa: F401
    import tasks.report  # noqa: F401
    import tasks.retrain  # noqa: F401
    import tasks.split  # noqa: F401
    import tasks.train  # noqa: F401
    import tasks.unlearn  # noqa: F401


def run_in_worker(cmd: str, stage: str, env: dict[str, str]) -> tuple[int, str]:
    from muaudit import tracking
    from muaudit.pipeline import execute

    tracking.LAST_RUN_ID = ""
    code = execute(cmd, stage, env)
    return code, tracking.LAST_RUN_ID


def _ready() -> None:
    pass


def pool(workspace: str, workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: the parent holds Prefect's threads and an event loop that a fork would copy half-alive.
    executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_warm, initargs=(workspace,)
    )
    # Workers spawn on demand; a no-op per worker starts their imports now, while Prefect's server starts.
    for _ in range(workers):
        executor.submit(_ready)
    return executor


@contextmanager
def prefect_api(workspace: str) -> Iterator[None]:
    """Point this process, and the processes it starts, at a Prefect API for one audit.

    A configured server (PREFECT_API_URL in the environment or the profile) is used as it is. Otherwise
    this starts the temporary server Prefect's ephemeral mode would start (uvicorn serving Prefect's app
    in a subprocess), but without importing prefect.server here (3 s) and before the flow asks for it,
    so that its start-up (about 4 s) overlaps the checks, the MLflow parent run and the workers' imports.
    Call prefect_env() first: Prefect reads its environment on import.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if prefect_api_url():
        yield
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(Path(workspace) / STATE_DIR / "prefect-server.log", "w")
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "error", "--lifespan", "on"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    global _SERVER
    _SERVER = (server, url)
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url  # Dask workers started from here report to it as well
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            try:
                yield
            finally:
                _drain_prefect_logs()
    finally:
        _SERVER = None
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


_SERVER: tuple[subprocess.Popen, str] | None = None


def _drain_prefect_logs() -> None:
    """Send the flow's buffered logs and events while the server still listens (Prefect would at exit)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=10)
        except Exception as err:  # logs are a convenience: the audit's records are in MLflow and dvc.lock
            print(f"warning: Prefect {worker.__name__} did not drain: {err}")


def wait_prefect_api(timeout_s: float = 120.0) -> None:
    """Block until the server started by prefect_api() answers: a half-started one refuses the flow."""
    if _SERVER is None:
        return
    import httpx

    server, url = _SERVER
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the temporary Prefect server exited with code {server.returncode}; "
                               f"see {STATE_DIR}/prefect-server.log")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the temporary Prefect server did not answer within {timeout_s:.0f} s; see {STATE_DIR}/prefect-server.log")
