"""`muaudit serve`: the audit as a Prefect deployment on a schedule, served by this process.

Each scheduled run calls the same run_audit as `muaudit run`: DVC plans, nothing stale means no stage
runs and an MLflow run tagged muaudit.noop=true records that the check happened.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import httpx
from prefect import flow, get_run_logger

from flows.workers import PrefectServerError
from muaudit.errors import BadInputError, StageFailedError, root_cause
from muaudit.runner.workspace import prefect_api_url

DEPLOYMENT = "audit"
CODE_ROOT = Path(__file__).resolve().parents[1]


@flow(name="scheduled-audit")  # no log_prints: the lines go to the terminal and, explicitly, to the flow's log
def scheduled_audit(workspace: str, workers: int | None = None, runner: str = "local",
                    address: str | None = None) -> int:
    from muaudit.runner.orchestrate import run_audit, summary_lines

    logger = get_run_logger()
    with lines_to(logger.error, "stderr"):  # every error line of the audit, named, in the Prefect UI too
        code = run_audit(workspace, workers, runner, address)
    table = summary_lines(Path(workspace))
    if table:
        logger.info("Verdicts\n" + table)
    if code != 0:  # the flow run must show as Failed in Prefect, not Completed
        raise StageFailedError(f"audit of {workspace} exited with code {code}; see its MLflow run")
    return code


class LineTee(io.TextIOBase):
    """A text stream that writes through to stream and hands each complete line to log."""

    def __init__(self, stream, log: Callable[[str], None]):
        self.stream, self.log, self._partial = stream, log, ""

    def write(self, text: str) -> int:
        self.stream.write(text)
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if line.strip():
                self.log(line)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


@contextmanager
def lines_to(log: Callable[[str], None], name: str = "stderr"):
    """While inside: the lines written to sys.<name> also go to log."""
    original = getattr(sys, name)
    setattr(sys, name, LineTee(original, log))
    try:
        yield
    finally:
        setattr(sys, name, original)


def _reachable(url: str) -> None:
    """One line instead of Prefect's retries and traceback when the configured server does not answer."""
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=5).raise_for_status()
    except httpx.HTTPError as err:
        raise PrefectServerError(f"PREFECT_API_URL: {url} does not answer ({root_cause(err)}); start the "
                                 "server with `prefect server start` or fix the address") from err


def serve(workspace: Path, cron: str | None, interval: float | None, workers: int | None, runner: str,
          address: str | None) -> None:
    if not prefect_api_url():  # the ephemeral server lives as long as one command: it never fires schedules
        raise BadInputError(
            "PREFECT_API_URL: not set; schedules need a persistent Prefect server: start one with "
            "`prefect server start` and export PREFECT_API_URL=http://127.0.0.1:4200/api")
    if interval is not None and interval <= 0:
        raise BadInputError(f"--interval: expected a positive number of seconds, got {interval}")
    # Scheduled runs execute in a subprocess that loads this file by path; it must import muaudit too.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CODE_ROOT), os.environ.get("PYTHONPATH")]))
    params = {"workspace": str(workspace), "workers": workers, "runner": runner, "address": address}
    _reachable(prefect_api_url())
    print(f"Serving deployment scheduled-audit/{DEPLOYMENT} for {workspace} "
          f"({'cron ' + cron if cron else f'every {interval:g} s'}); Ctrl-C stops it.", flush=True)
    try:
        scheduled_audit.serve(name=DEPLOYMENT, cron=cron, interval=interval, parameters=params,
                              limit=1, print_starting_message=False)  # runs never overlap: they would hit the lock
    except (httpx.HTTPError, RuntimeError) as err:  # the server is unreachable or refused the deployment
        raise PrefectServerError(f"Prefect: {prefect_api_url()}: {root_cause(err)}; is `prefect server start` "
                                 "running there?") from err
