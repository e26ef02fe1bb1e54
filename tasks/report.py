"""report: index.html, report.md, manifest.json, and the DVC metrics/plots files from the metrics table."""

from __future__ import annotations

import csv
import dataclasses
import io
import platform

import pandas as pd

from muaudit.config import Params
from muaudit.controls import check_controls
from muaudit.io import canonical_json
from muaudit.lineage.identity import identity_html, identity_markdown
from muaudit.lineage.manifest import build_manifest
from muaudit.metrics import calibration
from muaudit.models.registry import default_layers
from muaudit.report import report_markdown, summary_table
from muaudit.report.findings import findings_html, findings_markdown
from muaudit.report.glance import conclusion, conclusion_html, conclusion_markdown, heatmap
from muaudit.report.instrument import instrument_check
from muaudit.report.page import judged_columns, render
from muaudit.report.plots import Cells, histograms, metric_plots, output_vs_representation
from muaudit.report.policy import evaluate
from muaudit.report.recovery import (
    recovery_html,
    recovery_lines,
    recovery_markdown,
    stability_html,
    stability_lines,
    stability_markdown,
)
from muaudit.report.summary import problems_html, summary_layer
from muaudit.report.tuning import chosen_settings, tuning_html, tuning_markdown
from muaudit.report.verdicts import verdicts_json
from muaudit.results import ChildRun, StageResult
from muaudit.runtime import configure


def model_devices(sidecars: dict[str, dict]) -> str:
    """The devices the models' tensors were on, from their sidecars: 'cpu', or e.g. 'cpu, cuda:0' if mixed."""
    return ", ".join(sorted({meta["device"] for meta in sidecars.values() if meta.get("device")}))


def dvc_metrics(table: pd.DataFrame, models: list[str], policy: dict, cells: Cells | None = None) -> dict:
    out, cells = {}, cells or Cells(table)
    for model in models:
        values = {}
        for _, metric, layer, role in judged_columns(table):
            v = cells.value(model, metric, layer, role)
            if v == v:
                values[f"{metric}/{layer}/{role}"] = round(v, 6)
        if model in policy["outcome"]:
            values["policy_pass"] = int(policy["outcome"][model]["pass"])
        out[model] = values
    return out


def layer_curves(table: pd.DataFrame, models: list[str], cells: Cells | None = None) -> str:
    """CSV (quantity, model, kind, layer, value) of every per-layer quantity, for `dvc plots show`: the
    template .dvc/plots/layers.json draws one panel per quantity, one line per model, the band dashed."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["quantity", "model", "kind", "layer", "value"])
    cells = cells or Cells(table)
    for _, metric, layer, role in judged_columns(table):
        if metric == "accuracy":
            continue
        quantity = f"{metric} ({role})" if role else metric
        for model in models:
            w.writerow([quantity, model, "model", layer, round(cells.value(model, metric, layer, role), 6)])
        for stat in ("low", "high"):
            w.writerow([quantity, f"retrain band {stat}", "retrain band", layer,
                        round(cells.band(metric, layer, role, stat), 6)])
    return buf.getvalue()


def audited_dataset(params: Params, split: dict) -> dict:
    """The dataset as the report run's input (MLflow's Datasets column)."""
    return {"name": split["dataset"], "digest": split["dataset_fingerprint"],
            "source": params.data.path or split["dataset"],
            "profile": {"fingerprint": split["dataset_fingerprint"], **split["counts"],
                        "split_fingerprint": split["split_fingerprint"],
                        "forget_set_fingerprint": split["forget_fingerprint"]}}


def verdict_runs(params: Params, values: dict[str, dict], verdicts: list[dict]) -> list[ChildRun]:
    """One run per judged model under the report's run: the method's params, its values (the keys of
    metrics.json) and its verdict, for MLflow's compare view."""
    blocks = params.unlearn.model_dump()
    return [ChildRun(v["model"], {"method": v["model"], **(blocks.get(v["model"]) or {})},
                     mlflow_names(values.get(v["model"], {})),
                     {"muaudit.verdict": v["verdict"], "muaudit.evidence": v["evidence"][:5000]}, "verdict")
            for v in verdicts]


def mlflow_names(values: dict[str, float]) -> dict[str, float]:
    """metrics.json keys (metric/layer/role) as MLflow metric names: no empty part (MLflow treats names as
    paths, and rejects "asymmetry/block1/")."""
    return {"/".join(part for part in key.split("/") if part): v for key, v in values.items()}


