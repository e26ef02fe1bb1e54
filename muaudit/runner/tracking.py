"""MLflow recording through MlflowClient (explicit run ids: MLflow's active run is per thread).

One parent run per audit invocation, one child run per executed stage. The default store is
`sqlite:///<workspace>/mlflow.db`; MLFLOW_TRACKING_URI overrides it.
"""

from __future__ import annotations

import fcntl
import functools
import getpass
import json
import os
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from muaudit.errors import MuauditError
from muaudit.io import atomic_write, cache_dir, pid_alive
from muaudit.runner.interrupt import STOP

EXPERIMENT = os.environ.get("MUAUDIT_EXPERIMENT", "muaudit")


def tracking_uri(workspace: str | Path = ".") -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(workspace).resolve() / 'mlflow.db'}"


def _quiet() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def client(workspace: str | Path = "."):
    return _client(tracking_uri(workspace))


@functools.cache
def _client(uri: str):
    # One client per store and process: opening a SQLite store checks its schema (about 0.5 s each time).
    _quiet()
    from mlflow.tracking import MlflowClient

    if not uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri=uri)
    # A no-op's background record (muaudit.runner.noop_record) and the next audit may open the store at
    # once: one at a time, by a lock file.
    path = Path(uri.removeprefix("sqlite:///"))
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            fresh_store(path)
        return MlflowClient(tracking_uri=uri)


def fresh_store(path: Path) -> None:
    """A new mlflow.db, as a copy of the empty store of store_template() instead of running MLflow's schema
    migrations (2-4 s) at every fresh workspace's first run; MLflow checks the copy's schema on open."""
    import shutil

    try:
        template = store_template()
    except (OSError, subprocess.SubprocessError, MuauditError):  # no writable cache: MLflow makes the store
        return
    atomic_write(path, lambda tmp: shutil.copyfile(template, tmp))


def store_template() -> Path:
    """An empty store created and migrated by this MLflow version, once per user and version (in
    muaudit.io.cache_dir()); `make setup` creates it, off any audit's critical path."""
    import sys
    from importlib.metadata import version

    cache = cache_dir()
    template = cache / f"mlflow-{version('mlflow')}-empty.db"
    if not template.exists():
        # in a process of its own whose working directory is the cache: MLflow gives the store's `Default`
        # experiment (which muaudit never uses) an artifact folder there, not in whatever folder ran this;
        # SQLite takes the empty temporary file atomic_write makes as an empty database
        script = "from mlflow.tracking import MlflowClient; import sys; MlflowClient(sys.argv[1]).search_experiments()"
        atomic_write(template, lambda tmp: subprocess.run(
            [sys.executable, "-c", script, f"sqlite:///{tmp}"], cwd=cache, check=True, capture_output=True,
            env={**os.environ, "MLFLOW_LOGGING_LEVEL": "WARNING"}))
    return template


def experiment_id(cl, workspace: str | Path = ".") -> str:
    exp = cl.get_experiment_by_name(EXPERIMENT)
    if exp is not None:
        return exp.experiment_id
    artifacts = None
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        artifacts = (Path(workspace).resolve() / "mlartifacts").as_uri()
    try:
        return cl.create_experiment(EXPERIMENT, artifact_location=artifacts)
    except Exception:  # another process created it first
        return cl.get_experiment_by_name(EXPERIMENT).experiment_id


def git_commit(workspace: str | Path = ".") -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=workspace, capture_output=True, text=True, timeout=10, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=workspace, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (subprocess.SubprocessError, OSError):
        return "unknown"


def source_tags(workspace: str | Path, source: str) -> dict[str, str]:
    """MLflow's own source tags (the UI shows the commit, the entry point and the user) and whether the
    working tree had uncommitted changes."""
    commit = git_commit(workspace)
    return {"mlflow.source.git.commit": commit.removesuffix("-dirty"), "mlflow.source.name": source,
            "mlflow.source.type": "LOCAL", "mlflow.user": _user(),
            "muaudit.git.dirty": str(commit.endswith("-dirty")).lower()}


