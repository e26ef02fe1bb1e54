"""The `audit` flow: run the stale stages of dvc.yaml as Prefect tasks, independent ones in parallel.

DVC decides what is stale (muaudit.runner.pipeline.make_plan); Prefect keeps no cache of its own. Each task
runs its stage's dvc.yaml cmd in a warm worker process, then records it in dvc.lock with `dvc commit`.
A failed stage blocks only the stages that depend on it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor

from prefect import Flow, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError, TerminationSignal
from prefect.task_runners import ThreadPoolTaskRunner

from muaudit.checkpoint import remove_checkpoints
from muaudit.runner.failures import failure_line, write_trace
from muaudit.runner.interrupt import STOP
from muaudit.runner.pipeline import Committer, Plan, commit, lock_entry_digests, reads_lock
from muaudit.runner.progress import PROGRESS_ENV, Board, progress_dir
from muaudit.runner.stage import FLOW_RUN_ENV, PARENT_ENV


class StageFailed(RuntimeError):
    """A stage failed; the message is its one line (muaudit.runner.failures): stage, root cause, trace file."""


class StageWork:
    """Where one audit's stages do their work and who records them in dvc.lock; the flow of that audit owns it.

    pool: the warm worker processes a task submits its stage's work to; committer: records finished stages in
    dvc.lock in the background. Without them (a task inside a Dask worker process) the task runs its stage,
    and commits it, in its own process. Passed to each task explicitly, so nothing is kept in module state.
    """

    __slots__ = ("pool", "committer")

    def __init__(self, pool: Executor | None = None, committer: Committer | None = None):
        self.pool = pool
        self.committer = committer


# NO_CACHE: DVC decides staleness and Prefect keeps no cache of its own (nor hashes `work`, a handle on processes).
@task(name="stage", cache_policy=NO_CACHE)
def stage_task(work: StageWork, workspace: str, stage: str, cmd: str, parent_run_id: str, flow_run_id: str) -> str:
    from flows.workers import enter_workspace, run_in_worker

    env = {PARENT_ENV: parent_run_id, FLOW_RUN_ENV: flow_run_id, PROGRESS_ENV: str(progress_dir(workspace))}
    if work.committer is not None and reads_lock(cmd):
        work.committer.flush()  # its upstream stages are recorded in dvc.lock before it reads the lock
    try:
        if work.pool is not None:
            code, run_id, failure = work.pool.submit(run_in_worker, cmd, stage, env).result()
        else:  # already inside a dedicated worker process (a Dask worker): run the stage here
            enter_workspace(workspace)
            code, run_id, failure = run_in_worker(cmd, stage, env)
    except Exception as err:  # the worker process itself died (killed, out of memory) or the pool broke
        raise StageFailed(failure_line(stage, err, write_trace(workspace, stage, err))) from err
    if code != 0:
        raise StageFailed(failure or f"{stage}: exited with code {code}")
    if work.committer is not None:
        work.committer.submit(stage, run_id)
        return stage
    errors = commit(workspace, [stage])
    if errors:
        raise StageFailed(f"{stage}: ran but could not be recorded in dvc.lock: {errors[stage]}")
    stages_recorded(workspace, {stage: run_id})
    return stage


def stages_recorded(workspace: str, run_ids: dict[str, str]) -> None:
    """After stages are in dvc.lock: drop their resume checkpoints, and tag their MLflow runs."""
    remove_checkpoints(workspace, run_ids)
    tag_stage_hashes(workspace, run_ids)


def tag_stage_hashes(workspace: str, run_ids: dict[str, str]) -> None:
    """Tag each stage's MLflow run with the digest of the dvc.lock entry its commit wrote."""
    from muaudit.runner import tracking

    digests = lock_entry_digests(workspace, list(run_ids))
    client = tracking.client(workspace)
    for stage, run_id in run_ids.items():
        if run_id:
            client.set_tag(run_id, "dvc.stage_hash", digests[stage])


BOARD_POLL_S = 0.2


