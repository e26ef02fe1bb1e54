"""Warm worker processes: torch, MLflow and the stage modules are imported once, not once per stage."""

from __future__ import annotations

import multiprocessing
import os
import sys
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


def pool(workspace: str, workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: the parent holds Prefect's threads and an event loop that a fork would copy half-alive.
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_warm, initargs=(workspace,)
    )
