"""Every use of Prefect's internals, fenced here, with the version range they were tested on.

The flows themselves use Prefect's public API (`flow`, `task`, task runners, `prefect.settings`). Two things
have no public equivalent that serves:
- The temporary server of one audit. Prefect's public ways are its ephemeral mode (started inside the flow
  call, on the critical path, after `import prefect.server`: 3 s) and `prefect server start` (a CLI process
  that also runs the UI build and the services). muaudit starts uvicorn on Prefect's own app factory in a
  subprocess at the very start of `muaudit run`, with the environment Prefect's ephemeral mode sets for its
  own subprocess server (SERVER_ENV), so that its start-up overlaps the checks and the workers' imports.
- Draining the log and event workers while that server still listens: Prefect drains them at interpreter
  exit, when the temporary server is already gone.
Outside TESTED, `muaudit run` stops at start with one line.
"""

from __future__ import annotations

from muaudit.runner.versions import require

TESTED = ("3.9.1", "4")

# What Prefect's ephemeral mode sets for its subprocess server (prefect.server.api.server.SubprocessASGIServer)
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
APP_FACTORY = "prefect.server.api.server:create_app"


def check_version(installed: str | None = None) -> str:
    return require("prefect", *TESTED, adapter="muaudit/runner/prefect_adapter.py", installed=installed)


def serve_app(port: int) -> None:
    """Serve Prefect's API on 127.0.0.1:port until stopped (the body of flows/prefect_server.py)."""
    import uvicorn

    uvicorn.run(APP_FACTORY, factory=True, host="127.0.0.1", port=port, log_level="error", lifespan="on")


def drain_workers(timeout_s: float = 10) -> list[str]:
    """Send the buffered flow logs and events now; returns a warning line per worker that did not drain."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    warnings = []
    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout_s)
        except Exception as err:  # logs are a convenience: the audit's records are in MLflow and dvc.lock
            warnings.append(f"warning: Prefect {worker.__name__} did not drain: {err}")
    return warnings
