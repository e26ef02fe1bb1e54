"""Workspace conventions: where state lives, and the lock that keeps two audits from interleaving."""

from __future__ import annotations

import fcntl
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from muaudit.errors import BadInputError, MuauditError

STATE_DIR = ".muaudit"
REPORT = Path("data/report/index.html")


class WorkspaceBusy(MuauditError):
    exit_code = 1


def project_code(workspace: Path) -> None:
    """Make the workspace's flows/ and tasks/ importable, as `python -m tasks.<stage>` finds them under `dvc repro`.

    They are folders of the project, not installed packages (bare names like `tasks` would collide in
    site-packages). Appended, not prepended: muaudit itself keeps resolving to the installed package.
    """
    for folder in ("flows", "tasks"):
        if not (workspace / folder / "__init__.py").is_file():
            raise BadInputError(f"{workspace / folder}: missing; a workspace is a muaudit project folder "
                                "(dvc.yaml runs its tasks/, `muaudit run` its flows/)")
    if str(workspace) not in sys.path:
        sys.path.append(str(workspace))


def prefect_env() -> None:
    """Keep Prefect quiet and offline; an explicit PREFECT_API_URL wins.

    Prefect's state stays in its per-user home (PREFECT_HOME, default ~/.prefect), not in the workspace:
    a fresh database costs the temporary server 11 s of migrations against 4 s for an existing one, and
    a workspace-local home made every fresh clone pay them. The audit's record is MLflow and dvc.lock.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # ...except the flow runs' own logger: the progress and error lines muaudit logs to a flow run (the lines
    # `muaudit run` prints) are INFO records, and the Prefect UI shows a scheduled run's lines only if kept.
    os.environ.setdefault(FLOW_RUN_LOG_LEVEL, "INFO")
    os.environ.setdefault("PREFECT_UI_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    for key, value in QUIET_CONSOLE.items():
        os.environ.setdefault(key, value)


FLOW_RUN_LOG_LEVEL = "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL"  # logging.yml's loggers.prefect.flow_runs

# Prefect's console handlers (the root logger's, and prefect._internal's): down to CRITICAL, so that Prefect's
# own tracebacks never reach the terminal; muaudit prints one line per failed stage, and the records are
# kept in .muaudit/logs/audit.log (flows.workers.prefect_logs_to). Set either variable to see them again.
QUIET_CONSOLE = {"PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
                 "PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL": "CRITICAL"}


def prefect_api_url() -> str:
    """The configured Prefect server (environment or profile); empty means Prefect's ephemeral server."""
    from prefect.settings import get_current_settings

    return str(get_current_settings().api.url or "")


@contextmanager
def exclusive(workspace: str | Path):
    """Hold the workspace lock; a second audit on the same workspace exits at once with a clear message."""
    state = Path(workspace) / STATE_DIR
    state.mkdir(exist_ok=True)
    path = state / "audit.lock"
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise WorkspaceBusy(f"{path}: another audit ({holder}) is running on this workspace; wait for it to finish") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}")
    fh.flush()
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
