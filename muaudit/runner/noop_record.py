"""The MLflow record of a no-op audit, written by a background process off the audit's critical path.

With nothing stale, `muaudit run` needs MLflow only to record that the check happened; importing it (2.6 s)
and opening its SQL store (1.6 s) were most of a no-op's time. The audit hands the record to a process of
its own session and exits; that process reaps the runs that killed processes left RUNNING (which the audit
does itself before running stages) and writes one FINISHED run tagged muaudit.noop=true. Its output goes to
.muaudit/logs/noop-record.log. Opening the store is serialized (tracking.client), so it and a following
audit never migrate a fresh mlflow.db at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from muaudit.runner.failures import LOG_DIR

LOG = LOG_DIR / "noop-record.log"


def record_in_background(workspace: Path, tags: dict[str, str], metrics: dict[str, float]) -> None:
    """Start the recording process and hand it the run's tags and metrics; returns at once."""
    log = workspace / LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    code_root = str(Path(__file__).resolve().parents[2])  # this checkout's muaudit, also from a worktree
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [code_root, os.environ.get("PYTHONPATH")]))}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "muaudit.runner.noop_record", str(workspace)],
                                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, cwd=workspace,
                                env=env, start_new_session=True)  # not stopped by the terminal's Ctrl-C
    proc.stdin.write(json.dumps({"tags": tags, "metrics": metrics}).encode())
    proc.stdin.close()


def main(workspace: Path) -> None:
    record = json.load(sys.stdin)
    from muaudit.runner import tracking
    from muaudit.runner.orchestrate import log_dataset

    tracking.reap_dead_runs(workspace)
    with tracking.run("audit", workspace, tags=record["tags"], source="muaudit run") as parent:
        log_dataset(parent, workspace)
        parent.log_metrics(record["metrics"])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
