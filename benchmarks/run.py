"""The muaudit benchmark: items 1-8 of issue 9, written as a table to benchmarks/results.md.

Usage (repository root, committed code: workspaces are fresh copies of the tracked files):
    .venv/bin/python benchmarks/run.py            # default params; about 25 min on 2 cores
    .venv/bin/python benchmarks/run.py --quick    # the tests' tiny params everywhere; about 8 min
Every audit runs cold in its own throwaway workspace under a temporary folder, from that copy's code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from conftest import TINY, make_workspace  # noqa: E402

from benchmarks.gpu_check import gpu_section  # noqa: E402
from benchmarks.memory import memory_section  # noqa: E402

PY = sys.executable
LINES: list[str] = []
RESULTS = ROOT / "benchmarks/results.md"
GPU_SECTION = gpu_section(RESULTS.read_text()) if RESULTS.exists() else ""  # measured elsewhere: kept
MEMORY_SECTION = memory_section(RESULTS.read_text()) if RESULTS.exists() else ""  # benchmarks/memory.py: kept


def kept_section(text: str, name: str) -> str:
    """The section between <!-- name:start --> and <!-- name:end --> ("" if none): another benchmark's, kept."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    return start + text.split(start, 1)[1].split(end, 1)[0] + end + "\n" if start in text and end in text else ""


# benchmarks/setup_speed.sh and benchmarks/noop.py: kept
OTHER_SECTIONS = [kept_section(RESULTS.read_text(), n) for n in ("setup_speed", "noop")] if RESULTS.exists() else []


def out(line: str = "") -> None:
    print(line, flush=True)
    LINES.append(line)
    # rewritten as it goes: an interrupted run keeps its rows
    RESULTS.write_text("\n".join(LINES) + "\n" + "".join(f"\n{kept}" for kept in (GPU_SECTION, MEMORY_SECTION, *OTHER_SECTIONS) if kept))


def workspace(tmp: Path, name: str, overrides: dict | None) -> Path:
    ws = tmp / name
    ws.mkdir()
    make_workspace(ws, overrides)
    shutil.copy(ROOT / "benchmarks/scaled_loader.py", ws / "muaudit/data/loaders/digits_scaled.py")
    return ws


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, str]:
    """(wall s, peak RSS MiB of the largest process in the tree, output) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    # exit 1 with a failed method is an audit outcome (e.g. gradient ascent collapsing at 16x), not a crash
    if proc.returncode != 0 and "at least one method failed" not in proc.stderr:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024, proc.stdout + proc.stderr


def audit(ws: Path, workers: int = 1) -> tuple[float, float]:
    wall, rss, _ = timed([PY, "-m", "muaudit.runner.cli", "run", "--workers", str(workers)], ws)
    return wall, rss


def stage_times(ws: Path) -> dict[str, float]:
    """wall_time_s of each stage's last MLflow child run (the stage body, without worker dispatch)."""
    con = sqlite3.connect(ws / "mlflow.db")
    q = """SELECT t.value, m.value FROM metrics m JOIN tags t ON t.run_uuid = m.run_uuid
           WHERE m.key = 'wall_time_s' AND t.key = 'mlflow.runName' ORDER BY m.timestamp"""
    return {name: val for name, val in con.execute(q)}


def bare(ws: Path) -> dict:
    _, _, text = timed([PY, "benchmarks/bare.py"], ws)
    return json.loads(text.strip().splitlines()[-1])


def machine() -> list[str]:
    import dvc
    import mlflow
    import prefect
    import torch

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) / 2**20
    return [f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
            f"- CPU: {cpu}, {os.cpu_count()} cores; RAM {mem:.0f} GiB; {platform.platform()}",
            f"- python {platform.python_version()}, torch {torch.__version__}, prefect {prefect.__version__}, "
            f"dvc {dvc.__version__}, mlflow {mlflow.__version__}",
            f"- load average at start (1/5/15 min): {'/'.join(f'{v:.1f}' for v in os.getloadavg())} "
            "(the machine is shared: other processes compete for the same cores)"]


