"""Shared fixtures: a tiny params file, a throwaway workspace, and one Prefect server per test session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

TINY = {
    "train": {"epochs": 3},
    "retrain": {"seeds": [1, 2]},
    # two retrain seeds keep the end-to-end tests cheap; at alpha 0.05 they are refused (smallest K: 3)
    "metrics": {"verdict": {"alpha": 0.2}},
    "unlearn": {"methods": ["finetune", "gradient_ascent"], "tune": [],  # tuning: tests/test_tune_e2e.py
                "finetune": {"epochs": 2}, "gradient_ascent": {"epochs": 2}},
}


def deep_update(base: dict, new: dict) -> dict:
    for k, v in new.items():
        base[k] = deep_update(base.get(k, {}), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return base


def make_workspace(dest: Path, overrides: dict | None = None) -> Path:
    """Copy the tracked files of this repository into dest, as a fresh clone would have them."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        src = ROOT / rel
        if not src.exists() or rel == "dvc.lock":
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    (dest / "params.yaml").write_text(yaml.safe_dump(deep_update(params, overrides or {}), sort_keys=False))
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "workspace"]):
        subprocess.run(cmd, cwd=dest, check=True, env=env)
    return dest


@pytest.fixture
def tiny_workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws", TINY)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """One real Prefect server on loopback for the whole session; flows in tests report to it."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false", "DO_NOT_TRACK": "1"}
    log = open(home / "server.log", "w")
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"prefect server exited: {(home / 'server.log').read_text()[-2000:]}") from None
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("prefect server did not become healthy within 120 s")
    yield url
    stop(proc)
    log.close()


def stop(proc: subprocess.Popen, timeout_s: float = 20) -> None:
    """Terminate a server the tests started; kill it if it does not go within timeout_s."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()


def muaudit(ws: Path, *args: str, env: dict | None = None, timeout: int = 600,
            cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run this checkout's CLI (python -m from the repo root, so a worktree tests its own code).

    cwd=ws runs the workspace's own copy instead, for a test that edits the workspace's code.
    """
    return subprocess.run([sys.executable, "-m", "muaudit.runner.cli", "-C", str(ws), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env={**os.environ, **(env or {})})
