"""Peak memory at CIFAR scale (issue 17, item 6): extraction of one ResNet-18 and the metrics stage over a
20-model activation store, each in its own process, code before and after side by side in one run.

Usage (from the repository root):
    nice -n 10 python benchmarks/memory.py [--before REV] [--metrics-rev REV] [--extract-sizes 2000 4000]
                                           [--write-sizes 30000 60000] [--metrics-sizes 1500 3000]
                                           [--models 20] [--work DIR]
Prints one JSON line per measurement and writes them all to <work>/memory.json.

- The store is synthetic, nothing is trained: per sample a class mean plus a sample latent shared by every
  model, mixed by a model-specific near-identity matrix plus model noise, written through the real writer
  (muaudit.store.stream_model_activations) in the widths of ResNet-18's pooled layers and 10 logits;
  CIFAR-10's roles: 50,000 train (class 0 forgotten) and 10,000 test, in that proportion at every size.
- Extraction: the extract stage (tasks/extract.py) on an untrained ResNet-18 (width 64) and synthetic
  32x32x3 images, after a separate process wrote the split and the model.
- Write: the store half of extraction at full size (30,000 and 60,000 rows of ResNet-18's pooled widths),
  no forward pass: activations held whole and written at once (before) or appended per 256-row batch (after).
- "before" runs the code of REV (default: the commit this branch started from), exported with git archive;
  "after" runs this tree; --metrics-rev REV measures the metrics stage of another revision as well.
- Peak RSS is the child's ru_maxrss (os.wait4). A child above --kill-gib is killed (reported as such), so a
  size that cannot fit does not take the shared machine down.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512, "logits": 10}
RETRAINS = [f"retrain_{s}" for s in range(1, 6)]
CLASSES = 10
CHUNK_ROWS = 4096  # generation is chunked too, so the generator's memory stays small at any size
TARGET_SAMPLES = 60_000
LIMIT_GIB = 8
RESULTS = ROOT / "benchmarks/results.md"
START, END = "<!-- memory:start -->", "<!-- memory:end -->"


def model_ids(models: int) -> tuple[list[str], list[str]]:
    """(retrain ids, method ids): five retrains, the original and the rest as methods; models in all."""
    return RETRAINS, ["original", *[f"method_{i}" for i in range(models - len(RETRAINS) - 1)]]


def roles_labels(n: int):
    import numpy as np

    y = np.arange(n) % CLASSES
    train = np.arange(n) < n * 5 // 6  # CIFAR-10: 50,000 of 60,000 are train
    roles = np.where(~train, "test", np.where(y == 0, "forget", "retain"))
    return np.array([f"s{i:06d}" for i in range(n)]), roles, y


# --- children (run with PYTHONPATH set to the tree under test) --------------------------------------
def child_store(root: str, n: int, models: int) -> None:
    import numpy as np

    from muaudit.io import atomic_write_json
    from muaudit.store import stream_model_activations

    ids, roles, y = roles_labels(n)
    retrains, methods = model_ids(models)
    for m_index, model in enumerate([*retrains, *methods]):
        mix = {name: np.eye(d, dtype=np.float32) + np.random.default_rng([1, m_index, d]).normal(0, 0.3 / np.sqrt(d), (d, d)).astype(np.float32)
               for name, d in WIDTHS.items()}
        means = {name: np.random.default_rng([2, d]).normal(0, 1, (CLASSES, d)).astype(np.float32) for name, d in WIDTHS.items()}
        keeps_forget = model == "original" or model.startswith("method")  # retrains never saw the forget class
        with stream_model_activations(Path(root) / f"model={model}") as writer:
            for start in range(0, n, CHUNK_ROWS):
                sl = slice(start, min(start + CHUNK_ROWS, n))
                batch = {}
                for name, d in WIDTHS.items():
                    latent = np.random.default_rng([3, start, d]).normal(0, 1, (sl.stop - start, d)).astype(np.float32)
                    noise = np.random.default_rng([4, m_index, start, d]).normal(0, 0.3, latent.shape).astype(np.float32)
                    signal_ = means[name][y[sl]] * np.where((roles[sl] == "forget") & ~keeps_forget, 0.3, 1.0)[:, None]
                    batch[name] = ((signal_ + latent) @ mix[name] + noise).astype(np.float32)
                writer.append(ids[sl], roles[sl], y[sl], batch)
        atomic_write_json(Path(root).parent / "models" / model / "model.json", {"status": "ok"})


def child_prepare(folder: str, n: int) -> None:
    import numpy as np
    import torch

    from muaudit.data import Dataset
    from muaudit.data.split import write_split
    from muaudit.models import build_model, save_model

    _, roles, y = roles_labels(n)
    rng = np.random.default_rng(0)
    x = rng.random((n, 3, 32, 32), dtype=np.float32)
    write_split(Path(folder) / "split", Dataset("synthetic_cifar", x, y, np.array([f"s{i:06d}" for i in range(n)]), CLASSES),
                roles.astype(object))
    torch.manual_seed(0)
    save_model(build_model("resnet18", (3, 32, 32), CLASSES), Path(folder) / "model", {"status": "ok"})


def child_extract(folder: str) -> None:
    from muaudit.config import parse_params
    from muaudit.runner.stage import run_files

    p = parse_params({"model": {"name": "resnet18"}, "runtime": {"device": "cpu"}})
    run_files("extract_original", p, {"model_dir": f"{folder}/model", "split": f"{folder}/split",
                                      "out": f"{folder}/activations/model=original"})


def child_write(folder: str, n: int) -> None:
    """The store half of extraction at full size, without the forward pass: one model's activations in
    ResNet-18's pooled widths, held whole and written at once (code without streaming), or produced and
    appended one extraction batch (256 rows) at a time (code with streaming)."""
    import numpy as np

    import muaudit.store as store

    ids, roles, y = roles_labels(n)

    def batch(sl: slice) -> dict:
        return {name: np.random.default_rng([5, sl.start, d]).normal(0, 1, (sl.stop - sl.start, d)).astype(np.float32)
                for name, d in WIDTHS.items()}

    slices = [slice(s, min(s + 256, n)) for s in range(0, n, 256)]
    if hasattr(store, "stream_model_activations"):
        with store.stream_model_activations(Path(folder) / "model=m") as writer:
            for sl in slices:
                writer.append(ids[sl], roles[sl], y[sl], batch(sl))
    else:
        parts = [batch(sl) for sl in slices]
        acts = {name: np.concatenate([p[name] for p in parts]) for name in WIDTHS}
        del parts
        store.write_model_activations(Path(folder) / "model=m", ids, roles, y, acts)


def child_metrics(root: str, models: int) -> None:
    from muaudit.metrics import registry
    from muaudit.metrics.compute import compute_metrics
    from muaudit.metrics.context import ParquetStore
    from muaudit.runner.artifacts import read_sidecars

    retrains, methods = model_ids(models)
    # every enabled metric that reads activations (the attacks read the attack stages' results, which a
    # synthetic store does not have; their memory is one model's weights per stage)
    enabled = [n for n in registry.MetricsConfig().enabled if registry.get(n).scope != "attack"]
    table = compute_metrics(ParquetStore(root), read_sidecars(str(Path(root).parent / "models")), retrains,
                            methods, {"enabled": enabled},
                            scenario="class")
    print(f"rows={len(table)}", file=sys.stderr)


CHILDREN = {"_write": child_write, "_store": child_store, "_prepare": child_prepare, "_extract": child_extract, "_metrics": child_metrics}


# --- parent -------------------------------------------------------------------------------------------
def measure(tree: Path, args: list[str], kill_bytes: int, threads: int) -> dict:
    """Run this script's child mode under tree's code; peak RSS (bytes, ru_maxrss) and wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "OPENBLAS_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args], env=env, cwd=tree)
    killed = threading.Event()

    def guard() -> None:  # /proc polling only to stop a runaway child; the figure is ru_maxrss
        status = Path(f"/proc/{proc.pid}/status")
        while proc.returncode is None and not killed.is_set():
            try:
                rss = next(int(line.split()[1]) * 1024 for line in status.read_text().splitlines() if line.startswith("VmRSS"))
            except (OSError, StopIteration):
                return
            if rss > kill_bytes:
                killed.set()
                os.kill(proc.pid, signal.SIGKILL)
                return
            time.sleep(0.2)

    threading.Thread(target=guard, daemon=True).start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    killed_now = killed.is_set()
    killed.set()
    return {"peak_rss_bytes": usage.ru_maxrss * 1024, "wall_s": round(time.perf_counter() - start, 1),
            "rc": proc.returncode, "killed_over_limit": killed_now}


