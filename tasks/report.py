"""report: index.html, report.md, manifest.json, and the DVC metrics/plots files from the metrics table."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import platform
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from muaudit.config import Params
from muaudit.controls import check_controls
from muaudit.io import atomic_write_bytes, atomic_write_json
from muaudit.lineage.identity import identity_html, identity_markdown, make_identity
from muaudit.lineage.lock import read_lock
from muaudit.lineage.manifest import artifact_hashes, build_manifest
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
from muaudit.report.tuning import load_chosen, tuning_html, tuning_markdown
from muaudit.report.verdicts import verdicts_json
from muaudit.runner.records import stage_runs
from muaudit.runner.stage import main_exit, run_stage
from muaudit.runner.tracking import git_commit
from muaudit.runtime import configure


def forget_fingerprint(split_dir: Path) -> str:
    meta = pq.read_table(split_dir / "manifest.parquet").to_pandas()
    ids = sorted(meta[meta.role == "forget"].sample_id.astype(str)) if "role" in meta else []
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def lineage_record(workspace: Path, params: Params, env: dict) -> dict:
    """Every locked output with its dvc.lock md5 and the MLflow run that made it."""
    stages = read_lock(workspace) if (workspace / "dvc.lock").exists() else {}
    runs = stage_runs(workspace, list(stages))
    artifacts = [{"path": o.path, "stage": s.name, "md5": o.md5, **{
        k: runs.get(s.name, {}).get(k, "") for k in ("run_id", "git_commit")}} for s in stages.values() for o in s.outs]
    for a in artifacts:
        a["mlflow_run_id"] = a.pop("run_id") or "–"
    return {"code_commit": git_commit(workspace), "params": params.model_dump(), "environment": env,
            "artifacts": artifacts, "stage_runs": runs}


def model_devices(models_dir: Path) -> str:
    """The devices the models' tensors were on, from their sidecars: 'cpu', or e.g. 'cpu, cuda:0' if mixed."""
    devices = set()
    for sidecar in sorted(models_dir.glob("*/model.json")):
        device = json.loads(sidecar.read_text()).get("device")
        if device:
            devices.add(device)
    return ", ".join(sorted(devices))


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


def record_in_mlflow(recorder, params: Params, split_info: dict, split_dir: str, values: dict[str, dict],
                     verdicts: list[dict]) -> None:
    """The dataset as the report run's input, and one run per judged model under it: the method's params,
    its values (the keys of metrics.json) and its verdict, for MLflow's compare view."""
    from muaudit.runner.tracking import method_run

    dataset = {"name": split_info["dataset"], "digest": split_info["dataset_fingerprint"],
               "source": params.data.path or split_info["dataset"],
               "profile": {"fingerprint": split_info["dataset_fingerprint"], **split_info["counts"],
                           "split_fingerprint": split_info["split_fingerprint"],
                           "forget_set_fingerprint": forget_fingerprint(Path(split_dir))}}
    recorder.log_dataset(**dataset)
    blocks = params.unlearn.model_dump()
    for v in verdicts:
        model = v["model"]
        run_params = {"method": model, **(blocks.get(model) or {})}
        tags = {"muaudit.verdict": v["verdict"], "muaudit.evidence": v["evidence"][:5000]}
        method_run(recorder, Path.cwd(), model, run_params, mlflow_names(values.get(model, {})), tags,
                   source="tasks.report")


def mlflow_names(values: dict[str, float]) -> dict[str, float]:
    """metrics.json keys (metric/layer/role) as MLflow metric names: no empty part (MLflow treats names as
    paths, and rejects "asymmetry/block1/")."""
    return {"/".join(part for part in key.split("/") if part): v for key, v in values.items()}


