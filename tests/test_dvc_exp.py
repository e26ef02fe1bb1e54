"""`dvc exp run -S` of one param change reruns only the stages that the change made stale (docs/dvc.md)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import BIN

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def run(ws: Path, *cmd: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **GIT_ENV, "PATH": f"{BIN}:{os.environ['PATH']}"}  # stage cmds run `python`
    out = subprocess.run(cmd, cwd=ws, capture_output=True, text=True, timeout=1800, env=env)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    return out


@pytest.mark.slow
def test_exp_run_of_one_method_param_reruns_only_that_methods_stages(tiny_workspace: Path):
    ws = tiny_workspace
    dvc = str(BIN / "dvc")
    run(ws, dvc, "repro")
    run(ws, "git", "add", "-A")
    run(ws, "git", "commit", "-qm", "audit")
    exp = run(ws, dvc, "exp", "run", "-S", "unlearn.finetune.lr=0.02")
    ran = set(re.findall(r"Running stage '([^']+)'", exp.stdout))
    # tune@finetune reads the method's block (its search overrides live there); the attack reads its model
    assert ran == {"tune@finetune", "unlearn@finetune", "extract_unlearn@finetune", "attack_unlearn@finetune",
                   "metrics", "report"}, exp.stdout[-3000:]
    shown = run(ws, dvc, "exp", "show", "--no-pager", "--csv")
    assert "0.02" in shown.stdout
