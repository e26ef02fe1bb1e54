"""Every call into DVC's Python internals, fenced here, with the version range they were tested on.

DVC's documented Python API (`dvc.api`) reads params and data but neither plans nor commits stages, and its
public commands (`dvc status --json`, `dvc commit --force <stage>`) cost a process and a full DVC import each,
and one dvc.lock parse and rewrite per stage. So `muaudit run` asks DVC in process, through the few calls
below: `Repo.status()` (what `dvc status` prints), `Repo.index.graph` (what `dvc dag` draws), and the steps of
`dvc commit --force` (`PipelineStage.save/commit`, `ProjectFile.dump_stages`), batched so that dvc.lock is
rewritten once for several stages; and `Repo.cache.local.path`, where the configured cache keeps its
objects. Each was checked against DVC's own commands (tests/test_dvc_adapter.py:
after a commit here, `dvc status` reports the workspace up to date). Outside TESTED, `muaudit` stops at start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from muaudit.errors import BadInputError
from muaudit.runner.versions import require

# dvc_adapter relies on: Repo.status, Repo.index.graph/stages, lock_repo, PipelineStage.save/commit(relink=),
# ProjectFile.dump_stages(update_pipeline=) (added in the 3.x series). The lowest is the version tested.
TESTED = ("3.67.1", "4")


def check_version(installed: str | None = None) -> str:
    return require("dvc", *TESTED, adapter="muaudit/runner/dvc_adapter.py", installed=installed)


@contextmanager
def repo(workspace: str | Path) -> Iterator:
    check_version()
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    logging.getLogger("dvc").setLevel(logging.WARNING)  # "Updating lock file" per stage is noise here
    try:
        with Repo(str(workspace)) as r:
            yield r
    except DvcException as err:
        raise BadInputError(f"dvc.yaml: {err}") from None


@dataclass
class Graph:
    """What DVC says about the pipeline: the changes of each stale stage (as `dvc status --json` lists them),
    every stage in a valid execution order, what each stage depends on, and each stage's cmd."""

    status: dict[str, list]
    order: list[str]
    depends_on: dict[str, list[str]]
    cmds: dict[str, str]


def graph(workspace: str | Path) -> Graph:
    import networkx as nx

    with repo(workspace) as r:
        g = r.index.graph  # edge u -> v: stage u depends on stage v
        # by name, not addressing: addressing is relative to the current directory, not to the workspace
        name = {s.addressing: s.name for s in g.nodes}
        status = {name[a]: changes for a, changes in r.status().items()}
        order = [s.name for s in reversed(list(nx.topological_sort(g)))]
        depends_on = {s.name: sorted(d.name for d in g.successors(s)) for s in g.nodes}
        cmds = {s.name: s.cmd for s in g.nodes}
    return Graph(status, order, depends_on, cmds)


def commit(workspace: str | Path, stages: list[str]) -> dict[str, str]:
    """Record finished stages (run from the workspace: DVC resolves their paths from the current directory)
    in dvc.lock and the DVC cache as `dvc commit --force <stage>` would, several in
    one pass: dvc.lock is parsed and rewritten once for all of them, not once each (that file handling is most
    of a commit's 0.5 s). Returns stage -> error for the stages that could not be recorded."""
    from dvc.repo import lock_repo
    from dvc.stage import PipelineStage

    errors: dict[str, str] = {}
    with repo(workspace) as r, lock_repo(r):
        # by name, not addressing: addressing is relative to the current directory, not to the workspace
        by_name = {s.name: s for s in r.index.stages if isinstance(s, PipelineStage)}
        done = []
        for name in stages:
            try:
                stage = by_name[name]
                stage.save()
                # relink=False: the workspace copy is left as the stage wrote it (downstream stages may be
                # reading it right now); with DVC's copy cache relinking would only rewrite the same bytes.
                stage.commit(relink=False)
                done.append(stage)
            except Exception as err:  # one unrecordable stage must not keep the others out of dvc.lock
                errors[name] = f"{type(err).__name__}: {err}"
        files: dict[str, list] = {}
        for stage in done:
            files.setdefault(stage.dvcfile.path, []).append(stage)
        for group in files.values():
            group[0].dvcfile.dump_stages(group, update_pipeline=False)
    return errors


def cache_objects(workspace: str | Path) -> Path:
    """The folder of DVC's md5-addressed objects for this workspace, honouring a configured `cache.dir`
    (`muaudit verify` reads a folder's recorded file listing from it to name the file that changed)."""
    workspace = Path(workspace)
    if not (workspace / ".dvc").is_dir():  # a bare copy of the outputs and dvc.lock: DVC's default place
        return workspace / ".dvc/cache/files/md5"
    with repo(workspace) as r:
        return Path(r.cache.local.path)
