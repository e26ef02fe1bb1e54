"""Warm worker processes: torch, MLflow and the stage modules are imported once, not once per stage."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flows.prefect_server import exit_with_parent
from muaudit.errors import MuauditError
from muaudit.runner import prefect_adapter
from muaudit.runner.workspace import QUIET_CONSOLE, STATE_DIR, prefect_api_url


class PrefectServerError(MuauditError):
    """The temporary Prefect server did not start: one line naming its log, exit code 1."""


def enter_workspace(workspace: str) -> None:
    """Stage cmds use paths relative to the workspace and import its tasks/ and muaudit/ code."""
    if os.getcwd() != workspace:
        os.chdir(workspace)
    if workspace not in sys.path:
        sys.path.insert(0, workspace)


def _warm(workspace: str, parent: int) -> None:
    # Ctrl-C reaches the whole terminal process group; the audit process stops the workers itself (SIGTERM),
    # so an idle worker never dies with a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a worker whose audit process died (SIGKILL) exits too, instead of living on as an orphan
    threading.Thread(target=exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()
    enter_workspace(workspace)
    import importlib

    import mlflow.tracking  # noqa: F401 (no client yet: the audit process creates a new store first)

    import muaudit.runner.stage  # noqa: F401 (what runs every stage)
    from muaudit.runner import stage_table

    for module in sorted({s.module for s in stage_table.STAGES}):  # every stage body, torch with them
        importlib.import_module(f"tasks.{module}")


def run_in_worker(cmd: str, stage: str, env: dict[str, str]) -> tuple[int, str, str]:
    """(exit code, MLflow run id, the stage's one-line failure or "")."""
    import json
    import tempfile

    from muaudit.runner.pipeline import execute
    from muaudit.runner.stage import OUTCOME_ENV

    with tempfile.TemporaryDirectory(prefix="muaudit-stage-") as tmp:
        outcome = Path(tmp) / "outcome.json"
        code = execute(cmd, stage, {**env, OUTCOME_ENV: str(outcome)})
        record = json.loads(outcome.read_text()) if outcome.exists() else {}
    return code, record.get("run_id", ""), record.get("failure", "")


def _ready() -> None:
    pass


@contextmanager
def pool(workspace: str, workers: int) -> Iterator[ProcessPoolExecutor]:
    """Warm worker processes for one audit; on an interrupt they are stopped, not waited for."""
    # spawn, not fork: the parent holds Prefect's threads and an event loop that a fork would copy half-alive.
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_warm, initargs=(workspace, os.getpid()))
    # Workers spawn on demand; a no-op per worker starts their imports now, while Prefect's server starts.
    for _ in range(workers):
        executor.submit(_ready)
    try:
        yield executor
    except BaseException:
        stop_workers()
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def stop_workers(grace_s: float = 10.0) -> None:
    """Stop this process's worker processes now: SIGTERM, then SIGKILL after grace_s.

    A stage killed this way is not recorded in dvc.lock; its MLflow run is marked KILLED by the audit
    (tracking.reap_dead_runs) and its temporaries are swept (io.sweep_stale_temps).
    """
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    deadline = time.monotonic() + grace_s
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            child.kill()
            child.join()


@dataclass
class TemporaryServer:
    """The Prefect server prefect_api() started for one audit."""

    process: subprocess.Popen
    url: str


@contextmanager
def prefect_api(workspace: str) -> Iterator[TemporaryServer | None]:
    """Point this process, and the processes it starts, at a Prefect API for one audit.

    A configured server (PREFECT_API_URL in the environment or the profile) is used as it is. Otherwise
    this starts the temporary server Prefect's ephemeral mode would start (uvicorn serving Prefect's app in
    a subprocess: flows/prefect_server.py), but without importing prefect.server here (3 s) and before the
    flow asks for it, so that its start-up (about 4 s) overlaps the checks, the MLflow parent run and the
    workers' imports.
    Call prefect_env() first: Prefect reads its environment on import. Yields the server it started (None
    when a configured one is used), for wait_prefect_api.
    """
    prefect_adapter.check_version()
    if prefect_api_url():
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(Path(workspace) / STATE_DIR / "prefect-server.log", "w")
    env = {k: v for k, v in os.environ.items() if k not in QUIET_CONSOLE}  # its own errors go to its log
    env.update(prefect_adapter.SERVER_ENV)
    # flows.prefect_server: uvicorn serving Prefect's app in a session of its own, gone when this process is
    server = subprocess.Popen([sys.executable, "-m", "flows.prefect_server", str(port), str(os.getpid())],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    # imported after the server started: importing Prefect takes seconds that the server's start-up overlaps
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = f"http://127.0.0.1:{port}/api"
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url  # Dask workers started from here report to it as well
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            try:
                yield TemporaryServer(server, url)
            finally:
                if server.poll() is None:  # a server that is gone (stopped with the process group) drains nothing
                    _drain_prefect_logs()
    finally:
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


def prefect_logs_to(path: Path) -> None:
    """Keep the log records of Prefect and the other libraries of this process (warnings and errors: task
    failures with their tracebacks, client retries, shutdown noise) in a file instead of on the terminal.

    muaudit prints one line per failed stage itself. prefect_env() turns Prefect's console handlers down;
    this adds the file on the root logger, where Prefect's records end. A root handler of the user's also
    keeps Prefect from reconfiguring the root logger when it sets up logging again. The flow and task logs
    still reach the Prefect API (the UI) through Prefect's own API handler.
    """
    import logging

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _LOG_HANDLER]:  # an earlier audit of this process
        root.removeHandler(old)
        old.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.set_name(_LOG_HANDLER)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


_LOG_HANDLER = "muaudit-audit-log"


def _drain_prefect_logs() -> None:
    """Send the flow's buffered logs and events while the server still listens (Prefect would at exit)."""
    for line in prefect_adapter.drain_workers():
        print(line)


def wait_prefect_api(started: TemporaryServer | None, timeout_s: float = 120.0) -> None:
    """Block until the server started by prefect_api() answers: a half-started one refuses the flow."""
    if started is None:
        return
    import httpx

    server, url = started.process, started.url
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise PrefectServerError(f"Prefect: the temporary server exited with code {server.returncode}; "
                                     f"see {STATE_DIR}/prefect-server.log")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise PrefectServerError(f"Prefect: the temporary server did not answer within {timeout_s:.0f} s; "
                             f"see {STATE_DIR}/prefect-server.log")
