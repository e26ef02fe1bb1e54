"""README.md is a front door and docs/ holds the reference; what the docs restate from the code (parameter keys,
method defaults, metric names, the verdict's alpha) is checked against the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from muaudit.config import defaults_document
from muaudit.methods import registry as methods
from muaudit.metrics import registry as metrics

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def table_rows(text: str, header_start: str) -> list[list[str]]:
    """The cells of the rows of the first Markdown table whose header line starts with header_start."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_readme_is_a_front_door_whose_links_resolve():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    assert "docs/parameters.md" in links
    assert [link for link in links if not link.startswith("http") and not (ROOT / link).exists()] == []


def _keys(doc: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in doc.items():
        out.add(prefix + key)
        if isinstance(value, dict):
            out |= _keys(value, prefix + key + ".")
    return out


def test_every_parameter_key_the_reference_names_exists():
    keys = _keys(defaults_document())
    named = set(re.findall(r"`((?:data|split|model|train|retrain|unlearn|extract|metrics|policy|runtime)"
                           r"\.[a-z_<>.*]+)`", (DOCS / "parameters.md").read_text()))
    assert named
    unknown = []
    for key in named:
        pattern = re.escape(key).replace(r"<method>", "[a-z_]+").replace(r"\*", ".+")
        if not any(re.fullmatch(pattern, k) for k in keys):
            unknown.append(key)
    assert unknown == []
    blocks = {k for k in keys if "." not in k}
    assert {k.split(".")[0] for k in named} == blocks  # every block is described


def _number(text: str) -> float:
    return float(text)


def test_methods_table_states_each_methods_registered_defaults():
    rows = table_rows((DOCS / "methods.md").read_text(), "| name |")
    listed = [r[0] for r in rows]
    registered = [n for n in methods.names() if not methods.get(n).control and n != "external"]
    assert sorted(listed) == sorted(registered)
    wrong = []
    for name, *_, hyper, _cost, _scenarios in rows:
        defaults = methods.parse(name, None)[1].model_dump()
        for item in hyper.split(", "):
            key, value = re.fullmatch(r"([a-z_]+)(?: \(.+\))? (\S+)", item).groups()
            expected = defaults[key]
            if expected is None or isinstance(expected, str | list):  # null, a name, a list written [3,5,9]
                ok = value == ("null" if expected is None else str(expected).replace(" ", ""))
            else:
                ok = _number(value) == pytest.approx(expected)
            if not ok:
                wrong.append(f"{name}.{key}: docs {value}, code {expected}")
        stated = {re.fullmatch(r"([a-z_]+).*", item).group(1) for item in hyper.split(", ")}
        if missing := sorted(set(defaults) - stated):
            wrong.append(f"{name}: not stated: {', '.join(missing)}")
    assert wrong == []


def test_metrics_reference_names_every_judged_row_metric_and_the_verdict_states_alpha():
    text = (DOCS / "metrics.md").read_text()
    named = set()
    for header in ("| row metric | reference |", "| row metric | definition |"):
        for row in table_rows(text, header):
            named |= set(re.findall(r"`([a-z_0-9]+)`", row[0]))  # digits: klom_q50
    assert set(metrics.sides()) <= named | {"ua"}
    verdict = (DOCS / "verdict.md").read_text()
    stated = re.search(r"`metrics\.verdict\.alpha` \(default ([0-9.]+)\)", verdict).group(1)
    assert float(stated) == metrics.MetricsConfig().verdict.alpha
    for knob in ("band_widen", "band_tolerance", "layer_min_outside"):  # the former rule's knobs are gone
        assert knob not in text and knob not in (ROOT / "README.md").read_text()
