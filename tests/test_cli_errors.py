"""`muaudit run` on bad input: one line, exit code 2, and the workspace's files are left as they were.

Only scratch state may be touched: DVC's .dvc/tmp (its `status` keeps caches there) and muaudit's
.muaudit/ lock, because the checks that need the dataset and the model run after DVC's plan (a no-op
skips them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import make_workspace, muaudit

SCRATCH = (".git/", ".dvc/tmp/", ".muaudit/")


def tree(ws: Path) -> dict[str, int]:
    return {str(p.relative_to(ws)): p.stat().st_mtime_ns for p in ws.rglob("*")
            if p.is_file() and not str(p.relative_to(ws)).startswith(SCRATCH)}


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        ({"split": {"forget_fractoin": 0.2}}, "split.forget_fractoin: unknown key (did you mean 'forget_fraction'?)"),
        ({"split": {"forget_classes": [42]}}, "split.forget_classes: [42] not in the dataset"),
        ({"extract": {"layers": ["nope"]}}, "extract.layers: unknown layer 'nope'"),
        ({"retrain": {"seeds": [1]}}, "retrain.seeds: at least two seeds"),
        # K too small for the declared alpha: refused before any stage runs, naming the smallest K that works
        ({"retrain": {"seeds": [1, 2]}, "metrics": {"verdict": {"alpha": 0.05}}},
         "retrain.seeds: 2 seeds cannot reach metrics.verdict.alpha = 0.05 (a quantity 10 retrain standard "
         "deviations off would pass); expected at least 3 seeds"),
    ],
)
def test_bad_params_change_nothing(tmp_path: Path, edit: dict, fragment: str):
    ws = make_workspace(tmp_path / "ws", edit)
    before = tree(ws)
    result = muaudit(ws, "run", env={"PREFECT_API_URL": "http://127.0.0.1:9/api"})  # never reached
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and fragment in result.stderr, result.stderr
    assert tree(ws) == before  # no lock file, no mlflow.db, no data/


def test_unreadable_params_file(tmp_path: Path):
    ws = make_workspace(tmp_path / "ws")
    (ws / "params.yaml").write_text(yaml.safe_dump({"split": {"seed": 1}})[:-3] + ": [")
    result = muaudit(ws, "status")
    assert result.returncode == 2 and "params.yaml: not valid YAML" in result.stderr
