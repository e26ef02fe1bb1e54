"""Warm worker processes: torch, MLflow and the stage modules are imported once, not once per stage."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor


def enter_workspace(workspace: str) -> None:
    """Stage cmds use paths relative to the workspace and import its tasks/ and muaudit/ code."""
    if os.getcwd() != workspace:
        os.chdir(workspace)
    if workspace not in sys.path:
        sys.path.insert(0, workspace)


def _warm(workspace: str) -> None:
    enter_workspace(workspace)
    import torch  # noqa: F401

    import muaudit.tracking as tracking
    import tasks.extract  # noqa: F401
    import tasks.metrics  # noqa: F401
    import tasks.report  # noqa: F401
    import tasks.retrain  # noqa: F401
    import tasks.split  # noqa: F401
    import tasks.train  # noqa: F401
    import tasks.unlearn  # noqa: F401

    tracking.client(workspace)


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


_SERVER_START: threading.Thread | None = None


def start_prefect_server() -> None:
    """Start Prefect's temporary server in the background (7-14 s measured), unless an API URL is set.

    The flow would start the same server on its first API call; starting it early overlaps that wait with
    the MLflow parent run and the workers' imports. Call prefect_env() first: Prefect reads it on import.
    """
    global _SERVER_START

    def start() -> None:
        from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

        if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
            return
        from prefect.server.api.server import SubprocessASGIServer

        SubprocessASGIServer().start()

    if _SERVER_START is None:
        _SERVER_START = threading.Thread(target=start, name="prefect-server-start", daemon=True)
        _SERVER_START.start()


def wait_prefect_server() -> None:
    """Block until the early start has finished: a half-started server refuses the flow's requests."""
    if _SERVER_START is not None:
        _SERVER_START.join()
