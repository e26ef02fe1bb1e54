"""Reading dvc.lock: the recorded outputs, dependencies and params of every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from muaudit.errors import BadInputError


@dataclass(frozen=True)
class Entry:
    path: str
    md5: str


@dataclass
class LockedStage:
    name: str
    cmd: str
    deps: list[Entry] = field(default_factory=list)
    outs: list[Entry] = field(default_factory=list)
    params: dict = field(default_factory=dict)


def read_lock(workspace: Path) -> dict[str, LockedStage]:
    path = workspace / "dvc.lock"
    if not path.exists():
        raise BadInputError(f"{path}: missing; expected the lineage record of a finished audit (run `muaudit run`)")
    raw = yaml.safe_load(path.read_text()) or {}
    stages = {}
    for name, s in (raw.get("stages") or {}).items():
        params = {}
        for values in (s.get("params") or {}).values():
            params.update(values)
        stages[name] = LockedStage(
            name, s.get("cmd", ""),
            [Entry(d["path"], d.get("md5", "")) for d in s.get("deps") or []],
            [Entry(o["path"], o.get("md5", "")) for o in s.get("outs") or []],
            params,
        )
    return stages


def producer(stages: dict[str, LockedStage], path: str) -> LockedStage | None:
    """The stage whose output is path or contains it."""
    for stage in stages.values():
        for out in stage.outs:
            if path == out.path or path.startswith(out.path.rstrip("/") + "/"):
                return stage
    return None


def producers(stages: dict[str, LockedStage], path: str) -> list[LockedStage]:
    """The stages whose outputs make up path: the one containing it, or every one inside a folder dep."""
    found = producer(stages, path)
    if found is not None:
        return [found]
    prefix = path.rstrip("/") + "/"
    return [s for s in stages.values() if any(o.path.startswith(prefix) for o in s.outs)]
