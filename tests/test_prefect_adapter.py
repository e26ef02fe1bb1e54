"""muaudit.runner.prefect_adapter: the temporary server and the worker draining still work on this Prefect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from muaudit.runner import prefect_adapter
from muaudit.runner.versions import ToolVersionError, release

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("installed", ["2.20.0", "3.0.0", "4.0.0rc1"])
def test_outside_the_tested_range_is_one_line(installed: str):
    with pytest.raises(ToolVersionError) as err:
        prefect_adapter.check_version(installed)
    line = str(err.value)
    assert "\n" not in line and f"prefect {installed}" in line and ">=3.9.1,<4" in line


def test_the_installed_prefect_is_in_the_tested_range():
    import prefect

    assert prefect_adapter.check_version() == prefect.__version__
    assert release("3.9.1.post2") == (3, 9, 1) and release("4.0.0rc1") == (4, 0, 0)


SMOKE = """
import os, socket, subprocess, sys, time
import httpx
from muaudit.runner import prefect_adapter
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
env = {**os.environ, **prefect_adapter.SERVER_ENV}
server = subprocess.Popen([sys.executable, "-m", "flows.prefect_server", str(port), str(os.getpid())], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
url = f"http://127.0.0.1:{port}/api"
try:
    deadline = time.monotonic() + 400  # a fresh PREFECT_HOME migrates its database first
    while True:
        assert server.poll() is None and time.monotonic() < deadline, "server did not start"
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    os.environ["PREFECT_API_URL"] = url
    from prefect import flow, get_run_logger
    @flow
    def smoke() -> int:
        get_run_logger().warning("smoke log line")
        return 7
    assert smoke() == 7
    assert prefect_adapter.drain_workers() == []
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        assert [r.state.type.value for r in runs] == ["COMPLETED"], runs
        assert any("smoke log line" in log.message for log in client.read_logs())
    print("ok")
finally:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:  # a loaded machine: uvicorn's graceful shutdown is no part of the check
        server.kill(); server.wait()
"""


@pytest.mark.slow
def test_the_temporary_server_runs_a_flow_and_keeps_its_logs(tmp_path: Path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", SMOKE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout[-1000:] + proc.stderr[-3000:]
