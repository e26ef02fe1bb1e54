"""Artifact hashes the way DVC records them in dvc.lock, so a rehash compares byte-for-byte with the lock.

DVC 3 hashes a file as the md5 of its bytes and a folder as the md5 of the JSON list of
{"md5", "relpath"} of its files sorted by relpath, suffixed ".dir".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def md5_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


def dir_entries(path: Path) -> list[dict[str, str]]:
    files = sorted((p for p in path.rglob("*") if p.is_file()), key=lambda p: p.relative_to(path).as_posix())
    return [{"md5": md5_file(f), "relpath": f.relative_to(path).as_posix()} for f in files]


def dir_md5(entries: list[dict[str, str]]) -> str:
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def dvc_md5(path: Path) -> str:
    """The md5 dvc.lock would record for path (a file or a folder)."""
    return dir_md5(dir_entries(path)) if path.is_dir() else md5_file(path)
