"""The report's identity (params digest, code commit, digest of the dvc.lock outputs it was built from) and
the check that the report still belongs to dvc.lock."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from muaudit.lineage.identity import (
    check_report,
    identity_html,
    identity_markdown,
    lock_digest,
    make_identity,
)
from muaudit.lineage.manifest import MANIFEST, build_manifest
from muaudit.runner.verify import verify

INPUTS = ["data/split", "data/models"]


def _lock(ws: Path, stages: dict) -> None:
    (ws / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": stages}))


def _stage(out: str, md5: str, params: dict | None = None) -> dict:
    return {"cmd": "python -m tasks.x", "params": {"params.yaml": params or {}}, "outs": [{"path": out, "md5": md5}]}


def _stale(problems: list[str]) -> list[str]:
    return [p for p in problems if p.startswith("stale")]  # the outputs themselves are not on disk here


def _workspace(tmp_path: Path) -> tuple[Path, dict]:
    ws = tmp_path
    stages = {"split": _stage("data/split", "a1.dir"), "train": _stage("data/models/original", "b2.dir"),
              "unlearn@ft": _stage("data/models/ft", "c3.dir"), "other": _stage("data/elsewhere", "d4")}
    _lock(ws, stages)
    identity = make_identity(ws, {"train": {"epochs": 3}}, "abc123", INPUTS)
    (ws / "data/report").mkdir(parents=True)
    (ws / "data/report/index.html").write_text("<html></html>")
    (ws / MANIFEST).write_text(json.dumps(build_manifest({"identity": identity})))
    return ws, stages


def test_identity_digests_the_outputs_of_the_stages_the_report_reads(tmp_path):
    ws, _ = _workspace(tmp_path)
    identity = json.loads((ws / MANIFEST).read_text())["identity"]
    assert identity["built_from"] == {"split": {"data/split": "a1.dir"}, "train": {"data/models/original": "b2.dir"},
                                      "unlearn@ft": {"data/models/ft": "c3.dir"}}  # not `other`, not the report
    assert identity["lock_digest"] == lock_digest(identity["built_from"]) and len(identity["lock_digest"]) == 64
    assert identity["code_commit"] == "abc123" and identity["written_at"].endswith("Z")
    md, html = identity_markdown(identity), identity_html(identity)
    for value in (identity["params_digest"], identity["lock_digest"], "abc123"):
        assert value in md and value in html
    check = check_report(ws)
    assert check.current is True and not _stale(verify(ws).problems)


def test_a_changed_output_makes_the_report_stale_and_verify_says_so(tmp_path):
    ws, stages = _workspace(tmp_path)
    _lock(ws, {**stages, "train": _stage("data/models/original", "ff.dir")})
    check = check_report(ws)
    assert check.current is False and check.changed == ["train"]
    assert ("stale: data/report (built from other outputs than dvc.lock now records for train; rerun `muaudit run`)"
            in verify(ws).problems)


def test_a_new_producer_of_an_input_makes_it_stale_a_params_only_change_does_not(tmp_path):
    ws, stages = _workspace(tmp_path)
    _lock(ws, {**stages, "train": _stage("data/models/original", "b2.dir", {"train.epochs": 30}),
               "other": _stage("data/elsewhere", "zz")})
    assert check_report(ws).current is True  # same outputs: the report shows the same thing
    _lock(ws, {**stages, "unlearn@scrub": _stage("data/models/scrub", "e5.dir")})
    assert check_report(ws).changed == ["unlearn@scrub"]


def test_a_report_without_identity_is_a_note_not_a_problem(tmp_path):
    ws, _ = _workspace(tmp_path)
    (ws / MANIFEST).write_text(json.dumps(build_manifest({"verdicts": {}})))
    findings = verify(ws)
    assert check_report(ws).current is None and not _stale(findings.problems)
    assert any("carries no identity" in n for n in findings.notes)
    (ws / MANIFEST).unlink()
    (ws / "data/report/index.html").unlink()
    assert check_report(ws) is None
