"""The audit manifest: every artifact's sha256, the params, the environment, the verdicts and the policy
outcome, with a digest over all of it and, when a key is configured, an Ed25519 signature of the digest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from muaudit.io import canonical_json, sha256_file
from muaudit.lineage import signing

MANIFEST = Path("data/report/manifest.json")


def artifact_hashes(workspace: Path, roots: list[str]) -> dict[str, str]:
    out = {}
    for root in roots:
        base = workspace / root
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for f in files:
            out[f.relative_to(workspace).as_posix()] = sha256_file(f)
    return out


def digest_of(body: dict) -> str:
    content = {k: v for k, v in body.items() if k not in ("digest", "signature")}
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def build_manifest(body: dict) -> dict:
    manifest = {**body, "digest": digest_of(body)}
    signature = signing.sign(manifest["digest"])
    if signature:
        manifest["signature"] = signature
    return manifest


def check_manifest(workspace: Path, findings, require_signature: bool) -> None:
    path = workspace / MANIFEST
    if not path.exists():
        findings.problems.append(f"missing: {MANIFEST} (expected the audit manifest written by the report stage)")
        return
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError:
        findings.problems.append(f"modified: {MANIFEST} (not valid JSON)")
        return
    if manifest.get("digest") != digest_of(manifest):
        findings.problems.append(f"modified: {MANIFEST} (digest does not match its content)")
    for rel, sha in (manifest.get("artifacts") or {}).items():
        f = workspace / rel
        if not f.exists():
            findings.problems.append(f"missing: {rel} (listed in the manifest)")
        elif sha256_file(f) != sha:
            findings.problems.append(f"modified: {rel} (sha256 differs from the manifest)")
    if not require_signature:
        return
    signature = manifest.get("signature")
    if signature is None:
        findings.notes.append(f"{MANIFEST} is unsigned (no {signing.SIGNING_ENV} when it was written): digest checked")
        return
    key = signing.verify_key()
    if key is None:
        findings.problems.append(f"unverified: {MANIFEST} (signed, but neither {signing.VERIFY_ENV} nor "
                                 f"{signing.SIGNING_ENV} names a key to check it)")
    elif not signing.check(manifest.get("digest", ""), signature, key):
        findings.problems.append(f"modified: {MANIFEST} (Ed25519 signature does not verify with key "
                                 f"{signing.public_hex(key)[:16]}…)")
    else:
        findings.notes.append(f"{MANIFEST}: Ed25519 signature valid (key {signing.public_hex(key)[:16]}…)")