def run(params: Params, hooks, metrics: pd.DataFrame, split: dict, models: dict[str, dict], activations,
        lineage: dict, tune: dict[str, dict] | None = None) -> StageResult:
    """metrics: the metrics table; split: split.json with the forget set's fingerprint; models: model ->
    sidecar; activations: the store; lineage: what muaudit.runner.artifacts.read_lineage gathers; tune: the
    settings tune@<method> chose. The output is the report's files, name -> bytes."""
    table, split_info, sidecars = metrics, split, models
    methods = list(params.unlearn.methods)
    models = ["original", *methods]
    vcfg = params.metrics.parsed().verdict
    layers = params.extract.layers or default_layers(params.model.name, tuple(split_info["input_shape"]),
                                                     split_info["num_classes"], **params.model.kwargs)
    summary = summary_table(table, [f"retrain_{s}" for s in params.retrain.seeds], methods,
                            summary_layer(layers or ["logits"]), [*vcfg.output, *vcfg.representation])
    forget_desc = {"class": f"classes {params.split.forget_classes}",
                   "random": f"{params.split.forget_fraction:.0%} of train at random",
                   "ids": f"the {split_info['counts']['forget']} samples of a deletion request"}[params.split.scenario]
    header = {
        "dataset": f"{split_info['dataset']} (fingerprint {split_info['dataset_fingerprint'][:12]})",
        "scenario": f"{params.split.scenario}: forget {forget_desc}",
        "forget / retain / test": " / ".join(str(split_info["counts"][r]) for r in ("forget", "retain", "test")),
        "forget-set fingerprint": split_info["forget_fingerprint"][:16],
        "split fingerprint": split_info["split_fingerprint"][:16],
        "model": params.model.name,
        "retrain seeds": ", ".join(map(str, params.retrain.seeds)),
        "verdict rule": (f"declared false-alarm rate alpha = {vcfg.alpha} (family-wise, per model), "
                         f"K = {len(params.retrain.seeds)} retrain seeds, seed-to-seed tails modelled as Student t with "
                         f"{vcfg.tail_df if vcfg.tail_df is not None else 'infinite (normal)'} degrees of freedom; docs/verdict.md"),
        "measured false-alarm rate": calibration.sentence(params.split.scenario, params.data.name, params.model.name,
                                                          len(params.retrain.seeds), vcfg.alpha, tail_df=vcfg.tail_df),
    }
    if "tune_counts" in split_info:  # set aside for tune@<method>, in the counts above, never measured
        header["tuning split (not measured)"] = " / ".join(str(split_info["tune_counts"][r]) for r in ("forget", "retain", "test"))
    outcome = evaluate(table, methods, params.policy)
    policy = {"criteria": params.policy.model_dump(), "outcome": outcome,
              "pass": all(o["pass"] for o in outcome.values())}
    # the settings run_stage applied (configure is idempotent and returns what it set), with the devices
    # the models were computed on, as their sidecars recorded them
    env = {**configure(params.runtime.threads, params.runtime.device, params.runtime.deterministic),
           "platform": platform.platform()}
    env["device"] = model_devices(sidecars) or env["device"]
    record = {"code_commit": lineage["code_commit"], "params": params.model_dump(), "environment": env,
              "artifacts": lineage["artifacts"], "stage_runs": lineage["stage_runs"]}
    cells = Cells(table)
    plots = metric_plots(table, models, cells)
    scatter = output_vs_representation(table, models, cells)
    plots += ([scatter] if scatter else []) + histograms(activations, models)
    checks = check_controls(table, params.split.scenario)
    box = instrument_check(checks)
    errors = table[table.metric == "error"]
    problems = dict(zip(errors.model, errors.label, strict=True))
    verdict_records = verdicts_json(table, vcfg)
    sentences = conclusion(pd.DataFrame(verdict_records, columns=["model", "verdict", "layers_outside"]), methods,
                           checks)
    policy_md = "\n".join(f"- **{m}**: {'pass' if o['pass'] else 'fail: ' + '; '.join(o['reasons'])}"
                          for m, o in outcome.items())
    identity = lineage["identity"]
    recovery = recovery_lines(table, methods, cells)
    stability = stability_lines(table, methods)
    chosen = chosen_settings(tune or {}, methods)
    below = ("\n" + findings_markdown(table, methods) + recovery_markdown(recovery) + stability_markdown(stability)
             + tuning_markdown(chosen, table) + f"\n## Policy: {'PASS' if policy['pass'] else 'FAIL'}\n\n{policy_md}\n"
             + "\n" + identity_markdown(identity))
    md = report_markdown(summary, header, conclusion_markdown(sentences) + box[0], problems, below)
    # the conclusion and the instrument check go first: an auditor must see at once what was found and
    # whether the metrics can be trusted
    page = render(header, table, models, policy, plots, record, [*vcfg.output, *vcfg.representation],
                  top=conclusion_html(sentences) + box[1] + problems_html(problems),
                  glance=heatmap(table, models, judged_columns(table), cells),
                  before_policy=findings_html(table, methods) + recovery_html(recovery) + stability_html(stability),
                  end=tuning_html(chosen, table) + identity_html(identity), cells=cells)
    values = dvc_metrics(table, models, policy, cells)
    verdicts = table[(table.metric == "verdict") & (table.layer == "")].set_index("model")["label"].to_dict()
    body = {"audited": header, "params": params.model_dump(), "environment": env,
            "code_commit": lineage["code_commit"], "identity": identity, "verdicts": verdicts, "policy": policy,
            "instrument_check": [dataclasses.asdict(c) for c in checks],
            "artifacts": lineage["input_hashes"], "stage_runs": lineage["stage_runs"]}
    files = {"report.md": md.encode(), "index.html": page.encode(),
             "metrics.json": canonical_json(values).encode(),
             "layers.csv": layer_curves(table, models, cells).encode(),
             "verdicts.json": canonical_json(verdict_records).encode(),
             "manifest.json": canonical_json(build_manifest(body)).encode()}
    return StageResult(files, {"policy_pass": float(policy["pass"]), "plots": float(len(plots))},
                       children=verdict_runs(params, values, verdict_records),
                       dataset=audited_dataset(params, split_info))


if __name__ == "__main__":
    from muaudit.runner.stage import main

    main("report")
