"""What to run, decided by DVC alone, and how one stage is executed and recorded in dvc.lock.

No Prefect here: the flow in flows/audit.py sequences what this module plans. A stage is executed by
importing the module its dvc.yaml cmd names (`python -m tasks.<stage> ARGS`) and calling its main(ARGS)
in a warm worker process, then `dvc commit` records exactly what `dvc repro` would have recorded.
"""

from __future__ import annotations

import importlib
import os
import shlex
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from muaudit.errors import BadInputError


@dataclass
class Plan:
    """Stale stages in a valid execution order, why each is stale, and what each waits for."""

    stages: list[str]
    reasons: dict[str, list[str]] = field(default_factory=dict)
    upstream: dict[str, list[str]] = field(default_factory=dict)
    cmds: dict[str, str] = field(default_factory=dict)
    all_stages: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.stages


def _describe(changes: list) -> list[str]:
    out: list[str] = []
    for change in changes:
        if isinstance(change, str):
            out.append(change)
            continue
        for kind, items in change.items():
            if not isinstance(items, dict):
                out.append(f"{kind}: {items}")
                continue
            for path, what in items.items():
                if isinstance(what, dict):
                    out += [f"{kind}: {path} {key} {state}" for key, state in what.items()]
                else:
                    out.append(f"{kind}: {path} {what}")
    return out


@contextmanager
def repo(workspace: str | Path) -> Iterator:
    import logging

    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    logging.getLogger("dvc").setLevel(logging.WARNING)  # "Updating lock file" per stage is noise here

    try:
        with Repo(str(workspace)) as r:
            yield r
    except DvcException as err:
        raise BadInputError(f"dvc.yaml: {err}") from None


def make_plan(workspace: str | Path = ".") -> Plan:
    """Ask DVC which stages are stale, add everything downstream of them, order topologically."""
    import networkx as nx

    with repo(workspace) as r:
        status = r.status()
        graph = r.index.graph  # edge u -> v: stage u depends on stage v
        by_name = {s.addressing: s for s in graph.nodes}
        order = [s.addressing for s in reversed(list(nx.topological_sort(graph)))]
        stale = set(status)
        reasons = {name: _describe(changes) for name, changes in status.items()}
        for name in list(stale):
            for dependent in nx.ancestors(graph, by_name[name]):
                if dependent.addressing not in stale:
                    stale.add(dependent.addressing)
                    reasons.setdefault(dependent.addressing, [f"upstream stage '{name}' will rerun"])
        stages = [s for s in order if s in stale]
        upstream = {
            name: sorted(d.addressing for d in graph.successors(by_name[name]) if d.addressing in stale)
            for name in stages
        }
        cmds = {name: by_name[name].cmd for name in stages}
    return Plan(stages, reasons, upstream, cmds, order)


def parse_cmd(cmd: str) -> tuple[str, list[str]]:
    """Split a stage cmd of the form `python -m tasks.<module> ARGS` into (module, ARGS)."""
    argv = shlex.split(cmd)
    if len(argv) < 3 or argv[1] != "-m" or not argv[2].startswith("tasks."):
        raise BadInputError(f"dvc.yaml: stage cmd '{cmd}' is not of the form 'python -m tasks.<stage> ...'")
    return argv[2], argv[3:]


def execute(cmd: str, stage: str, env: dict[str, str]) -> int:
    """Run a stage cmd in this process (a warm worker): import its module and call main(args)."""
    module, args = parse_cmd(cmd)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ["MUAUDIT_STAGE"] = stage
    try:
        return int(importlib.import_module(module).main(args) or 0)
    finally:
        os.environ.pop("MUAUDIT_STAGE", None)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_COMMIT_LOCK = threading.Lock()


@contextmanager
def _commit_lock(workspace: str | Path) -> Iterator[None]:
    """Serialise dvc.lock writes across threads and processes (Dask workers commit their own stages)."""
    import fcntl

    state = Path(workspace) / ".muaudit"
    state.mkdir(exist_ok=True)
    with _COMMIT_LOCK, open(state / "commit.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def commit(workspace: str | Path, stage: str) -> None:
    """Record a finished stage in dvc.lock and the DVC cache, as `dvc repro` would."""
    with _commit_lock(workspace), repo(workspace) as r:
        r.commit(stage, force=True)


def lock_entry_digest(workspace: str | Path, stage: str) -> str:
    """A digest of the stage's dvc.lock entry: its cmd, deps, params and outs hashes."""
    import hashlib
    import json

    import yaml

    lock = yaml.safe_load((Path(workspace) / "dvc.lock").read_text()) or {}
    entry = lock.get("stages", {}).get(stage)
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest() if entry else ""
