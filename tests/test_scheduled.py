"""Scheduled runs: their lines reach the terminal and the flow run's log, and a server that does not answer is
one line, not a traceback."""

from __future__ import annotations

import inspect
import io
import os
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT, make_workspace, muaudit

from flows import scheduled
from flows.scheduled import DEPLOYMENT, LineTee, lines_to
from muaudit.runner.workspace import FLOW_RUN_LOG_LEVEL


def test_line_tee_writes_through_and_logs_each_complete_line():
    out, logged = io.StringIO(), []
    tee = LineTee(out, logged.append)
    tee.write("error: unlearn@scrub: ValueError: NaN")
    assert logged == []  # half a line waits for its end
    tee.write(" in loss\n\nerror: 1 stage(s) failed: unlearn@scrub\npartial")
    assert out.getvalue() == "error: unlearn@scrub: ValueError: NaN in loss\n\nerror: 1 stage(s) failed: unlearn@scrub\npartial"
    assert logged == ["error: unlearn@scrub: ValueError: NaN in loss", "error: 1 stage(s) failed: unlearn@scrub"]
    assert not tee.isatty()  # a logged stream gets plain lines, never a redrawn status line


def test_lines_to_restores_the_stream():
    logged, before = [], sys.stderr
    with lines_to(logged.append, "stderr"):
        print("error: split: bad data", file=sys.stderr)
    assert sys.stderr is before and logged == ["error: split: bad data"]


def test_prefect_keeps_the_flow_run_lines_and_drops_its_own_info():
    code = ("import logging; from muaudit.runner.workspace import prefect_env; prefect_env(); "
            "from prefect.logging.configuration import setup_logging; setup_logging(); "
            "print(logging.getLogger('prefect.flow_runs').isEnabledFor(logging.INFO), "
            "logging.getLogger('prefect').isEnabledFor(logging.INFO))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_LOGGING")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_serve_against_a_server_that_does_not_answer_is_one_line(tmp_path: Path):
    ws = make_workspace(tmp_path / "ws")
    result = muaudit(ws, "serve", "--interval", "60", env={"PREFECT_API_URL": "http://127.0.0.1:9/api"}, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "PREFECT_API_URL: http://127.0.0.1:9/api does not answer" in result.stderr


def test_prefect_yaml_deploys_what_serve_serves():
    (dep,) = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    assert dep["name"] == DEPLOYMENT and dep["concurrency_limit"] == 1  # serve: limit=1
    path, _, attr = dep["entrypoint"].partition(":")
    assert path == "flows/scheduled.py" and getattr(scheduled, attr) is scheduled.scheduled_audit
    assert set(dep["parameters"]) == set(inspect.signature(scheduled.scheduled_audit.fn).parameters)
    assert dep["work_pool"]["job_variables"]["env"][FLOW_RUN_LOG_LEVEL] == "INFO"


def test_nightly_ci_example_pulls_audits_strictly_pushes_and_keeps_the_report():
    steps = yaml.safe_load((ROOT / "examples/ci/nightly.yml").read_text())["jobs"]["audit"]["steps"]
    runs = [s.get("run", s.get("uses", "")) for s in steps]
    order = [next(i for i, r in enumerate(runs) if key in r)
             for key in ("dvc pull", "muaudit run --strict", "dvc push", "upload-artifact")]
    assert order == sorted(order)
    kept = [s for s in steps if "upload-artifact" in s.get("uses", "")][0]
    assert kept["if"] == "always()" and "data/report/" in kept["with"]["path"]
