"""Verify, manifest and signing on a hand-made workspace (no pipeline run): each tampering is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from muaudit.lineage import signing
from muaudit.lineage.hashing import dvc_md5
from muaudit.lineage.manifest import MANIFEST, artifact_hashes, build_manifest
from muaudit.runner.verify import verify


def _workspace(tmp_path: Path) -> Path:
    (tmp_path / "data/models/m").mkdir(parents=True)
    (tmp_path / "data/models/m/model.pt").write_bytes(b"weights")
    (tmp_path / "data/models/m/meta.json").write_text("{}")
    (tmp_path / "data/report").mkdir(parents=True)
    (tmp_path / "data/report/index.html").write_text("<html></html>")
    lock = {"schema": "2.0", "stages": {
        "train": {"cmd": "x", "outs": [{"path": "data/models/m", "md5": dvc_md5(tmp_path / "data/models/m")}]},
        "report": {"cmd": "y", "outs": [{"path": "data/report/index.html",
                                         "md5": dvc_md5(tmp_path / "data/report/index.html")}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    return tmp_path


def _write_manifest(ws: Path) -> None:
    body = {"artifacts": artifact_hashes(ws, ["data/models"]), "verdicts": {"m": "consistent"}}
    (ws / MANIFEST).write_text(json.dumps(build_manifest(body)))


def test_untouched_workspace_verifies_and_says_mlflow_is_absent(tmp_path):
    findings = verify(_workspace(tmp_path))
    assert findings.problems == []
    assert any("no MLflow store" in n for n in findings.notes)


def test_file_and_folder_tampering_is_named(tmp_path):
    ws = _workspace(tmp_path)
    (ws / "data/report/index.html").write_text("<html>edited</html>")
    (ws / "data/models/m/extra.bin").write_bytes(b"x")
    problems = verify(ws).problems
    assert "modified: data/report/index.html (md5 differs from dvc.lock)" in problems
    # no DVC cache here, so the folder is named rather than the file
    assert any(p.startswith("modified: data/models/m (folder hash") for p in problems)


def test_missing_output_is_named(tmp_path):
    ws = _workspace(tmp_path)
    (ws / "data/report/index.html").unlink()
    assert verify(ws).problems == ["missing: data/report/index.html (recorded in dvc.lock)"]


def test_manifest_digest_catches_an_edited_verdict(tmp_path):
    ws = _workspace(tmp_path)
    _write_manifest(ws)
    assert verify(ws, manifest=True).problems == []
    m = json.loads((ws / MANIFEST).read_text())
    m["verdicts"]["m"] = "edited"
    (ws / MANIFEST).write_text(json.dumps(m))
    assert verify(ws).problems == [f"modified: {MANIFEST} (digest does not match its content)"]


def test_signed_manifest_verifies_and_a_re_digested_edit_fails_the_signature(tmp_path, monkeypatch):
    ws = _workspace(tmp_path / "ws")
    key = tmp_path / "keys/audit.pem"
    key.parent.mkdir()
    signing.new_key(key)
    monkeypatch.setenv(signing.SIGNING_ENV, str(key))
    _write_manifest(ws)
    monkeypatch.delenv(signing.SIGNING_ENV)
    monkeypatch.setenv(signing.VERIFY_ENV, str(key) + ".pub")
    findings = verify(ws, manifest=True)
    assert findings.problems == [] and any("signature valid" in n for n in findings.notes)
    from muaudit.lineage.manifest import digest_of

    m = json.loads((ws / MANIFEST).read_text())
    m["verdicts"]["m"] = "edited"
    m["digest"] = digest_of(m)  # a forger can recompute the digest, not the signature
    (ws / MANIFEST).write_text(json.dumps(m))
    assert verify(ws, manifest=True).problems[0].startswith(f"modified: {MANIFEST} (Ed25519 signature does not verify")


def test_model_file_listed_in_manifest_is_named_when_changed(tmp_path):
    ws = _workspace(tmp_path)
    _write_manifest(ws)
    (ws / "data/models/m/model.pt").write_bytes(b"other weights")
    assert "modified: data/models/m/model.pt (sha256 differs from the manifest)" in verify(ws).problems


def test_signing_key_that_is_not_a_key_is_a_bad_input(tmp_path, monkeypatch):
    from muaudit.errors import BadInputError

    (tmp_path / "k.pem").write_text("not a key")
    monkeypatch.setenv(signing.SIGNING_ENV, str(tmp_path / "k.pem"))
    with pytest.raises(BadInputError, match="MUAUDIT_SIGNING_KEY=.*not a PEM key"):
        signing.sign("abc")
