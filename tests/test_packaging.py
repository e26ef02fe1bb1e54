"""pyproject.toml: only muaudit is installed, each dependency's lower bound is the version tested, and torch is
a range (any 2.x from 2.4) so that `pip install .` keeps a user's own torch."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_only_muaudit_is_installed():
    """tasks/ and flows/ stay project folders: the package list setuptools builds holds muaudit's alone."""
    find = PROJECT["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(str(ROOT), include=find["include"], exclude=find.get("exclude", ()))
    assert "muaudit" in packages and "muaudit.runner" in packages
    assert [p for p in packages if p.split(".")[0] != "muaudit"] == []


def _locked() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", (ROOT / "requirements.lock").read_text(), re.M)
    return {name.lower().replace("_", "-"): version for name, version in pins}


def test_lower_bounds_are_the_locked_versions():
    locked = _locked()
    deps = PROJECT["project"]["dependencies"] + PROJECT["project"]["optional-dependencies"]["dev"]
    wrong = []
    for dep in deps:
        if dep.startswith("torch"):  # a wide range on purpose: test_an_installed_torch_2x_satisfies_the_range
            continue
        name, op, version = re.match(r"([A-Za-z0-9_.\-]+)(==|>=)([^,;\s]+)", dep).groups()
        if locked.get(name.lower()) != version and locked.get(name.lower(), "").split("+")[0] != version:
            wrong.append(f"{dep}: requirements.lock has {locked.get(name.lower())}")
    assert wrong == []


def _torch() -> Requirement:
    return next(r for r in map(Requirement, PROJECT["project"]["dependencies"]) if r.name == "torch")


@pytest.mark.parametrize("installed", ["2.4.1", "2.5.1+cu124", "2.7.0+cu128", "2.13.0"])
def test_an_installed_torch_2x_satisfies_the_range_so_pip_keeps_it(installed: str):
    # pip's default upgrade strategy (only-if-needed) leaves an installed distribution that satisfies the range
    assert _torch().specifier.contains(installed)


def test_the_locked_torch_is_in_the_range_and_torch_3_is_not_promised():
    assert _torch().specifier.contains(_locked()["torch"]) and not _torch().specifier.contains("3.0.0")


def test_version_flag_prints_the_project_version():
    version = PROJECT["project"]["version"]
    out = subprocess.run([sys.executable, "-m", "muaudit.runner.cli", "--version"], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == f"muaudit {version}"
