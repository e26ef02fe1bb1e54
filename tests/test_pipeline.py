"""muaudit.runner.pipeline: what DVC plans, and the batched commit that records finished stages in dvc.lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from muaudit.runner.pipeline import Committer, commit, lock_entry_digests, make_plan


def _run_split(ws: Path) -> None:
    env = {**os.environ, "MUAUDIT_NO_TRACKING": "1"}
    subprocess.run([sys.executable, "-m", "tasks.split", "--out", "data/split"], cwd=ws, env=env, check=True)


def test_commit_records_the_finished_stage_and_reports_the_other(tiny_workspace: Path, monkeypatch):
    ws = tiny_workspace
    monkeypatch.chdir(ws)  # as in `muaudit run` and `dvc repro`: DVC resolves stage paths from the workspace
    _run_split(ws)
    before = {p: p.stat().st_mtime_ns for p in (ws / "data/split").rglob("*") if p.is_file()}
    errors = commit(ws, ["split", "train"])  # train never ran: its outputs are missing
    assert list(errors) == ["train"]
    lock = yaml.safe_load((ws / "dvc.lock").read_text())
    assert list(lock["stages"]) == ["split"]
    assert "split" not in make_plan(ws).stages and "train" in make_plan(ws).stages
    # relink=False: the outputs a downstream stage may be reading are not rewritten by the commit
    assert {p: p.stat().st_mtime_ns for p in (ws / "data/split").rglob("*") if p.is_file()} == before
    assert lock_entry_digests(ws, ["split", "train"])["train"] == ""


def test_committer_commits_in_the_background_and_reports_run_ids(tiny_workspace: Path, monkeypatch):
    ws = tiny_workspace
    monkeypatch.chdir(ws)
    _run_split(ws)
    seen: list[dict[str, str]] = []
    committer = Committer(ws, on_commit=seen.append)
    committer.submit("split", "run-1")
    committer.submit("train", "run-2")
    errors = committer.close()
    assert list(errors) == ["train"]
    assert [s for batch in seen for s in batch.items()] == [("split", "run-1")]
    assert "split" in yaml.safe_load((ws / "dvc.lock").read_text())["stages"]


def test_committer_batches_what_finishes_within_its_interval_and_flush_commits_at_once(tmp_path, monkeypatch):
    """Each commit rewrites dvc.lock through DVC's YAML writer: stages that finish close together share one."""
    import time

    from muaudit.runner import pipeline

    batches: list[list[str]] = []
    monkeypatch.setattr(pipeline, "commit", lambda ws, stages: batches.append(list(stages)) or {})
    committer = Committer(tmp_path, interval_s=0.5)
    committer.submit("a")  # the first commit is at once
    committer.flush()
    for stage in ("b", "c", "d"):  # within the interval after it: one batch
        committer.submit(stage)
        time.sleep(0.05)
    start = time.monotonic()
    committer.submit("e")
    committer.flush()  # a stage that reads dvc.lock does not wait for the interval
    flushed_after = time.monotonic() - start
    committer.close()
    assert batches[0] == ["a"] and sorted(s for b in batches[1:] for s in b) == ["b", "c", "d", "e"]
    assert len(batches) <= 3 and batches[1][:3] == ["b", "c", "d"]
    assert flushed_after < 0.5