def commit_of(tags: dict[str, str]) -> str:
    """The code commit a run recorded, "-dirty" when the tree had changes ("" when not recorded)."""
    sha = tags.get("mlflow.source.git.commit", "")
    return sha + ("-dirty" if sha and tags.get("muaudit.git.dirty") == "true" else "")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (e.g. a container's arbitrary user)
        return str(os.getuid())


def _flatten(d: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = str(v)[:6000]
    return out


class RunRecorder:
    def __init__(self, cl, run_id: str):
        self.client = cl
        self.run_id = run_id

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        flat = _flatten(params)
        items = [Param(k, v) for k, v in sorted(flat.items())]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, 0) for k, v in sorted(metrics.items()) if v == v]
        for i in range(0, len(items), 500):
            self.client.log_batch(self.run_id, metrics=items[i : i + 500])

    def log_curve(self, points: list[tuple[str, int, float]]) -> None:
        """Points (key, step, value) of curves, e.g. a training loss per epoch; NaN is skipped."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, int(step)) for k, step, v in points if v == v]
        for i in range(0, len(items), 500):
            self.client.log_batch(self.run_id, metrics=items[i : i + 500])

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in sorted(tags.items())])

    def log_dict(self, obj: dict, name: str) -> None:
        self.client.log_dict(self.run_id, obj, name)

    def log_text(self, text: str, name: str) -> None:
        self.client.log_text(self.run_id, text, name)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_dataset(self, name: str, digest: str, source: str, profile: dict, context: str = "audit") -> None:
        """The dataset as a run input (MLflow's Datasets column): its name, fingerprint and sizes."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        dataset = Dataset(name=name, digest=digest[:36], source_type="local", source=source,
                          profile=json.dumps(profile, sort_keys=True))
        self.client.log_inputs(self.run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", context)])])


@contextmanager
def run(name: str, workspace: str | Path = ".", parent_run_id: str | None = None, tags: dict | None = None,
        source: str = "muaudit"):
    """Open a run (a child when parent_run_id is given); it ends FINISHED, FAILED or KILLED.
    source: the entry point (mlflow.source.name), e.g. the stage's module."""
    cl = client(workspace)
    # pid and host let a later audit mark this run KILLED if its process dies without ending it (SIGKILL).
    all_tags = {"muaudit.stage": name, **source_tags(workspace, source), "muaudit.pid": str(os.getpid()),
                "muaudit.host": socket.gethostname()}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    all_tags.update(tags or {})
    created = cl.create_run(experiment_id(cl, workspace), run_name=name, tags=all_tags)
    recorder = RunRecorder(cl, created.info.run_id)
    try:
        yield recorder
    except BaseException as err:
        # a stop signal ends the run KILLED, also when the stop surfaced as another error (muaudit.runner.interrupt)
        killed = isinstance(err, KeyboardInterrupt) or STOP.signum
        cl.set_terminated(recorder.run_id, status="KILLED" if killed else "FAILED")
        raise
    cl.set_terminated(recorder.run_id, status="FINISHED")


def method_run(parent: RunRecorder, workspace: str | Path, model: str, params: dict, metrics: dict[str, float],
               tags: dict[str, str], source: str) -> str:
    """One finished run per judged model under parent (the report's run), with its params, values and
    verdict, so that MLflow's compare view lines the methods up; returns its id."""
    cl = parent.client
    all_tags = {**source_tags(workspace, source), "mlflow.parentRunId": parent.run_id, "muaudit.kind": "verdict",
                "muaudit.model": model, **tags}
    created = cl.create_run(experiment_id(cl, workspace), run_name=model, tags=all_tags)
    recorder = RunRecorder(cl, created.info.run_id)
    try:
        recorder.log_params(params)
        recorder.log_metrics(metrics)
    except BaseException:
        cl.set_terminated(recorder.run_id, status="FAILED")
        raise
    cl.set_terminated(recorder.run_id, status="FINISHED")
    return recorder.run_id


def reap_dead_runs(workspace: str | Path = ".") -> list[str]:
    """Mark KILLED the runs left RUNNING by processes of this host that no longer exist; return their ids.

    A SIGKILLed process cannot end its own run, so the next audit does it. Runs of live processes (a
    concurrent `dvc repro`) and of other hosts are left alone.
    """
    cl = client(workspace)
    exp = cl.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return []
    host = socket.gethostname()
    reaped = []
    for r in cl.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'", max_results=1000):
        pid = r.data.tags.get("muaudit.pid", "")
        if r.data.tags.get("muaudit.host") == host and pid.isdigit() and not pid_alive(int(pid)):
            cl.set_tag(r.info.run_id, "muaudit.reaped", "process gone: killed or crashed")
            cl.set_terminated(r.info.run_id, status="KILLED")
            reaped.append(r.info.run_id)
    return reaped