def export_tree(rev: str, dest: Path) -> Path:
    if not dest.exists():
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
        tar = dest.with_suffix(".tar")
        tar.write_bytes(archive)
        with tarfile.open(tar) as t:
            t.extractall(dest, filter="data")
        tar.unlink()
    return dest


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in CHILDREN:
        CHILDREN[argv[0]](argv[1], *map(int, argv[2:]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="55e30c8", help="git revision of the 'before' code (default: main before streaming extraction)")
    parser.add_argument("--metrics-rev", action="append", default=[], help="another revision whose metrics stage to measure")
    parser.add_argument("--extract-sizes", type=int, nargs="*", default=[2000, 4000])
    parser.add_argument("--metrics-sizes", type=int, nargs="*", default=[1500, 3000])
    parser.add_argument("--write-sizes", type=int, nargs="*", default=[30_000, 60_000])
    parser.add_argument("--after-metrics-sizes", type=int, nargs="*", default=[], help="sizes run by the after trees only")
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kill-gib", type=float, default=10.0)
    parser.add_argument("--work", default="/tmp/muaudit-memory")
    parser.add_argument("--codes", nargs="*", choices=("before", "after"), default=["before", "after"],
                        help="whose extraction to measure (runs can share --work and go in parallel)")
    parser.add_argument("--json", default="memory.json", help="the measurements file, in --work")
    parser.add_argument("--no-write", action="store_true", help="do not write the section into benchmarks/results.md")
    parser.add_argument("--from-json", nargs="*", default=[], help="only write the section from these memory.json files")
    a = parser.parse_args(argv)
    command = "python benchmarks/memory.py " + " ".join(argv)
    if a.from_json:
        results = [r for f in a.from_json for r in json.loads(Path(f).read_text())]
        write_section(section(results, command, "/".join(f"{v:.1f}" for v in os.getloadavg())))
        return
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    before = export_tree(a.before, work / f"tree-{a.before.replace('/', '_')}")
    trees = {"before": before, "after": ROOT}
    # the after tree's metrics stage is measured only where its code differs from before's
    same = subprocess.run(["git", "diff", "--quiet", a.before, "--", "muaudit/metrics", "muaudit/store"], cwd=ROOT).returncode == 0
    metric_trees = {**({"before": before} if same else trees), **{f"rev:{r}": export_tree(r, work / f"tree-{r.replace('/', '_')}") for r in a.metrics_rev}}
    kill = int(a.kill_gib * 2**30)
    results = []

    def record(entry: dict) -> None:
        results.append(entry)
        print(json.dumps(entry), flush=True)
        (work / a.json).write_text(json.dumps(results, indent=1))

    for n in a.write_sizes:
        for label, tree in trees.items():
            if label in a.codes:
                record({"stage": "write", "code": label, "samples": n,
                        **measure(tree, ["_write", str(work / f"write-{n}-{label}"), str(n)], kill, a.threads)})
    for n in a.extract_sizes:
        folder = work / f"extract-{n}"
        if not (folder / "model").exists():
            measure(ROOT, ["_prepare", str(folder), str(n)], kill, a.threads)
        for label, tree in trees.items():
            if label not in a.codes:
                continue
            record({"stage": "extract", "code": label, "samples": n, **measure(tree, ["_extract", str(folder)], kill, a.threads)})
    for n in [*a.metrics_sizes, *a.after_metrics_sizes]:
        store = work / f"store-{n}x{a.models}" / "activations"
        if not (store / f"model={model_ids(a.models)[1][-1]}").exists():
            record({"stage": "generate", "code": "after", "samples": n, "models": a.models,
                    **measure(ROOT, ["_store", str(store), str(n), str(a.models)], kill, a.threads)})
        for label, tree in metric_trees.items():
            if label == "before" and n not in a.metrics_sizes:
                continue
            record({"stage": "metrics", "code": label, "samples": n, "models": a.models,
                    **measure(tree, ["_metrics", str(store), str(a.models)], kill, a.threads)})
    if not a.no_write:
        write_section(section(results, command, "/".join(f"{v:.1f}" for v in os.getloadavg())))


def fit(points: list[tuple[int, int]]) -> tuple[float, float] | None:
    """(bytes per sample, bytes at zero samples) of the line through the smallest and largest size."""
    points = sorted(points)
    if len(points) < 2 or points[0][0] == points[-1][0]:
        return None
    (n0, b0), (n1, b1) = points[0], points[-1]
    slope = (b1 - b0) / (n1 - n0)
    return slope, b0 - slope * n0


def section(results: list[dict], command: str, load: str) -> str:
    """The "Memory at scale" section of results.md: every measurement, and each line's value at 60,000."""
    gib = 2**30
    lines = [START, "## Memory at scale (issue 17): `python benchmarks/memory.py`", "",
             f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average at the end "
             f"{load}). Peak RSS of each stage in its own process (ru_maxrss).", "",
             "| stage | code | samples | models | peak RSS (MiB) | wall (s) |", "|---|---|---|---|---|---|"]
    for r in results:
        rss = "killed above the limit" if r["killed_over_limit"] else f"{r['peak_rss_bytes'] / 2**20:.0f}"
        rss += "" if r["rc"] == 0 else f" ({r['rc'] if isinstance(r['rc'], str) else 'exit ' + str(r['rc'])}: peak so far)"
        lines.append(f"| {r['stage']} | {r['code']} | {r['samples']} | {r.get('models', 1)} | {rss} | {r['wall_s']} |")
    lines += ["", f"Linear in the sample count (a line through the smallest and largest size), at {TARGET_SAMPLES:,} samples:", "",
              "| stage | code | models | MiB per 1,000 samples | MiB at 0 | GiB at 60,000 | fits 8 GiB |", "|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for r in results:
        # Extraction at a few hundred images is the forward pass of one 256-image batch plus the allocator's
        # noise (tens of MiB); the 3.9 KB per sample of activations do not show, so it gets no line.
        if r["stage"] in ("write", "metrics") and r["rc"] == 0:
            groups.setdefault((r["stage"], r["code"], r.get("models", 1)), []).append((r["samples"], r["peak_rss_bytes"]))
    for (stage, code, models), points in groups.items():
        line = fit(points)
        if line:
            at = line[0] * TARGET_SAMPLES + line[1]
            lines.append(f"| {stage} | {code} | {models} | {line[0] * 1000 / 2**20:.1f} | {line[1] / 2**20:.0f} | "
                         f"{at / gib:.2f} | {'yes' if at <= LIMIT_GIB * gib else 'no'} |")
    return "\n".join([*lines, END]) + "\n"


def memory_section(text: str) -> str:
    """The memory section of results.md ("" if there is none), for benchmarks/run.py to keep."""
    if START in text and END in text:
        return START + text.split(START, 1)[1].split(END, 1)[0] + END + "\n"
    return ""


def write_section(new: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + new + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + new
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
