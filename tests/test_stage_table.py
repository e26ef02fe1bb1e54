"""The stage table (muaudit/runner/stage_table.py) and dvc.yaml describe the same graph: every stage runs
the table's module with exactly the table's inputs, output, params keys and matrix."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from muaudit.runner import artifacts, stage_table
from muaudit.runner.stage import parser, recorded_params

ROOT = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def templated(text: str) -> str:
    """dvc.yaml's ${item.seed} as the table's {seed}."""
    return re.sub(r"\$\{item\.(\w+)\}", r"{\1}", text)


def cmd_options(cmd: str) -> tuple[str, dict[str, str]]:
    argv = shlex.split(templated(cmd))
    assert argv[:2] == ["python", "-m"], cmd
    pairs = argv[3:]
    assert len(pairs) % 2 == 0 and all(p.startswith("--") for p in pairs[::2]), cmd
    return argv[2], {k[2:].replace("-", "_"): v for k, v in zip(pairs[::2], pairs[1::2], strict=True)}


def out_paths(entry: dict) -> set[str]:
    paths = set()
    for section in ("outs", "metrics", "plots"):
        for out in entry.get(section, []):
            paths.add(templated(next(iter(out)) if isinstance(out, dict) else out))
    return paths


def test_the_table_has_every_dvc_stage_and_no_other():
    assert sorted(s.name for s in stage_table.STAGES) == sorted(DVC)


@pytest.mark.parametrize("stage", stage_table.STAGES, ids=lambda s: s.name)
def test_dvc_yaml_runs_the_tables_stage(stage):
    entry = DVC[stage.name]
    module, options = cmd_options(entry["cmd"])
    assert module == f"tasks.{stage.module}"
    named = {a.option: a.path for a in (*stage.inputs, stage.output) if a.option}
    assert options == {**named, **{k: f"{{{k}}}" for k in stage.options}}
    data_deps = {templated(d) for d in entry["deps"] if d.startswith(("data/", "supplied/data"))}
    assert data_deps == {a.path for a in stage.inputs if a.kind != "lineage"}
    outs = out_paths(entry)
    assert all(p == stage.output.path or p.startswith(stage.output.path + "/") for p in outs), outs
    assert [templated(p) for p in entry["params"]] == list(stage.params)
    assert sorted(entry.get("matrix", {})) == sorted(stage.matrix)


def test_stages_of_one_module_share_its_command_line():
    for module in {s.module for s in stage_table.STAGES}:
        stages = stage_table.of_module(module)
        shapes = {tuple((a.option, a.kind) for a in (*s.inputs, s.output)) for s in stages}
        assert len(shapes) == 1, module


def test_every_kind_has_a_reader_or_writer():
    for s in stage_table.STAGES:
        assert all(a.kind in artifacts.READERS for a in s.inputs), s.name
        assert s.output.kind in artifacts.WRITERS, s.name


def test_a_table_entry_that_disagrees_with_dvc_yaml_is_caught(monkeypatch):
    """The check above can fail: a table that forgets a params key no longer matches dvc.yaml."""
    stage = stage_table.by_name("train")
    broken = stage_table.Stage(stage.name, stage.module, stage.inputs, stage.output, stage.params[:-1])
    with pytest.raises(AssertionError):
        test_dvc_yaml_runs_the_tables_stage(broken)


def test_the_command_line_and_recorded_params_come_from_the_table():
    from muaudit.config import load_params

    args = parser("unlearn").parse_args(["--split", "s", "--original", "o", "--out", "x", "--method", "scrub"])
    assert args.seed is None and args.tuned is None
    params = load_params(ROOT / "params.yaml")
    recorded = recorded_params(stage_table.by_name("unlearn@scrub"), params, args)
    assert recorded["method"] == "scrub"
    assert recorded["unlearn.scrub"] == params.unlearn.model_dump()["scrub"]
    assert recorded["runtime.threads"] == params.runtime.threads
    assert set(recorded) == {"method", *(k.format(method="scrub") for k in stage_table.by_name("unlearn").params)}
