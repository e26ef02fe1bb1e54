"""SIGTERM handled like Ctrl-C: one stop request per process, whichever way the signal arrived.

`muaudit run` installs STOP for SIGINT and SIGTERM. The first signal raises KeyboardInterrupt (Terminated
for SIGTERM) in the main thread, and every cleanup that catches it runs: the flow stops the warm workers,
the MLflow runs end KILLED, finished stages are recorded in dvc.lock, the Prefect server is stopped last.
Later signals are ignored so that this stop is not cut short (SIGKILL still ends everything).

While a Prefect flow runs, Prefect's own SIGTERM bridge replaces the handler and raises its
TerminationSignal instead; the flow notes it here (STOP.note) so that the command still ends as
terminated, with exit code 143, even when Prefect's shutdown raises something else on the way out.
"""

from __future__ import annotations

import logging
import signal

from muaudit.errors import Terminated

MESSAGES = {
    signal.SIGINT: "interrupted: stages that finished are recorded; rerun `muaudit run` to continue",
    signal.SIGTERM: "terminated (SIGTERM): workers and Prefect server stopped, MLflow runs marked KILLED, "
                    "stages that finished are recorded; rerun `muaudit run` to continue",
}


class Stop:
    def __init__(self) -> None:
        self.signum = 0  # the first stop signal received, 0 while none

    def install(self) -> dict:
        """Handle SIGINT and SIGTERM in this (main) thread; returns the handlers it replaced."""
        return {signum: signal.signal(signum, self) for signum in MESSAGES}

    def __call__(self, signum: int, frame) -> None:
        if self.signum:
            return
        self.note(signum)
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def note(self, signum: int) -> None:
        """Record a stop signal (also one that reached the process through another handler); the audit's log
        (.muaudit/logs/audit.log during a run) says when it came."""
        if not self.signum:
            self.signum = signum
            logging.getLogger("muaudit").warning("stop requested by %s: stopping the audit", signal.Signals(signum).name)


STOP = Stop()  # the process's stop request: signals are process-wide state
# The log line goes where the audit logs (its file handler on the root logger), never to stderr on its own:
# the terminal gets the one line of muaudit.runner.cli.
logging.getLogger("muaudit").addHandler(logging.NullHandler())
