"""`muaudit verify`: rehash every artifact against dvc.lock, the MLflow record and the manifest.

Each finding is one line "<kind>: <path> (<why>)" with kind modified, missing, unrecorded or stale (the report
was built from other outputs than dvc.lock records: muaudit.lineage.identity); notes
(for example: no MLflow store in a workspace restored with `dvc pull`) are reported but never fail.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from muaudit.io import sha256_tree
from muaudit.lineage.hashing import dir_entries, dir_md5, md5_file
from muaudit.lineage.identity import check_report
from muaudit.lineage.lock import Entry, read_lock
from muaudit.lineage.manifest import MANIFEST, check_manifest


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _cached_dir(workspace: Path, md5: str) -> list[dict] | None:
    """The per-file listing DVC keeps in its cache for a folder hash, when the cache has it."""
    obj = workspace / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    return json.loads(obj.read_text()) if obj.exists() else None


def check_out(workspace: Path, out: Entry) -> list[str]:
    path = workspace / out.path
    if not path.exists():
        return [f"missing: {out.path} (recorded in dvc.lock)"]
    if not out.md5.endswith(".dir"):
        return [] if md5_file(path) == out.md5 else [f"modified: {out.path} (md5 differs from dvc.lock)"]
    entries = dir_entries(path)
    if dir_md5(entries) == out.md5:
        return []
    recorded = _cached_dir(workspace, out.md5)
    if recorded is None:
        return [f"modified: {out.path} (folder hash differs from dvc.lock; no cached listing to name the file)"]
    now = {e["relpath"]: e["md5"] for e in entries}
    was = {e["relpath"]: e["md5"] for e in recorded}
    found = [f"modified: {out.path}/{p} (md5 differs from dvc.lock)" for p in sorted(now.keys() & was.keys())
             if now[p] != was[p]]
    found += [f"missing: {out.path}/{p} (recorded in dvc.lock)" for p in sorted(was.keys() - now.keys())]
    found += [f"unrecorded: {out.path}/{p} (not in dvc.lock)" for p in sorted(now.keys() - was.keys())]
    return found


def check_mlflow(workspace: Path, stage_names: list[str], findings: Findings) -> None:
    """Compare each output with the sha256 the stage's latest finished MLflow run recorded."""
    if not os.environ.get("MLFLOW_TRACKING_URI") and not (workspace / "mlflow.db").exists():
        findings.notes.append("no MLflow store in this workspace (restored with `dvc pull`?): "
                              "checked against dvc.lock only")
        return
    import tempfile

    from muaudit.runner import tracking

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    cl = tracking.client(workspace)
    exp = cl.get_experiment_by_name(tracking.EXPERIMENT)
    if exp is None:
        findings.notes.append("the MLflow store has no muaudit experiment: checked against dvc.lock only")
        return
    unrecorded = []
    for name in stage_names:
        runs = cl.search_runs([exp.experiment_id], f"tags.`muaudit.stage` = '{name}' and attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"], max_results=1)
        if not runs:
            unrecorded.append(name)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                record = json.loads(Path(cl.download_artifacts(runs[0].info.run_id, "outputs.sha256.json", tmp)).read_text())
            except Exception:  # a run without the record (interrupted upload): nothing to compare
                unrecorded.append(name)
                continue
        for rel, sha in record.items():
            p = workspace / rel
            if p.exists() and sha256_tree(p) != sha:
                findings.problems.append(f"modified: {rel} (sha256 differs from MLflow run {runs[0].info.run_id})")
    if unrecorded:
        findings.notes.append(f"no MLflow record for stage(s) {', '.join(unrecorded)}: checked against dvc.lock only")


def verify(workspace: Path, manifest: bool = False) -> Findings:
    workspace = workspace.resolve()
    stages = read_lock(workspace)
    findings = Findings()
    for stage in stages.values():
        for out in stage.outs:
            findings.problems += check_out(workspace, out)
    report = check_report(workspace)
    if report is not None and report.current is not True:  # stale: a problem; no identity: a note
        (findings.notes if report.current is None else findings.problems).append(report.describe())
    check_mlflow(workspace, list(stages), findings)
    if manifest or (workspace / MANIFEST).exists():
        check_manifest(workspace, findings, require_signature=manifest)
    findings.problems = list(dict.fromkeys(findings.problems))
    return findings
