"""The two layers: the domain core (every muaudit module outside muaudit/runner/) imports nothing from the runner,
flows/ or tasks/, nor the tools the runner drives (Prefect, DVC, MLflow)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = ("muaudit.runner", "flows", "tasks", "prefect", "dvc", "mlflow")


def core_modules() -> list[str]:
    """Dotted names of the core's modules: muaudit/**/*.py outside muaudit/runner/."""
    names = []
    for path in sorted((ROOT / "muaudit").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if rel.parts[1] == "runner":
            continue
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        names.append(".".join(parts))
    return names


def blocked(name: str) -> bool:
    return any(name == b or name.startswith(b + ".") for b in BLOCKED)


def test_core_sources_name_no_runner_module_even_inside_functions():
    found = []
    for name in core_modules():
        path = ROOT / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / name.replace(".", "/") / "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [f"{name}: import {a.name}" for a in node.names if blocked(a.name)]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                if any(blocked(t) for t in targets):
                    found.append(f"{name}: from {node.module} import ...")
    assert found == []


def test_the_core_imports_with_the_runner_blocked():
    """Import every core module in a fresh interpreter where importing a blocked name raises."""
    script = f"""
import importlib, importlib.abc, sys
BLOCKED = {BLOCKED!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError("core imported " + name)
sys.meta_path.insert(0, Block())
for name in {core_modules()!r}:
    importlib.import_module(name)
import muaudit.methods.registry as m, muaudit.metrics.registry as r
m.names(); r.parse_config({{}})  # the registries import every method and metric module
leaked = sorted(n for n in sys.modules if any(n == b or n.startswith(b + ".") for b in BLOCKED))
assert not leaked, leaked
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok"


def test_the_blocker_catches_a_core_module_that_imports_the_runner(tmp_path):
    """The check above can fail: a module importing muaudit.runner is refused under the same blocker."""
    (tmp_path / "leaky.py").write_text("import muaudit.runner.tracking\n")
    script = f"""
import importlib.abc, sys
sys.path.insert(0, {str(tmp_path)!r})
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith("muaudit.runner"):
            raise ImportError("core imported " + name)
sys.meta_path.insert(0, Block())
import leaky
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "core imported muaudit.runner" in proc.stderr


def test_config_and_the_registries_have_no_import_cycle():
    """The method and metric modules build on muaudit.blocks, never on muaudit.config (which imports them)."""
    found = []
    for sub in ("methods", "metrics"):
        for path in sorted((ROOT / "muaudit" / sub).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module == "muaudit.config" or \
                        isinstance(node, ast.Import) and any(a.name == "muaudit.config" for a in node.names):
                    found.append(str(path.relative_to(ROOT)))
    assert found == []


def _runner_imports(tree: ast.AST) -> list[str]:
    """Imports of a blocked name, outside the `if __name__ == "__main__":` block."""
    found = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Import):
                found += [a.name for a in sub.names if blocked(a.name) and not a.name.startswith("tasks")]
            elif isinstance(sub, ast.ImportFrom) and sub.level == 0 and sub.module and blocked(sub.module) \
                    and not sub.module.startswith("tasks"):
                found.append(sub.module)
    return found


def test_stage_bodies_import_only_the_core():
    """tasks/<module>.py take data and return data: the runner (and Prefect, DVC, MLflow) only in __main__."""
    found = {path.name: names for path in sorted((ROOT / "tasks").glob("*.py"))
             if (names := _runner_imports(ast.parse(path.read_text())))}
    assert found == {}
    leaky = ast.parse("import os\nfrom muaudit.runner.tracking import run\nif __name__ == '__main__':\n"
                      "    from muaudit.runner.stage import main\n")
    assert _runner_imports(leaky) == ["muaudit.runner.tracking"]  # the check can fail
