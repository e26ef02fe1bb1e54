"""No-op `muaudit run` against DVC's own no-op (`dvc status`) on the same workspace, side by side in one run.

Usage (repository root, committed code): nice -n 10 .venv/bin/python benchmarks/noop.py [--rounds 3]
A tiny audit runs cold once in a throwaway workspace; then each round times a no-op `muaudit run` and a
`dvc status`, alternately. The no-op's MLflow record is written by a background process
(muaudit.runner.noop_record): each round waits for it before the next timing, so no timing shares the cores
with it, and its own wall time is reported as well.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from conftest import TINY, make_workspace  # noqa: E402

PY = sys.executable
DVC = str(Path(PY).parent / "dvc")


def timed(cmd: list[str], ws: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ws, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall


def noop_records(ws: Path) -> int:
    with sqlite3.connect(ws / "mlflow.db") as db:
        return db.execute("select count(*) from runs r join tags t on t.run_uuid = r.run_uuid where "
                          "t.key = 'muaudit.noop' and t.value = 'true' and r.status = 'FINISHED'").fetchone()[0]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}; load average (1, 5, 15 min) at start: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp) / "ws", TINY)
        cold = timed([PY, "-m", "muaudit.runner.cli", "run", "--workers", "2"], ws)
        print(f"cold tiny audit: {cold:.1f} s")
        noops, statuses, records = [], [], []
        for _ in range(args.rounds):
            before = noop_records(ws)
            noops.append(timed([PY, "-m", "muaudit.runner.cli", "run"], ws))
            start = time.perf_counter()
            while noop_records(ws) == before:  # the background record, before the next timing
                time.sleep(0.1)
            records.append(time.perf_counter() - start + noops[-1])
            statuses.append(timed([DVC, "status"], ws))
        noop, status = statistics.median(noops), statistics.median(statuses)
        print(f"no-op muaudit run: median {noop:.2f} s ({', '.join(f'{v:.2f}' for v in noops)})")
        print(f"dvc status: median {status:.2f} s ({', '.join(f'{v:.2f}' for v in statuses)})")
        print(f"ratio no-op / dvc status: {noop / status:.2f} (goal <= 1.5)")
        print(f"no-op's MLflow record in the store, from the start of the no-op: median "
              f"{statistics.median(records):.2f} s (off the critical path)")
        print(f"load average (1, 5, 15 min) at the end: {load()}")


if __name__ == "__main__":
    main()