def overhead_breakdown(ws: Path, wall: float, last: bool = False) -> dict[str, float]:
    """Where an audit's wall time went, from the MLflow runs of its first invocation (last: of the latest
    one): before the first stage, between stages (dispatch, Prefect task runs), stage runs, and after the
    last stage."""
    con = sqlite3.connect(ws / "mlflow.db")
    runs = list(con.execute(
        """SELECT r.run_uuid, t.value, r.start_time, r.end_time FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid
           AND t.key = 'mlflow.runName' ORDER BY r.start_time"""))
    parents = [r for r in runs if r[1] == "audit" and r[3]]
    parent = parents[-1] if last else parents[0]
    stages = sorted((r for r in runs if r[1] != "audit" and "/" not in r[1] and parent[2] <= r[2] <= parent[3]),
                    key=lambda r: r[2])
    first, last = stages[0][2], max(r[3] for r in stages)
    body = sum(r[3] - r[2] for r in stages) / 1000
    # the parent run opens after the checks; the process started `wall` s before it ended, roughly
    before = wall - (parent[3] - first) / 1000
    return {"before_first_stage": before, "stage_runs": body, "after_last_stage": (parent[3] - last) / 1000,
            "between_stages": wall - before - body - (parent[3] - last) / 1000}


def bench_pairs(tmp: Path, overrides: dict, pairs: int) -> None:
    """Item 2 again, `pairs` times: bare.py and a cold `--workers 2` audit back to back, each pair in fresh
    workspaces, so that both sides of each ratio meet the same load on a shared machine."""
    import statistics

    if pairs < 1:
        return
    out(f"\nItem 2 measured side by side {pairs} more time(s) (bare, then the cold audit with the default 2 workers):\n")
    out("| pair | bare s | cold `--workers 2` s | ratio | load average at the start |")
    out("|---|---|---|---|---|")
    ratios = []
    for i in range(1, pairs + 1):
        load = os.getloadavg()[0]
        b = bare(workspace(tmp, f"pair{i}-bare", overrides))["total"]
        cold, _ = audit(workspace(tmp, f"pair{i}-cold", overrides), 2)
        ratios.append(cold / b)
        out(f"| {i} | {b:.1f} | {cold:.1f} | {cold / b:.2f} | {load:.1f} |")
    out(f"\nMedian ratio over the {pairs} pair(s): **{statistics.median(ratios):.2f}** (goal <= 1.15).\n")


def bench_pipeline(tmp: Path, overrides: dict, label: str) -> Path:
    import yaml

    ws = workspace(tmp, "cold", overrides)
    out(f"## 1-4, 7. The audit ({label})\n")
    cold, rss = audit(ws, 1)
    stages = stage_times(ws)
    parts = overhead_breakdown(ws, cold)
    b = bare(ws)
    noops = [audit(ws, 1)[0] for _ in range(3)]
    params = yaml.safe_load((ws / "params.yaml").read_text())
    n_methods = len(params["unlearn"]["methods"])
    params["unlearn"]["finetune"]["lr"] = params["unlearn"]["finetune"].get("lr", 0.05) * 1.1
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    one, _ = audit(ws, 1)
    one_parts = overhead_breakdown(ws, one, last=True)
    one_stages = stage_times(ws)  # each stage's last run: the rerun's for the stages it ran
    report = stages.get("report", 0.0)
    ws2 = workspace(tmp, "cold2", overrides)
    par, _ = audit(ws2, 2)
    out("| item | measured | goal | met |")
    out("|---|---|---|---|")
    out(f"| 1. cold `muaudit run --workers 1` | {cold:.1f} s, peak RSS {rss:.0f} MiB (largest process) | - | - |")
    out(f"| 2. bare computation (benchmarks/bare.py) | {b['total']:.1f} s (imports {b['imports']:.1f} s) | - | - |")
    ratio = cold / b["total"]
    out(f"| 2. overhead ratio, 1 worker: cold / bare | {ratio:.2f} | <= 1.15 | {'yes' if ratio <= 1.15 else 'no'} |")
    ratio2 = par / b["total"]
    out(f"| 2. overhead ratio, default 2 workers: cold / bare | {ratio2:.2f} | <= 1.15 | "
        f"{'yes' if ratio2 <= 1.15 else 'no'} |")
    noop = sorted(noops)[1]
    out(f"| 3. no-op rerun (median of 3: {', '.join(f'{v:.1f}' for v in noops)}) | {noop:.1f} s | <= 5 s | "
        f"{'yes' if noop <= 5 else 'no'} |")
    goal = cold / n_methods + report
    out(f"| 4. one method's params changed (finetune.lr) | {one:.1f} s | <= cold/{n_methods} + report = {goal:.1f} s "
        f"| {'yes' if one <= goal else 'no'} |")
    out(f"| 7. cold `--workers 2` | {par:.1f} s; speedup over 1 worker {cold / par:.2f}x | - | - |")
    out("\nWhere the cold 1-worker audit's wall time went (from its MLflow runs):\n")
    out("| part | s | share |")
    out("|---|---|---|")
    for name, val in parts.items():
        out(f"| {name.replace('_', ' ')} | {val:.1f} | {val / cold:.0%} |")
    out("\nWhere the one-method rerun's wall time went (item 4, workers=1; stage bodies from their MLflow runs):\n")
    out("| part | s |")
    out("|---|---|")
    for name, val in one_parts.items():
        out(f"| {name.replace('_', ' ')} | {val:.1f} |")
    for name in ("unlearn@finetune", "extract_unlearn@finetune", "attack_unlearn@finetune", "metrics", "report"):
        out(f"| of the stage runs: {name} body | {one_stages.get(name, float('nan')):.2f} |")
    out("\nPer-stage time (stage body as recorded in MLflow, workers=1) against the bare phase:\n")
    out("| stage | pipeline s | bare phase | bare s |")
    out("|---|---|---|---|")
    from muaudit.runner import stage_table

    groups: dict[str, float] = {}
    for name, val in stages.items():
        if name == "audit" or "/" in name:  # the parent run, and child runs (trials, judged models)
            continue
        key = stage_table.by_name(name).module  # bare.py times each module's body, summed over its runs
        groups[key] = groups.get(key, 0.0) + val
    for key, val in groups.items():
        out(f"| {key} | {val:.2f} | {key} | {b.get(key, float('nan')):.2f} |")
    body = sum(groups.values())
    out(f"| **sum of stage bodies** | {body:.2f} | total incl. imports | {b['total']:.2f} |")
    out(f"\nOutside the stage bodies (process start, imports, Prefect, DVC status/commit, MLflow runs): "
        f"{cold - body:.1f} s of {cold:.1f} s.\n")
    return ws