def report(params: Params, metrics_dir: str, split_dir: str, models_dir: str, activations: str, out: str,
           tune_dir: str | None = None, recorder=None) -> dict:
    ws = Path.cwd()
    table = pq.read_table(Path(metrics_dir) / "metrics.parquet").to_pandas()
    split_info = json.loads((Path(split_dir) / "split.json").read_text())
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
        "forget-set fingerprint": forget_fingerprint(Path(split_dir))[:16],
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
    env["device"] = model_devices(Path(models_dir)) or env["device"]
    lineage = lineage_record(ws, params, env)
    cells = Cells(table)
    plots = metric_plots(table, models, cells)
    scatter = output_vs_representation(table, models, cells)
    plots += ([scatter] if scatter else []) + histograms(Path(activations), models)
    out_dir = Path(out)
    checks = check_controls(table, params.split.scenario)
    box = instrument_check(checks)
    errors = table[table.metric == "error"]
    problems = dict(zip(errors.model, errors.label, strict=True))
    verdict_records = verdicts_json(table, params.metrics.parsed().verdict)
    sentences = conclusion(pd.DataFrame(verdict_records, columns=["model", "verdict", "layers_outside"]), methods,
                           checks)
    policy_md = "\n".join(f"- **{m}**: {'pass' if o['pass'] else 'fail: ' + '; '.join(o['reasons'])}"
                          for m, o in outcome.items())
    identity = make_identity(ws, params.model_dump(), lineage["code_commit"],
                             [metrics_dir, split_dir, models_dir, activations])
    recovery = recovery_lines(table, methods, cells)
    stability = stability_lines(table, methods)
    chosen = load_chosen(tune_dir, methods) if tune_dir else {}
    below = ("\n" + findings_markdown(table, methods) + recovery_markdown(recovery) + stability_markdown(stability)
             + tuning_markdown(chosen, table) + f"\n## Policy: {'PASS' if policy['pass'] else 'FAIL'}\n\n{policy_md}\n"
             + "\n" + identity_markdown(identity))
    md = report_markdown(summary, header, conclusion_markdown(sentences) + box[0], problems, below)
    atomic_write_bytes(out_dir / "report.md", md.encode())
    # the conclusion and the instrument check go first: an auditor must see at once what was found and
    # whether the metrics can be trusted
    page = render(header, table, models, policy, plots, lineage, [*vcfg.output, *vcfg.representation],
                  top=conclusion_html(sentences) + box[1] + problems_html(problems),
                  glance=heatmap(table, models, judged_columns(table), cells),
                  before_policy=findings_html(table, methods) + recovery_html(recovery) + stability_html(stability),
                  end=tuning_html(chosen, table) + identity_html(identity), cells=cells)
    atomic_write_bytes(out_dir / "index.html", page.encode())
    values = dvc_metrics(table, models, policy, cells)
    atomic_write_json(out_dir / "metrics.json", values)
    atomic_write_bytes(out_dir / "layers.csv", layer_curves(table, models, cells).encode())
    atomic_write_json(out_dir / "verdicts.json", verdict_records)
    if recorder is not None:  # None under MUAUDIT_NO_TRACKING
        record_in_mlflow(recorder, params, split_info, split_dir, values, verdict_records)
    verdicts = table[(table.metric == "verdict") & (table.layer == "")].set_index("model")["label"].to_dict()
    body = {"audited": header, "params": params.model_dump(), "environment": env,
            "code_commit": lineage["code_commit"], "identity": identity, "verdicts": verdicts, "policy": policy,
            "instrument_check": [dataclasses.asdict(c) for c in checks],
            "artifacts": artifact_hashes(ws, [split_dir, models_dir, activations, metrics_dir]),
            "stage_runs": lineage["stage_runs"]}
    atomic_write_json(out_dir / "manifest.json", build_manifest(body))
    return {"policy_pass": float(policy["pass"]), "plots": float(len(plots))}


def main(argv: list[str] | None = None) -> int:
    def add(p):
        for flag in ("--metrics", "--split", "--models", "--activations", "--out"):
            p.add_argument(flag, required=True)
        p.add_argument("--tune", help="the settings chosen by tune@<method> (data/tune)")

    return run_stage(
        "report",
        argv,
        add,
        lambda params, a, hooks: report(params, a.metrics, a.split, a.models, a.activations, a.out, a.tune,
                                        hooks.recorder),
        lambda a: [a.out],
        lambda p, a: {"policy": p.policy.model_dump()},
    )


if __name__ == "__main__":
    main_exit(main())
