"""What to run, decided by DVC alone, and how one stage is executed and recorded in dvc.lock.

No Prefect here: the flow in flows/audit.py sequences what this module plans. A stage is executed in a
warm worker process as its dvc.yaml cmd (`python -m tasks.<module> ARGS`) would run it
(muaudit.runner.stage), then `dvc commit` records exactly what `dvc repro` would have recorded.
"""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from muaudit.errors import BadInputError
from muaudit.runner import dvc_adapter


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


def make_plan(workspace: str | Path = ".") -> Plan:
    """Ask DVC which stages are stale, add everything downstream of them, order topologically."""
    g = dvc_adapter.graph(workspace)
    stale = set(g.status)
    reasons = {name: _describe(changes) for name, changes in g.status.items()}
    dependents: dict[str, list[str]] = {name: [] for name in g.order}
    for name, deps in g.depends_on.items():
        for dep in deps:
            dependents[dep].append(name)
    todo = sorted(stale)
    while todo:  # everything downstream of a stale stage reruns too
        name = todo.pop()
        for dependent in dependents[name]:
            if dependent not in stale:
                stale.add(dependent)
                reasons.setdefault(dependent, [f"upstream stage '{name}' will rerun"])
                todo.append(dependent)
    stages = [s for s in g.order if s in stale]
    upstream = {name: [d for d in g.depends_on[name] if d in stale] for name in stages}
    cmds = {name: g.cmds[name] for name in stages}
    return Plan(stages, reasons, upstream, cmds, g.order)


# Stage modules that read dvc.lock (the report's lineage and identity): `muaudit run` starts them only once
# every finished stage is recorded there, as `dvc repro` does for every stage.
LOCK_READERS = ("tasks.report",)


def reads_lock(cmd: str) -> bool:
    return parse_cmd(cmd)[0] in LOCK_READERS


def parse_cmd(cmd: str) -> tuple[str, list[str]]:
    """Split a stage cmd of the form `python -m tasks.<module> ARGS` into (module, ARGS)."""
    argv = shlex.split(cmd)
    if len(argv) < 3 or argv[1] != "-m" or not argv[2].startswith("tasks."):
        raise BadInputError(f"dvc.yaml: stage cmd '{cmd}' is not of the form 'python -m tasks.<stage> ...'")
    return argv[2], argv[3:]


def execute(cmd: str, stage: str, env: dict[str, str]) -> int:
    """Run a stage cmd in this process (a warm worker), as `python -m tasks.<module>` would."""
    module, args = parse_cmd(cmd)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ["MUAUDIT_STAGE"] = stage
    try:
        from muaudit.runner import stage as stage_runner  # torch: only in the worker, never in a no-op

        return stage_runner.run(module.removeprefix("tasks."), args)
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


def commit(workspace: str | Path, stages: list[str]) -> dict[str, str]:
    """Record finished stages in dvc.lock and the DVC cache as `dvc repro` would (dvc_adapter.commit), one
    writer at a time; returns stage -> error for the stages that could not be recorded."""
    with _commit_lock(workspace):
        return dvc_adapter.commit(workspace, stages)


COMMIT_INTERVAL_S = 10.0  # the committer's batches are at least this far apart, unless a stage or the end waits
_FLUSH = object()  # a marker in the committer's queue: someone waits for every commit so far


class Committer:
    """Commits finished stages from one background thread, in batches.

    The stage's task hands its stage over and returns, so the next stage starts while the previous one
    is recorded; outputs are never rewritten by a commit (relink=False), so a downstream stage may read them
    meanwhile. Each commit round-trips the whole dvc.lock through DVC's YAML writer and re-reads dvc.yaml
    and params.yaml: 0.2-0.5 s of CPU that the stages need on a small machine (benchmarks/results.md). So
    a batch takes every stage that finishes within COMMIT_INTERVAL_S of the previous commit; flush() (a stage
    that reads dvc.lock) and close() (the end, also on Ctrl-C) commit at once. A SIGKILL loses at most the
    stages of one interval: their outputs are on disk, and the next audit reruns them.
    close() waits for every commit and returns stage -> error.
    """

    def __init__(self, workspace: str | Path, on_commit=None, interval_s: float = COMMIT_INTERVAL_S):
        import queue

        self.workspace = workspace
        self.on_commit = on_commit  # called with {stage: MLflow run id} of the committed stages
        self.interval_s = interval_s
        self.errors: dict[str, str] = {}
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="dvc-commit", daemon=True)
        self._thread.start()

    def submit(self, stage: str, run_id: str = "") -> None:
        self._queue.put((stage, run_id))

    def _loop(self) -> None:
        import queue
        import time

        closing = False
        last = float("-inf")
        while not closing:
            batch = [self._queue.get()]
            while batch[-1] is not None and batch[-1] is not _FLUSH:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, last + self.interval_s - time.monotonic())))
                except queue.Empty:
                    break
            while True:  # what else is queued already goes in this batch too
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            closing = None in batch
            try:
                self._commit_batch(dict(item for item in batch if isinstance(item, tuple)))
            finally:
                last = time.monotonic()
                for _ in batch:
                    self._queue.task_done()

    def _commit_batch(self, run_ids: dict[str, str]) -> None:
        stages = list(run_ids)
        if not stages:
            return
        try:
            errors = commit(self.workspace, stages)
        except Exception as err:
            errors = {s: f"{type(err).__name__}: {err}" for s in stages}
        self.errors.update(errors)
        ok = {s: run_ids[s] for s in stages if s not in errors}
        if ok and self.on_commit is not None:
            try:
                self.on_commit(ok)
            except Exception as err:  # tagging is bookkeeping: the stages are recorded
                print(f"warning: could not tag the MLflow runs of {', '.join(ok)}: {err}")

    def flush(self) -> None:
        """Wait until every stage submitted so far is recorded in dvc.lock (or failed to be)."""
        self._queue.put(_FLUSH)
        self._queue.join()

    def close(self) -> dict[str, str]:
        self._queue.put(None)
        try:
            self._thread.join()
        except KeyboardInterrupt:  # a stop during the last commits: they finish first (nothing computed is lost;
            self._thread.join()   # muaudit.runner.interrupt raises once, so this second wait is not interrupted)
            raise
        return dict(self.errors)


def lock_entry_digests(workspace: str | Path, stages: list[str]) -> dict[str, str]:
    """A digest of each stage's dvc.lock entry: its cmd, deps, params and outs hashes ("" if absent)."""
    import hashlib
    import json

    import yaml

    text = (Path(workspace) / "dvc.lock").read_text()
    lock = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    entries = lock.get("stages", {})
    return {s: hashlib.sha256(json.dumps(entries[s], sort_keys=True).encode()).hexdigest() if s in entries else ""
            for s in stages}
