"""Bad data meets a finished audit: `muaudit run` refuses it at the door with one line and exit code 2, and
the previous audit's data/, dvc.lock and report stay untouched, named as the last good report.

One tiny audit on an npz dataset under supplied/data/ is run once; each case edits the dataset file of a
copy of it. A bare `dvc repro` refuses the same file at the split stage.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import BIN, TINY, make_workspace, muaudit

pytestmark = pytest.mark.slow

DATA = "supplied/data/d.npz"
N = 900  # digits samples in the tiny dataset: 90 per class


def arrays() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return {"x": (digits.images[:N] / 16.0).astype(np.float32)[:, None], "y": digits.target[:N].astype(np.int64),
            "ids": np.array([f"d-{i:04d}" for i in range(N)]), "num_classes": np.int64(10)}


@pytest.fixture(scope="module")
def audited(tmp_path_factory, prefect_server: str) -> Path:
    ws = make_workspace(tmp_path_factory.mktemp("bad-data") / "ws", {**TINY, "data": {"name": "npz", "path": DATA}})
    np.savez(ws / DATA, **arrays())
    run = muaudit(ws, "run", "--workers", "2", env={"PREFECT_API_URL": prefect_server})
    assert run.returncode == 0, run.stderr[-3000:]
    return ws


def tree(ws: Path) -> dict[str, tuple[int, int]]:
    """Every file of the audit's record: data/ (the report included) and dvc.lock, with size and mtime."""
    files = [ws / "dvc.lock", *(p for p in (ws / "data").rglob("*") if p.is_file())]
    return {str(p.relative_to(ws)): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def without(a: dict, cls: int, keep: int) -> dict:
    """The arrays with only the first `keep` samples of class cls."""
    idx = np.flatnonzero(a["y"] == cls)
    drop = np.zeros(len(a["y"]), bool)
    drop[idx[keep:]] = True
    return {k: (v[~drop] if v.ndim else v) for k, v in a.items()}


def edit_nan(a):
    a["x"][42, 0, 3, 4] = np.nan
    return a


def edit_inf(a):
    a["x"][7, 0, 0, 1] = np.inf
    return a


def edit_label(a):
    a["y"][13] = 12
    return a


def edit_ids(a):
    a["ids"][500] = "d-0017"
    return a


CASES = [
    ("nan", edit_nan, f"data.path: {DATA}: sample d-0042: feature (0, 3, 4) is nan; expected finite numbers"),
    ("inf", edit_inf, f"data.path: {DATA}: sample d-0007: feature (0, 0, 1) is inf; expected finite numbers"),
    ("label-out-of-range", edit_label,
     f"data.path: {DATA}: sample d-0013: label 12 is outside the declared classes; expected 0..9 (10 classes)"),
    ("class-missing-from-test", lambda a: without(a, 7, 2), "split: class 7 has no sample in test (it has 2 sample(s)"),
    ("duplicate-ids", edit_ids, f"data.path: {DATA}: sample id 'd-0017' appears 2 times (rows 17, 500); expected unique"),
    ("empty-forget-set", lambda a: without(a, 3, 0), "split.forget_classes: [3] not in the dataset's labels"),
    # 4 forget samples minus the seeded tuning share (split.tune_fraction) leave 2 for the metrics
    ("forget-too-small-for-probe-folds", lambda a: without(a, 3, 4),
     "split: the forget set has 2 samples; metric probe (metrics.probe) needs at least 5"),
    ("wrong-shape", lambda a: {**a, "x": a["x"].reshape(len(a["x"]), 64)},
     f"data.path: {DATA}: samples of shape (64,) do not fit model small_cnn (small_cnn expects images"),
    ("unreadable-dtype", lambda a: {**a, "x": a["x"].astype(str)}, f"data.path: {DATA}: array x has dtype <U"),
]


@pytest.mark.parametrize(("case", "edit", "line"), CASES, ids=[c[0] for c in CASES])
def test_bad_data_is_refused_with_one_line_and_the_last_good_report_named(audited, tmp_path, prefect_server,
                                                                          case, edit, line):
    ws = shutil.copytree(audited, tmp_path / "ws", symlinks=True)
    np.savez(ws / DATA, **edit(arrays()))
    before = tree(ws)
    result = muaudit(ws, "run", env={"PREFECT_API_URL": prefect_server})
    assert result.returncode == 2, result.stderr[-3000:]
    err = result.stderr.strip()
    assert "\n" not in err and err.startswith(f"error: {line}"), err
    assert "This run wrote no report. The last good report is from an earlier run, not this one (code commit " \
        in result.stdout, result.stdout
    assert tree(ws) == before  # no stage ran: data/, the report and dvc.lock are untouched


def test_dvc_repro_refuses_the_same_data_at_the_split_stage(audited, tmp_path):
    ws = shutil.copytree(audited, tmp_path / "ws", symlinks=True)
    np.savez(ws / DATA, **edit_nan(arrays()))
    before = tree(ws)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "MUAUDIT_NO_TRACKING": "1"}
    repro = subprocess.run(["dvc", "repro"], cwd=ws, capture_output=True, text=True, env=env, timeout=300)
    assert repro.returncode != 0
    ours = [line for line in repro.stderr.splitlines() if line.startswith("error: ")]
    assert ours == [f"error: split: {CASES[0][2]}"], repro.stderr[-3000:]
    assert tree(ws) == before
    verified = muaudit(ws, "verify")
    assert verified.returncode == 0, verified.stderr  # the previous audit, report included, is intact and current


def test_a_run_whose_metrics_fail_prints_no_verdict_table(audited, tmp_path, prefect_server):
    ws = shutil.copytree(audited, tmp_path / "ws", symlinks=True)
    # the stage's code is a dvc.yaml dependency: metrics and report rerun, with the workspace's copy of the code
    stage = ws / "tasks/metrics.py"
    stage.write_text(stage.read_text().replace(
        "    retrain_ids = [", '    raise ValueError("Input X contains NaN.\\nmore detail")\n    retrain_ids = [', 1))
    report = (ws / "data/report/index.html").read_bytes()
    result = muaudit(ws, "run", "--workers", "2", env={"PREFECT_API_URL": prefect_server}, cwd=ws)
    assert result.returncode == 1, result.stderr[-3000:]
    err = result.stderr.strip().splitlines()
    assert len(err) == 2, err  # the root cause, then what failed and what it blocked
    assert err[0].startswith("error: metrics: ValueError: Input X contains NaN. (trace: .muaudit/logs/"), err
    assert err[1] == "error: 1 stage(s) failed: metrics; 1 blocked by them: report"
    assert "ValueError: Input X contains NaN." in (ws / err[0].split("(trace: ")[1].rstrip(")")).read_text()
    assert "|" not in result.stdout and "Report:" not in result.stdout, result.stdout  # no verdicts, no report line
    assert "No report from this run: its metrics and report stages did not complete. The last good report is " \
           "from an earlier run, not this one (code commit " in result.stdout, result.stdout
    assert (ws / "data/report/index.html").read_bytes() == report
