"""A cache of trained models and their activations shared by the verdict benchmarks (false_alarm.py, power.py).

Layout under a work folder, one per scenario: <work>/split, <work>/models/<id>/, <work>/activations/model=<id>/.
Every model is trained once and reused by every later run (a model whose sidecar exists is not retrained),
so the false-alarm and power benchmarks share the retrain seeds they both need.

Models:
- `original`: trained on forget + retain with train.seed (as the train stage does).
- `retrain_<s>`: trained from scratch on retain with seed s (as the retrain stage does).
- `graded_<t>_<s>`: a positive control with a residue you can dial. The original's weights, head
  re-initialised from seed s, then the whole network trained on retain for t epochs (Adam, train.lr), then
  the head alone for `unlearn.head_only.epochs` epochs (Adam, head_only.lr). t = 0 is `head_only`; as t
  grows, the body moves away from the original towards a retrained-like representation.

Run it directly to fill a cache ahead of the benchmarks (in the background, niced):

    nice -n 10 python benchmarks/pool.py --work /tmp/pool_class --scenario class retrain:1-10 graded0:2001-2020
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tasks/ is a project folder, not installed

from muaudit.config import Params, load_params  # noqa: E402
from muaudit.data import load_split  # noqa: E402
from muaudit.extraction import extract, resolve_layers  # noqa: E402
from muaudit.methods.suite.head_only import Params as HeadParams  # noqa: E402
from muaudit.models import build_model, load_model, save_model  # noqa: E402
from muaudit.runner.stage import run_files  # noqa: E402
from muaudit.runtime import configure  # noqa: E402
from muaudit.store import write_model_activations  # noqa: E402
from muaudit.training import batches, train_classifier  # noqa: E402


def with_scenario(params: Params, scenario: str) -> Params:
    return params.model_copy(update={"split": params.split.model_copy(update={"scenario": scenario})})


class Pool:
    def __init__(self, params: Params, work: str | Path):
        self.params = params
        self.work = Path(work)
        self.split_dir = self.work / "split"
        if not (self.split_dir / "split.json").exists():
            run_files("split", params, {"out": str(self.split_dir)})
        self._data = None

    @property
    def data(self):
        if self._data is None:
            self._data = load_split(self.split_dir)
        return self._data

    @property
    def activations(self) -> Path:
        return self.work / "activations"

    @property
    def models(self) -> Path:
        return self.work / "models"

    def _build(self):
        return build_model(self.params.model.name, self.data.input_shape, self.data.num_classes, **self.params.model.kwargs)

    def _extract(self, model_id: str) -> None:
        act_dir = self.activations / f"model={model_id}"
        if act_dir.exists():
            return
        net, _ = load_model(self._build(), self.models / model_id)
        acts = extract(net, torch.from_numpy(self.data.x), resolve_layers(net, self.params.extract.layers),
                       self.params.extract.batch_size)
        write_model_activations(act_dir, self.data.sample_ids, self.data.roles, self.data.y, acts)

    def original(self) -> str:
        p = self.params
        if not (self.models / "original" / "model.json").exists():
            run_files("train", p, {"split": str(self.split_dir), "out": str(self.models / "original")})
        self._extract("original")
        return "original"

    def retrain(self, seed: int) -> str:
        model_id = f"retrain_{seed}"
        if not (self.models / model_id / "model.json").exists():
            p = self.params
            run_files("retrain", p, {"split": str(self.split_dir), "out": str(self.models / model_id)}, seed=seed)
        self._extract(model_id)
        return model_id

    def graded(self, epochs: int, seed: int) -> str:
        model_id = f"graded_{epochs}_{seed}"
        if not (self.models / model_id / "model.json").exists():
            self._train_graded(model_id, epochs, seed)
        self._extract(model_id)
        return model_id

    def _train_graded(self, model_id: str, epochs: int, seed: int) -> None:
        self.original()
        net, _ = load_model(self._build(), self.models / "original")
        torch.manual_seed(seed)
        for m in net.head.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        idx = torch.from_numpy((self.data.roles == "retain").nonzero()[0])
        x, y = torch.from_numpy(self.data.x)[idx], torch.from_numpy(self.data.y)[idx]
        if epochs:
            train_classifier(net, x, y, epochs, self.params.train.lr, self.params.train.batch_size, seed)
        head = HeadParams(**(getattr(self.params.unlearn, "head_only", None) or {}))
        net.requires_grad_(False)
        net.head.requires_grad_(True)
        net.eval()
        opt = torch.optim.Adam(net.head.parameters(), lr=head.lr)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(head.epochs):
            for b in batches(len(x), head.batch_size, gen):
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(net(x[b]), y[b]).backward()
                opt.step()
        net.requires_grad_(True)
        save_model(net.eval(), self.models / model_id, {"seed": seed, "body_epochs": epochs, "status": "ok"})


def seed_list(specs: list[str]) -> list[int]:
    """'1-10' and '12' -> [1, ..., 10, 12]."""
    out: list[int] = []
    for s in specs:
        lo, _, hi = s.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--scenario", required=True, choices=["class", "random"])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("models", nargs="+", help="in order: retrain:<seeds> or graded<t>:<seeds>, seeds like 1-10 or 12")
    a = ap.parse_args()
    params = with_scenario(load_params(a.params), a.scenario)
    configure(params.runtime.threads, "cpu", params.runtime.deterministic)
    pool = Pool(params, a.work)
    start = time.perf_counter()
    pool.original()
    for spec in a.models:
        kind, _, seeds = spec.partition(":")
        for s in seed_list([seeds]):
            made = pool.retrain(s) if kind == "retrain" else pool.graded(int(kind.removeprefix("graded")), s)
            print(f"{made} {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
