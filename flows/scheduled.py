"""`muaudit serve`: the audit as a Prefect deployment on a schedule, served by this process.

Each scheduled run calls the same run_audit as `muaudit run`: DVC plans, nothing stale means no stage
runs and an MLflow run tagged muaudit.noop=true records that the check happened.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect import flow

from muaudit.errors import BadInputError, StageFailedError
from muaudit.runner.workspace import prefect_api_url

DEPLOYMENT = "audit"
CODE_ROOT = Path(__file__).resolve().parents[1]


@flow(name="scheduled-audit", log_prints=True)
def scheduled_audit(workspace: str, workers: int | None = None, runner: str = "local",
                    address: str | None = None) -> int:
    from muaudit.runner.orchestrate import run_audit

    code = run_audit(workspace, workers, runner, address)
    if code != 0:  # the flow run must show as Failed in Prefect, not Completed
        raise StageFailedError(f"audit of {workspace} exited with code {code}; see its MLflow run")
    return code


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
    print(f"Serving deployment scheduled-audit/{DEPLOYMENT} for {workspace} "
          f"({'cron ' + cron if cron else f'every {interval:g} s'}); Ctrl-C stops it.", flush=True)
    scheduled_audit.serve(name=DEPLOYMENT, cron=cron, interval=interval, parameters=params,
                          limit=1, print_starting_message=False)  # runs never overlap: they would hit the lock
