"""The audit's identity, carried by the report, and the check that the report still belongs to dvc.lock.

The report stage writes the identity into report.md, index.html and manifest.json (key `identity`):

- `params_digest`: sha256 of the canonical JSON (sorted keys) of the validated params, every block with its
  defaults filled in, as the report stage read them;
- `code_commit`: `git rev-parse HEAD` of the workspace, with `-dirty` when tracked files were modified;
- `lock_digest`: sha256 of the canonical JSON of `built_from`;
- `built_from`: {stage: {output path: md5}} for every stage whose outputs the report reads (the producers of
  its inputs `inputs`: data/metrics, data/split, data/models, data/activations), exactly as dvc.lock records
  those outputs when the report stage runs. The report's own entry cannot be in it: DVC writes that entry
  after the report exists. Only outputs are digested, not params or code hashes: a stage that reran with a
  change that left its outputs bit-identical did not change what the report shows;
- `written_at`: when the report was written (UTC, ISO 8601).

The report is current when dvc.lock still records the same outputs for exactly those stages (check_report).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from muaudit.io import canonical_json
from muaudit.lineage.lock import read_lock
from muaudit.lineage.manifest import MANIFEST

KEY = "identity"
REPORT_DIR = MANIFEST.parent


def params_digest(params: dict) -> str:
    return hashlib.sha256(canonical_json(params).encode()).hexdigest()


def built_from(workspace: Path, inputs: list[str]) -> dict[str, dict[str, str]]:
    """{stage: {output path: md5}} of the dvc.lock stages that produce the given input paths."""
    from muaudit.lineage.lock import producers

    stages = read_lock(workspace) if (workspace / "dvc.lock").exists() else {}
    found: dict[str, dict[str, str]] = {}
    for path in inputs:
        for stage in producers(stages, path.rstrip("/")):
            found[stage.name] = {o.path: o.md5 for o in stage.outs}
    return dict(sorted(found.items()))


def lock_digest(built: dict[str, dict[str, str]]) -> str:
    return hashlib.sha256(canonical_json(built).encode()).hexdigest()


def make_identity(workspace: Path, params: dict, code_commit: str, inputs: list[str]) -> dict:
    built = built_from(workspace, inputs)
    return {"params_digest": params_digest(params), "code_commit": code_commit, "lock_digest": lock_digest(built),
            "inputs": sorted(inputs), "built_from": built,
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def identity_markdown(identity: dict) -> str:
    return ("## Identity of this audit\n\n"
            f"- params digest: `{identity['params_digest']}`\n"
            f"- code commit: `{identity['code_commit']}`\n"
            f"- dvc.lock digest (outputs of {', '.join(identity['built_from']) or 'no stage'}): "
            f"`{identity['lock_digest']}`\n"
            f"- written at: {identity['written_at']}\n")


def identity_html(identity: dict) -> str:
    from html import escape

    rows = [("params digest", identity["params_digest"]), ("code commit", identity["code_commit"]),
            ("dvc.lock digest", identity["lock_digest"]), ("written at", identity["written_at"])]
    cells = "".join(f"<tr><th>{escape(k)}</th><td><code>{escape(v)}</code></td></tr>" for k, v in rows)
    return (f'<section id="identity"><h2>Identity of this audit</h2><table>{cells}</table>'
            f"<p>The dvc.lock digest covers the recorded outputs of: {escape(', '.join(identity['built_from']))}."
            " <code>muaudit verify</code> says when dvc.lock no longer records them.</p></section>")


def read_identity(workspace: Path) -> dict | None:
    """The identity in the report's manifest; None when there is no readable manifest or it predates identities."""
    path = Path(workspace) / MANIFEST
    try:
        return json.loads(path.read_text()).get(KEY)
    except (OSError, ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class ReportCheck:
    """Whether data/report/ still belongs to dvc.lock: `current` is None when the report carries no identity."""

    identity: dict | None
    changed: list[str] = field(default_factory=list)  # stages whose recorded outputs differ (or appeared/went)

    @property
    def current(self) -> bool | None:
        return None if self.identity is None else not self.changed

    def describe(self) -> str:
        """One line in `muaudit verify`'s format."""
        if self.identity is None:
            return f"{REPORT_DIR} carries no identity (written by an older muaudit): not checked against dvc.lock"
        if not self.changed:
            return f"{REPORT_DIR}: built from the outputs dvc.lock records"
        shown = ", ".join(self.changed[:5]) + (f" and {len(self.changed) - 5} more" if len(self.changed) > 5 else "")
        return (f"stale: {REPORT_DIR} (built from other outputs than dvc.lock now records for {shown}; "
                "rerun `muaudit run`)")


def check_report(workspace: str | Path) -> ReportCheck | None:
    """Compare the report's identity with dvc.lock; None when the workspace has no report.

    The check behind `muaudit verify`'s stale finding and the last-good-report line of `muaudit run`, and the
    one a Python API over the audit calls before it presents the report's results as current.
    """
    workspace = Path(workspace)
    if not (workspace / REPORT_DIR / "index.html").exists() and not (workspace / MANIFEST).exists():
        return None
    identity = read_identity(workspace)
    if not identity or "built_from" not in identity:
        return ReportCheck(None)
    recorded = identity["built_from"]
    now = built_from(workspace, identity.get("inputs", []))
    changed = sorted(s for s in set(recorded) | set(now) if recorded.get(s) != now.get(s))
    return ReportCheck(identity, changed)
