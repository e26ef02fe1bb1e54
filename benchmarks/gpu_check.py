"""The GPU check of issue 17: two audits with runtime.device: cuda, wall time and peak GPU memory per stage.

Usage (repository root, on a machine with a CUDA GPU and a CUDA build of torch):
    python benchmarks/gpu_check.py            # both parts, about 6 min on one H200; writes benchmarks/results.md
    python benchmarks/gpu_check.py --part default

(a) `default`: the default audit (digits, small_cnn, every method) with runtime.device: cuda.
(b) `cifar`: a CIFAR-10-shaped audit, model.name: resnet18 on synthetic 32x32x3 images of CIFAR-10's size
    (50,000 train + 10,000 test, written by this script as an npz: nothing is downloaded). Epochs are cut so
    that it fits the time budget; the numbers measure the machinery on a real GPU, not unlearning quality.

Each audit runs cold (`muaudit run`) in a fresh workspace made of this checkout's tracked files. Per stage
it reports the wall time and peak GPU memory that the stage's MLflow run recorded (`wall_time_s`,
`gpu_peak_memory_mib`) and the device its tensors were on (`env.device`); a model stage that did not run on
CUDA makes the check fail. Without a CUDA device the script stops at once with exit code 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
RESULTS = ROOT / "benchmarks/results.md"
START, END = "<!-- gpu_check:start -->", "<!-- gpu_check:end -->"

CIFAR_TRAIN, CIFAR_TEST, CIFAR_CLASSES = 50_000, 10_000, 10
CIFAR_DATA = "supplied/data/cifar_synthetic.npz"  # data.path must lie under supplied/data/
# The CIFAR-shaped audit within the budget: 2 epochs per model, one per method; fisher_forgetting is left
# out (per-sample gradients of 11M parameters x 45,000 samples x 10 classes alone exceed the budget).
CIFAR_PARAMS = {
    "data": {"name": "npz", "path": CIFAR_DATA, "test_fraction": CIFAR_TEST / (CIFAR_TRAIN + CIFAR_TEST)},
    "split": {"scenario": "class", "forget_classes": [3]},
    "model": {"name": "resnet18", "kwargs": {}},
    "train": {"epochs": 2, "lr": 0.001, "batch_size": 256},
    "retrain": {"seeds": [1, 2]},
    "metrics": {"verdict": {"alpha": 0.2}},  # two seeds support alpha 0.2 at most (docs/verdict.md)
    "unlearn": {
        "methods": ["finetune", "gradient_ascent", "scrub", "salun", "ssd", "head_only", "heldout_retrain"],
        "finetune": {"epochs": 1, "batch_size": 256},
        "gradient_ascent": {"epochs": 1, "batch_size": 256},
        "scrub": {"epochs": 1, "msteps": 1, "batch_size": 256, "forget_batch_size": 256},
        "salun": {"epochs": 1, "batch_size": 256},
        "ssd": {"batch_size": 256},
        "head_only": {"epochs": 1, "batch_size": 256},
        "heldout_retrain": {"epochs": 2, "batch_size": 256},
    },
    "extract": {"layers": ["layer2", "layer3", "layer4"], "batch_size": 1024, "max_samples_per_role": 1000},
    "runtime": {"device": "cuda"},
}
MODEL_STAGES = ("train", "retrain", "unlearn", "extract")  # the stages whose tensors must be on the GPU


def synthetic_cifar(path: Path, n: int = CIFAR_TRAIN + CIFAR_TEST, seed: int = 0) -> Path:
    """n images 3x32x32 in [0, 1], 10 balanced classes: a smooth random template per class plus noise, so
    that a network can learn them. Written in chunks, float32, about 740 MB at CIFAR's size."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((CIFAR_CLASSES, 3, 4, 4), dtype=np.float32)
    templates = coarse.repeat(8, axis=2).repeat(8, axis=3)  # 4x4 blocks of 8x8 pixels
    y = np.arange(n) % CIFAR_CLASSES
    rng.shuffle(y)
    x = np.empty((n, 3, 32, 32), dtype=np.float32)
    for start in range(0, n, 5000):
        part = y[start : start + 5000]
        noise = rng.standard_normal((len(part), 3, 32, 32), dtype=np.float32) * 0.25
        x[start : start + 5000] = np.clip(0.6 * templates[part] + 0.2 + noise, 0.0, 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, y=y.astype(np.int64))
    return path


def stage_table(ws: Path, parent_run_id: str) -> list[dict]:
    """Per stage run of one audit: name, wall time, peak GPU memory and device, from MLflow."""
    from mlflow.tracking import MlflowClient

    cl = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    exp = cl.get_experiment_by_name("muaudit").experiment_id
    runs = cl.search_runs([exp], f"tags.mlflow.parentRunId = '{parent_run_id}'", max_results=1000)
    rows = [{"stage": r.info.run_name, "wall_s": r.data.metrics.get("wall_time_s", float("nan")),
             "gpu_mib": r.data.metrics.get("gpu_peak_memory_mib"), "device": r.data.tags.get("env.device", "?"),
             "skipped": bool(r.data.metrics.get("skipped"))} for r in runs]
    return sorted(rows, key=lambda row: row["stage"])