def schedule(plan: Plan, submit, poll_s: float = 0.02, board: Board | None = None) -> dict[str, str]:
    """Submit each stage once its upstream stages succeeded; returns stage -> ok | failed | blocked.

    board, when given, is told of each start and end and polled for the stages' epochs (muaudit.runner.progress)."""
    outcome: dict[str, str] = {}
    pending = list(plan.stages)
    running: dict[str, object] = {}
    polled = 0.0
    while pending or running:
        for stage in list(pending):
            ups = plan.upstream.get(stage, [])
            if any(outcome.get(u) in ("failed", "blocked") for u in ups):
                outcome[stage] = "blocked"
                pending.remove(stage)
                if board is not None:
                    board.ended(stage, "blocked")
            elif all(outcome.get(u) == "ok" for u in ups):
                running[stage] = submit(stage)
                pending.remove(stage)
                if board is not None:
                    board.started(stage)
        for stage, future in list(running.items()):
            if not _finished(future):
                continue
            future.wait()  # stores the final state in the future, so .state below asks no server
            state = future.state
            if state.is_final():
                outcome[stage] = "ok" if state.is_completed() else "failed"
                if not state.is_completed():
                    announce(stage_failure(stage, future))
                del running[stage]
                if board is not None:
                    board.ended(stage, outcome[stage])
        # the stages' epochs are read 5 times a second; finished stages are seen every poll_s
        if board is not None and time.monotonic() - polled >= BOARD_POLL_S:
            board.poll()
            polled = time.monotonic()
        if running:
            time.sleep(poll_s)
    return outcome


def stage_failure(stage: str, future) -> str:
    """The one line that says why a finished, failed stage failed: the line its worker handed back (root
    cause and trace file), or the root cause of the task's own error."""
    err = future.result(raise_on_failure=False)  # the exception, from the finished future: no server request
    if isinstance(err, StageFailed):
        return str(err)
    if isinstance(err, BaseException):
        return failure_line(stage, err)
    return f"{stage}: {future.state.message}"


def announce(line: str) -> None:
    """An error line on stderr, and in the flow run's Prefect log (the UI)."""
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()
    with contextlib.suppress(MissingContextError):  # outside a flow run (tests of the scheduler)
        get_run_logger().error(line)


def flow_log() -> Callable[[str], None] | None:
    """The INFO log of the current flow run, where the Prefect UI shows the progress lines (None outside a
    flow run). muaudit.runner.workspace.prefect_env keeps these records; Prefect's own INFO chatter stays dropped."""
    try:
        return get_run_logger().info
    except MissingContextError:
        return None


def _finished(future) -> bool:
    # PrefectFuture.state is an HTTP request to the server; polled every 20 ms it cost ~5 s of requests per
    # audit and kept the server busy on the cores the stages need. The local wrapped future costs nothing.
    wrapped = getattr(future, "wrapped_future", None)
    return wrapped.done() if wrapped is not None else future.state.is_final()


def audit_flow(work: StageWork | None = None) -> Flow:
    """The `audit` flow of one audit, whose tasks hand their stage work to `work` (None: each task runs and
    commits its stage in its own process, as in a Dask worker). Its parameters stay plain JSON for the server."""

    # No log_prints: it turns every print into a log record instead of a line on the terminal. The lines that
    # matter are written to the terminal and logged to the flow run explicitly (flow_log, announce).
    @flow(name="audit")
    def audit(workspace: str, plan: dict, parent_run_id: str) -> dict[str, str]:
        """plan is a muaudit.runner.pipeline.Plan as a dict, so that the flow run's parameters stay plain JSON."""
        return run_plan(work or StageWork(), workspace, Plan(**plan), parent_run_id)

    return audit


def run_plan(work: StageWork, workspace: str, plan: Plan, parent_run_id: str) -> dict[str, str]:
    """The flow's body: submit each stale stage as a task once its upstream stages succeeded."""
    from prefect.runtime import flow_run

    flow_run_id = str(flow_run.id or "")

    def submit(stage: str):
        return stage_task.with_options(name=stage, task_run_name=stage).submit(
            work, workspace, stage, plan.cmds[stage], parent_run_id, flow_run_id
        )

    board = Board(plan.stages, progress_dir(workspace), echo=flow_log())
    try:
        return schedule(plan, submit, board=board)
    except BaseException as err:
        # Interrupted (SIGINT, or SIGTERM through Prefect's bridge): stop the stages now. Otherwise the task
        # runner, on its way out, would wait for every running stage to finish (hours on a real model).
        from flows.workers import stop_workers

        if isinstance(err, TerminationSignal):
            STOP.note(signal.SIGTERM)
        stop_workers()
        raise
    finally:
        board.close()


def task_runner(workers: int):
    return ThreadPoolTaskRunner(max_workers=max(1, workers))


def dask_runner(workers: int, address: str | None = None):
    """prefect-dask's runner: an existing cluster at address, or a local one of `workers` processes.

    One thread per Dask worker: a stage's parallelism is runtime.threads torch threads, set by the stage.
    """
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": max(1, workers), "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": None})
