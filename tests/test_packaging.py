"""pyproject.toml: only muaudit is installed, and each dependency's lower bound is the version tested."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

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
        name, op, version = re.match(r"([A-Za-z0-9_.\-]+)(==|>=)([^,;\s]+)", dep).groups()
        if locked.get(name.lower()) != version and locked.get(name.lower(), "").split("+")[0] != version:
            wrong.append(f"{dep}: requirements.lock has {locked.get(name.lower())}")
    assert wrong == []