def last_audit_run(ws: Path) -> str:
    from mlflow.tracking import MlflowClient

    cl = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    exp = cl.get_experiment_by_name("muaudit").experiment_id
    return cl.search_runs([exp], "tags.`muaudit.kind` = 'audit'", order_by=["attributes.start_time DESC"],
                          max_results=1)[0].info.run_id


def run_audit(name: str, ws: Path, timeout_s: int) -> dict:
    """A cold `muaudit run`; a timeout still reports the stages that finished (and says so)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "muaudit.runner.cli", "-C", str(ws), "run"], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout_s)
        code = str(proc.returncode)
    except subprocess.TimeoutExpired:
        code = f"timed out after {timeout_s} s"
    wall = time.perf_counter() - start
    if code not in ("0", "1") and not code.startswith("timed out"):  # 1: a method failed, an audit outcome
        raise SystemExit(f"gpu_check: the {name} audit exited with {code}:\n{proc.stderr[-3000:]}")
    rows = stage_table(ws, last_audit_run(ws))
    off_gpu = [r["stage"] for r in rows
               if r["stage"].startswith(MODEL_STAGES) and not r["skipped"] and not r["device"].startswith("cuda")]
    return {"name": name, "wall_s": wall, "exit": code, "rows": rows, "off_gpu": off_gpu}


def section(env: dict, results: list[dict]) -> str:
    lines = [START, "## GPU check (issue 17): `python benchmarks/gpu_check.py`", "",
             *[f"- {k}: {v}" for k, v in env.items()], ""]
    for res in results:
        peak = max((r["gpu_mib"] or 0.0) for r in res["rows"]) if res["rows"] else 0.0
        lines += [f"### {res['name']}: cold `muaudit run` {res['wall_s']:.1f} s, exit {res['exit']}, "
                  f"{len(res['rows'])} stages, largest stage peak {peak:.0f} MiB", ""]
        if res["off_gpu"]:
            lines += [f"**FAILED: stages not on CUDA: {', '.join(res['off_gpu'])}**", ""]
        lines += ["| stage | wall s | peak GPU MiB | env.device |", "|---|---|---|---|"]
        lines += [f"| {r['stage']} | {r['wall_s']:.2f} | {_mib(r['gpu_mib'])} | {r['device']} |" for r in res["rows"]]
        lines.append("")
    return "\n".join(lines) + END + "\n"


def _mib(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def gpu_section(text: str) -> str:
    """The GPU check section of results.md ("" if there is none), for the CPU benchmark to keep."""
    if START in text and END in text:
        return START + text.split(START, 1)[1].split(END, 1)[0] + END + "\n"
    return ""


def replace_section(text: str, new: str) -> str:
    """results.md with its GPU check section replaced (or appended): the CPU benchmark keeps it too."""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        return head + new + rest.split(END, 1)[1].lstrip("\n")
    return text.rstrip("\n") + "\n\n" + new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("default", "cifar", "both"), default="both")
    parser.add_argument("--timeout-default", type=int, default=180, help="seconds for the default audit")
    parser.add_argument("--timeout-cifar", type=int, default=330, help="seconds for the CIFAR-shaped audit")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device (torch.cuda.is_available() is False, torch "
              f"{torch.__version__}); run it on a GPU machine with a CUDA build of torch", file=sys.stderr)
        return 2
    from conftest import make_workspace

    env = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
           "GPU": f"{torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB",
           "torch / CUDA": f"{torch.__version__} / {torch.version.cuda}", "CPU cores": os.cpu_count()}
    results = []
    with tempfile.TemporaryDirectory(prefix="muaudit-gpu-") as tmp:
        if args.part in ("default", "both"):
            ws = make_workspace(Path(tmp) / "default", {"runtime": {"device": "cuda"}})
            results.append(run_audit("default audit (digits, small_cnn), runtime.device: cuda", ws,
                                     args.timeout_default))
        if args.part in ("cifar", "both"):
            ws = make_workspace(Path(tmp) / "cifar", CIFAR_PARAMS)
            made = time.perf_counter()
            synthetic_cifar(ws / CIFAR_DATA)
            env["synthetic CIFAR-10-shaped data"] = (f"{CIFAR_TRAIN} train + {CIFAR_TEST} test, 3x32x32, written in "
                                                     f"{time.perf_counter() - made:.1f} s")
            results.append(run_audit("CIFAR-10-shaped audit (resnet18, synthetic 32x32x3)", ws, args.timeout_cifar))
    RESULTS.write_text(replace_section(RESULTS.read_text() if RESULTS.exists() else "", section(env, results)))
    for res in results:
        print(f"{res['name']}: {res['wall_s']:.1f} s, exit {res['exit']}, off GPU: {res['off_gpu'] or 'none'}")
    return 1 if any(res["off_gpu"] or res["exit"].startswith("timed out") for res in results) else 0


if __name__ == "__main__":
    sys.exit(main())