def bench_extraction(ws: Path) -> None:
    import torch

    from muaudit.config import load_params
    from muaudit.data import load_split
    from muaudit.extraction import extract, resolve_layers
    from muaudit.models import build_model, load_model
    from muaudit.store import read_layer, write_model_activations

    p = load_params(ws / "params.yaml")
    torch.set_num_threads(p.runtime.threads)
    data = load_split(ws / "data/split")
    net, _ = load_model(build_model(p.model.name, data.input_shape, data.num_classes), ws / "data/models/original")
    x = torch.from_numpy(data.x)
    layers = resolve_layers(net, p.extract.layers)
    reps = 5
    net.eval()  # as extract() does: a plain pass in train mode would pay for dropout and batch statistics
    extract(net, x, layers, p.extract.batch_size)  # warm-up: the first pass pays one-off allocations
    s = time.perf_counter()
    with torch.inference_mode():
        for _ in range(reps):
            for i in range(0, len(x), p.extract.batch_size):
                net(x[i : i + p.extract.batch_size])
    plain = (time.perf_counter() - s) / reps
    s = time.perf_counter()
    for _ in range(reps):
        acts = extract(net, x, layers, p.extract.batch_size)
    hooked = (time.perf_counter() - s) / reps
    dest = ws / "bench_acts" / "model=bench"
    write_model_activations(dest, data.sample_ids, data.roles, data.y, acts)  # warm-up, as for the passes
    s = time.perf_counter()
    for _ in range(reps):
        write_model_activations(dest, data.sample_ids, data.roles, data.y, acts)
    write = (time.perf_counter() - s) / reps
    values = sum(a.reshape(len(a), -1).size for a in acts.values())
    size = sum(f.stat().st_size for f in dest.rglob("*.parquet"))
    widest = max(acts, key=lambda k: acts[k].reshape(len(x), -1).shape[1])
    read_layer(dest.parent, "bench", widest)
    s = time.perf_counter()
    for _ in range(reps):
        read_layer(dest.parent, "bench", widest)
    read = (time.perf_counter() - s) / reps
    raw_mb = values * 4 / 2**20
    out("## 5. Extraction (original model, all samples, mean of 5)\n")
    out("| quantity | value |")
    out("|---|---|")
    out(f"| samples x stored values | {len(x)} x {values // len(x)} ({', '.join(acts)}) |")
    out(f"| plain forward pass | {plain * 1e3:.1f} ms |")
    out(f"| forward with hooks + pooling | {hooked * 1e3:.1f} ms ({hooked / plain:.2f}x plain) |")
    out(f"| + Parquet write | {write * 1e3:.1f} ms; extraction total {(hooked + write) / plain:.2f}x plain (goal <= 1.3x) |")
    out(f"| activations per second (hooks + write) | {values / (hooked + write):,.0f} |")
    out(f"| Parquet bytes per value | {size / values:.2f} (raw float32: 4; {size / 2**20:.2f} MiB for {raw_mb:.2f} MiB) |")
    out(f"| read-back of one model/layer ({widest}) | {read * 1e3:.1f} ms |")
    out("")
    parquet_settings(acts[widest].reshape(len(x), -1), ws / "bench_codec.parquet")


