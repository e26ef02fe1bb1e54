"""muaudit.runner.dvc_adapter: the DVC internals it uses still mean what DVC's own commands mean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from muaudit.runner import dvc_adapter
from muaudit.runner.versions import ToolVersionError

DVC = [sys.executable, "-m", "dvc"]
DVC_YAML = """\
stages:
  first:
    cmd: python -c "open('a.txt','w').write(open('in.txt').read().upper())"
    deps: [in.txt]
    outs: [a.txt]
  second:
    cmd: python -c "open('b.txt','w').write(open('a.txt').read() * 2)"
    deps: [a.txt]
    outs: [b.txt]
"""


@pytest.fixture
def two_stages(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # as `muaudit run`: DVC resolves a stage's paths from the current directory
    subprocess.run([*DVC, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    (tmp_path / "in.txt").write_text("abc")
    return tmp_path


def test_graph_and_commit_agree_with_dvc_status(two_stages: Path):
    ws = two_stages
    g = dvc_adapter.graph(ws)
    assert g.order == ["first", "second"]
    assert g.depends_on == {"first": [], "second": ["first"]}
    assert set(g.status) == {"first", "second"}  # never run: both stale
    assert "open('in.txt')" in g.cmds["first"]

    (ws / "a.txt").write_text("ABC")
    (ws / "b.txt").write_text("ABCABC")
    assert dvc_adapter.commit(ws, ["first", "second"]) == {}
    # DVC's own command agrees: what the adapter recorded is what `dvc commit` would have
    out = subprocess.run([*DVC, "status"], cwd=ws, capture_output=True, text=True, check=True).stdout
    assert "up to date" in out
    assert dvc_adapter.graph(ws).status == {}

    (ws / "in.txt").write_text("abcd")
    assert set(dvc_adapter.graph(ws).status) == {"first"}  # downstream propagation is the planner's job


def test_a_stage_that_cannot_be_recorded_leaves_the_others_recorded(two_stages: Path):
    (two_stages / "a.txt").write_text("ABC")  # second never wrote b.txt
    errors = dvc_adapter.commit(two_stages, ["first", "second"])
    assert list(errors) == ["second"]
    assert set(dvc_adapter.graph(two_stages).status) == {"second"}


@pytest.mark.parametrize("installed", ["3.48.0", "4.0.0", "2.58.2"])
def test_outside_the_tested_range_is_one_line(installed: str):
    with pytest.raises(ToolVersionError) as err:
        dvc_adapter.check_version(installed)
    line = str(err.value)
    assert "\n" not in line and f"dvc {installed}" in line and ">=3.67.1,<4" in line


def test_the_installed_dvc_is_in_the_tested_range():
    assert dvc_adapter.check_version() == subprocess.run(
        [*DVC, "--version"], capture_output=True, text=True, check=True).stdout.strip()


def test_verify_names_a_changed_file_with_the_cache_elsewhere(tmp_path: Path, monkeypatch):
    """cache.dir set outside the workspace: verify still finds the folder's recorded listing there."""
    from muaudit.runner.verify import verify

    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.chdir(ws)
    subprocess.run([*DVC, "init", "--no-scm", "-q"], check=True)
    subprocess.run([*DVC, "cache", "dir", str(tmp_path / "elsewhere")], check=True)
    (ws / "dvc.yaml").write_text("stages:\n  make:\n    cmd: echo\n    outs: [out]\n")
    (ws / "out").mkdir()
    (ws / "out/a.txt").write_text("a")
    (ws / "out/b.txt").write_text("b")
    assert dvc_adapter.commit(ws, ["make"]) == {}
    assert dvc_adapter.cache_objects(ws) == tmp_path / "elsewhere/files/md5"
    assert not (ws / ".dvc/cache/files").exists()
    (ws / "out/b.txt").write_text("changed")
    assert "modified: out/b.txt (md5 differs from dvc.lock)" in verify(ws).problems


def test_python_bytecode_beside_code_deps_is_not_part_of_any_hash():
    """Importing muaudit writes __pycache__ into muaudit/ (unless PYTHONDONTWRITEBYTECODE): DVC must not see
    it in the code deps, or every stage reading muaudit/... turns stale after the first import."""
    root = Path(__file__).resolve().parents[1]
    dvc = str(Path(sys.executable).parent / "dvc")
    ignored = subprocess.run([dvc, "check-ignore", "muaudit/metrics/__pycache__/band.cpython-311.pyc",
                              "tasks/__pycache__/train.cpython-311.pyc"], cwd=root, capture_output=True, text=True)
    assert ignored.returncode == 0 and len(ignored.stdout.split()) == 2, ignored.stdout + ignored.stderr
    code = subprocess.run([dvc, "check-ignore", "muaudit/metrics/band.py"], cwd=root, capture_output=True, text=True)
    assert code.returncode == 1  # the code itself still counts