def parquet_settings(feats, path: Path) -> None:
    """Bytes per value and write/read time of one layer under candidate layouts and Parquet settings."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    n, d = feats.shape
    names = [f"u{j:04d}" for j in range(d)]
    wide = pa.Table.from_arrays([pa.array(feats[:, j]) for j in range(d)], names=names)
    offsets = pa.array(np.arange(0, n * d + 1, d, dtype=np.int32))
    listed = pa.Table.from_arrays([pa.ListArray.from_arrays(offsets, pa.array(feats.ravel()))], names=["features"])
    bss = ["features.list.element"]
    candidates = {
        "list column, zstd-1 + byte-stream-split, no dictionary (the store's setting)":
            (listed, dict(compression="zstd", compression_level=1, use_dictionary=False, use_byte_stream_split=bss)),
        "list column, zstd-3 + byte-stream-split, no dictionary":
            (listed, dict(compression="zstd", compression_level=3, use_dictionary=False, use_byte_stream_split=bss)),
        "list column, zstd-1, no dictionary": (listed, dict(compression="zstd", compression_level=1, use_dictionary=False)),
        "list column, snappy, no dictionary": (listed, dict(compression="snappy", use_dictionary=False)),
        "list column, no compression, no dictionary": (listed, dict(compression="none", use_dictionary=False)),
        "list column, pyarrow defaults (snappy + dictionary)": (listed, dict()),
        "one column per unit, zstd-1 + byte-stream-split (the layout before)":
            (wide, dict(compression="zstd", compression_level=1, use_dictionary=False, use_byte_stream_split=True)),
    }
    out(f"Parquet layouts and settings for one layer ({n} x {d} float32), mean of 5 writes and reads:\n")
    out("| setting | bytes/value | write ms | read ms |")
    out("|---|---|---|---|")
    for label, (table, kw) in candidates.items():
        pq.write_table(table, path, **kw)  # warm-up: the first write of a codec pays its set-up
        pq.read_table(path)
        s = time.perf_counter()
        for _ in range(5):
            pq.write_table(table, path, **kw)
        w = (time.perf_counter() - s) / 5
        s = time.perf_counter()
        for _ in range(5):
            pq.read_table(path)
        r = (time.perf_counter() - s) / 5
        out(f"| {label} | {path.stat().st_size / feats.size:.2f} | {w * 1e3:.1f} | {r * 1e3:.1f} |")
    out("")


def bench_metrics(tmp: Path) -> None:
    import numpy as np

    from muaudit.metrics.cka import linear_cka
    from muaudit.metrics.procrustes import procrustes_distance

    out("## 6. Metrics\n")
    out("One pair of float32 matrices (n samples x d units), computed from scratch (the audit shares the centred")
    out("matrices and cross products between metrics; these are the stand-alone costs).\n")
    out("| n | d | linear CKA (debiased) s | Procrustes distance s |")
    out("|---|---|---|---|")
    rng = np.random.default_rng(0)
    for n in (10_000, 50_000):
        for d in (128, 512, 2048):
            a = rng.standard_normal((n, d), dtype=np.float32)
            b = a + 0.5 * rng.standard_normal((n, d), dtype=np.float32)
            s = time.perf_counter()
            linear_cka(a, b)
            cka_s = time.perf_counter() - s
            s = time.perf_counter()
            procrustes_distance(a, b)
            out(f"| {n} | {d} | {cka_s:.2f} | {time.perf_counter() - s:.2f} |")
            del a, b
    from muaudit.metrics.compute import compute_metrics
    from muaudit.metrics.context import ParquetStore
    from muaudit.runner.artifacts import read_sidecars
    from muaudit.store import write_model_activations

    n, dims = 1797, {"block1": 16, "block2": 32, "fc": 64, "logits": 10}
    ids = np.array([f"s{i:05d}" for i in range(n)])
    roles = rng.choice(["forget", "retain", "test"], n, p=[0.1, 0.7, 0.2]).astype(str)
    labels = rng.integers(0, 10, n)
    root = tmp / "metrics_acts"
    retrain = [f"retrain_{i}" for i in range(5)]
    out("Full metrics computation (5 retrained references, digits-sized activations) as methods grow:\n")
    out("| models (original + 5 retrain + methods) | compute_metrics s | s per model |")
    out("|---|---|---|")
    for m in (1, 2, 4, 8, 16):
        methods = [f"method_{i}" for i in range(m)]
        for model in ["original", *retrain, *methods]:
            if not (root / f"model={model}").exists():
                (tmp / "models" / model).mkdir(parents=True)
                (tmp / "models" / model / "model.json").write_text('{"status": "ok"}')
                acts = {k: rng.standard_normal((n, d)).astype(np.float32) for k, d in dims.items()}
                write_model_activations(root / f"model={model}", ids, roles, labels, acts)
        s = time.perf_counter()
        compute_metrics(ParquetStore(root), read_sidecars(str(tmp / "models")), retrain, methods, NO_ATTACKS,
                        "random")
        t = time.perf_counter() - s
        out(f"| {6 + m} | {t:.2f} | {t / (6 + m):.3f} |")
    out("")


# Activations only: the attack metrics read the attack stages' results, which this synthetic store lacks.
NO_ATTACKS = {"enabled": ["accuracy", "mia_efficacy", "loss_auc", "agreement", "kl", "avg_gap", "cka", "procrustes",
                          "probe", "asymmetry", "direction", "concentration"]}


def bench_scaling(tmp: Path, scales: list[int]) -> None:
    out("## 8. Scaling: cold audit (tiny params, --workers 2) as the dataset grows\n")
    out("digits replicated k times with a one-pixel shift and noise (benchmarks/scaled_loader.py).\n")
    out("| dataset | samples | cold audit s | bare s |")
    out("|---|---|---|---|")
    points = []
    for k in scales:
        ws = workspace(tmp, f"scale{k}", {**TINY, "data": {"name": "digits_scaled", "path": "supplied/data/scale.txt"}})
        (ws / "supplied/data/scale.txt").write_text(str(k))
        wall, _ = audit(ws, 2)
        b = bare(ws)
        points.append((k, wall, b["total"]))
        out(f"| {k}x | {1797 * k} | {wall:.1f} | {b['total']:.1f} |")
    out("\n```")
    top = max(w for _, w, _ in points)
    for k, wall, b in points:  # a text plot: it renders in any Markdown viewer
        out(f"{k:>3}x |{'#' * max(1, round(50 * wall / top)):<50}| {wall:.0f} s (bare {b:.0f} s)")
    out("```\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny params for the audit items too")
    parser.add_argument("--skip", default="", help="comma-separated items to skip: audit,extract,metrics,scaling")
    parser.add_argument("--scales", default="1,4,16", help="dataset multiples for item 8")
    parser.add_argument("--pairs", type=int, default=2, help="extra side-by-side pairs of item 2 (bare, cold at 2 workers)")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    out("# muaudit benchmark results\n")
    out(f"Command: `.venv/bin/python benchmarks/run.py{' --quick' if args.quick else ''}`\n")
    for line in machine():
        out(line)
    out("")
    with tempfile.TemporaryDirectory(prefix="muaudit-bench-") as d:
        tmp = Path(d)
        ws = None
        if "audit" not in skip:
            # without the tune@ stages' searches (benchmarks/bare.py runs the same tune bodies, so the ratio
            # would hold with them; they would make the benchmark take a quarter of an hour: docs/tuning.md)
            overrides = TINY if args.quick else {"unlearn": {"tune": []}}
            ws = bench_pipeline(tmp, overrides, "tiny params" if args.quick else "default params, unlearn.tune: []")
            bench_pairs(tmp, overrides, args.pairs)
        if "extract" not in skip:
            if ws is None:
                ws = workspace(tmp, "extract", TINY)
                audit(ws, 2)
            bench_extraction(ws)
        if "metrics" not in skip:
            bench_metrics(tmp)
        if "scaling" not in skip:
            bench_scaling(tmp, [int(k) for k in args.scales.split(",")])
    out(f"\nLoad average at the end (1/5/15 min): {'/'.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
