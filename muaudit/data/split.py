"""Train/test and forget/retain split, held as one role per sample (index masks, no copies)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors.numpy import load_file, save_file

from muaudit.data.checks import check_roles
from muaudit.data.registry import Dataset
from muaudit.errors import BadInputError
from muaudit.io import atomic_dir, canonical_json, read_json, require_file

ROLES = ("forget", "retain", "test")


def make_roles(
    y: np.ndarray,
    scenario: str,
    forget_fraction: float,
    forget_classes: list[int],
    test_fraction: float,
    seed: int,
    sample_ids: np.ndarray | None = None,
    forget_ids: list[str] | None = None,
    num_classes: int | None = None,
) -> np.ndarray:
    """Role of every sample, deterministic in seed. Test is stratified by class.

    The ids scenario (a deletion request) forgets exactly the named samples, also those the test draw
    picked: a sample whose deletion was requested must not stay anywhere in the audit as test data.
    The roles are checked (muaudit.data.checks.check_roles): enough forget samples, every kept class in
    retain and every class in test (num_classes: the dataset's declared classes; default max label + 1).
    """
    rng = np.random.default_rng(seed)
    roles = np.full(len(y), "retain", dtype=object)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n_test = int(round(test_fraction * len(idx)))
        roles[rng.permutation(idx)[:n_test]] = "test"
    train = np.flatnonzero(roles == "retain")
    if scenario == "random":
        n_forget = int(round(forget_fraction * len(train)))
        roles[rng.permutation(train)[:n_forget]] = "forget"
    elif scenario == "class":
        missing = sorted(set(forget_classes) - set(np.unique(y).tolist()))
        if missing:
            raise BadInputError(f"split.forget_classes: {missing} not in the dataset's labels {sorted(np.unique(y).tolist())}")
        roles[train[np.isin(y[train], forget_classes)]] = "forget"
    elif scenario == "ids":
        wanted = set(forget_ids or [])
        unknown = sorted(wanted - set(sample_ids.tolist()))
        if unknown:
            shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            raise BadInputError(f"split.forget_ids: {len(unknown)} id(s) not in the dataset: {shown}")
        roles[np.isin(sample_ids, list(wanted))] = "forget"
    else:
        raise BadInputError(f"split.scenario: '{scenario}' is not one of random, class, ids")
    roles = roles.astype(str)
    check_roles(y, roles, int(y.max()) + 1 if num_classes is None else num_classes, scenario, forget_classes,
                test_fraction)
    return roles


def tuning_mask(roles: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The tuning split: round(fraction x n) samples of each role, drawn with a generator of its own (seeded
    by split.seed) so that the roles do not depend on it. Tuning samples keep their role (they are trained
    and unlearned on like the rest of it) but are never extracted, so no metric is computed on them."""
    mask = np.zeros(len(roles), dtype=bool)
    rng = np.random.default_rng([seed, 20])
    for role in ROLES:
        idx = np.flatnonzero(roles == role)
        mask[rng.permutation(idx)[: int(round(fraction * len(idx)))]] = True
    return mask


def requested_ids(forget_ids: list[str], forget_ids_file: str | None) -> list[str]:
    """The deletion request: split.forget_ids plus the lines of split.forget_ids_file (# starts a comment)."""
    ids = list(forget_ids)
    if forget_ids_file:
        lines = require_file(forget_ids_file, "a deletion request: one sample id per line").read_text()
        ids += [line.split("#")[0].strip() for line in lines.splitlines() if line.split("#")[0].strip()]
    return ids


def fingerprint(manifest: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for sid, role, content in zip(manifest["sample_id"], manifest["role"], manifest["content_hash"], strict=True):
        h.update(f"{sid}\0{role}\0{content}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class NewSplit:
    """What the split stage computes: the dataset and each sample's role, and the tuning split's mask."""

    dataset: Dataset
    roles: np.ndarray
    tune: np.ndarray | None = None


def describe_split(dataset: Dataset, roles: np.ndarray, tune: np.ndarray | None = None
                   ) -> tuple[pd.DataFrame, dict]:
    """The manifest (sample_id, label, role, content_hash; a `tune` column when any sample is in the tuning
    split) and the summary split.json holds: dataset, shape, fingerprints, counts."""
    content = dataset.content_hashes()
    manifest = pd.DataFrame(
        {"sample_id": dataset.sample_ids, "label": dataset.y, "role": roles, "content_hash": content}
    )
    if tune is not None and tune.any():
        manifest["tune"] = tune
    summary = {
        "dataset": dataset.name,
        "num_classes": int(dataset.num_classes),
        "input_shape": list(dataset.x.shape[1:]),
        "dataset_fingerprint": hashlib.sha256("".join(content).encode()).hexdigest(),
        "split_fingerprint": fingerprint(manifest),
        "counts": {r: int((roles == r).sum()) for r in ROLES},
    }
    if tune is not None and tune.any():
        summary["tune_counts"] = {r: int((tune & (roles == r)).sum()) for r in ROLES}
    return manifest, summary


def write_split(out_dir: str | Path, dataset: Dataset, roles: np.ndarray, tune: np.ndarray | None = None) -> dict:
    """Write dataset.safetensors (x, y in manifest order), manifest.parquet and split.json. tune: the tuning
    split's mask (none: the manifest of before)."""
    manifest, summary = describe_split(dataset, roles, tune)
    table = pa.Table.from_pandas(manifest, preserve_index=False)
    tensors = {"x": np.ascontiguousarray(dataset.x, dtype=np.float32), "y": dataset.y.astype(np.int64)}
    # One folder swap: the manifest, the tensors and the summary always belong to the same split.
    with atomic_dir(out_dir) as tmp:
        pq.write_table(table, tmp / "manifest.parquet", compression="zstd")
        save_file(tensors, str(tmp / "dataset.safetensors"))
        (tmp / "split.json").write_text(canonical_json(summary))
    return summary


@dataclass(frozen=True)
class SplitData:
    """The split as arrays: x, y over all samples and an index array per role."""

    x: np.ndarray
    y: np.ndarray
    sample_ids: np.ndarray
    roles: np.ndarray
    num_classes: int
    input_shape: tuple[int, ...]
    info: dict
    tune: np.ndarray  # True: in the tuning split (never extracted or measured)

    def index(self, role: str) -> np.ndarray:
        return np.flatnonzero(self.roles == role)


def forget_fingerprint(sample_ids: np.ndarray, roles: np.ndarray) -> str:
    """sha256 of the forget set's sample ids, sorted, one per line: the deletion request being audited."""
    ids = sorted(str(s) for s in np.asarray(sample_ids)[np.asarray(roles) == "forget"])
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def split_data(new: NewSplit) -> SplitData:
    """The split as load_split returns it, without the files (benchmarks/bare.py)."""
    _, info = describe_split(new.dataset, new.roles, new.tune)
    tune = new.tune if new.tune is not None else np.zeros(len(new.roles), bool)
    return SplitData(x=np.ascontiguousarray(new.dataset.x, dtype=np.float32), y=new.dataset.y.astype(np.int64),
                     sample_ids=np.asarray(new.dataset.sample_ids), roles=np.asarray(new.roles).astype(str),
                     num_classes=int(info["num_classes"]), input_shape=tuple(info["input_shape"]), info=info,
                     tune=tune.astype(bool))


def load_split(split_dir: str | Path) -> SplitData:
    split_dir = Path(split_dir)
    manifest_path = require_file(split_dir / "manifest.parquet", "the split manifest written by the split stage")
    try:
        manifest = pq.read_table(manifest_path).to_pandas()
    except Exception as err:  # pyarrow raises several types for truncated files
        raise BadInputError(f"{manifest_path}: not a readable Parquet file ({type(err).__name__})") from None
    data_path = require_file(split_dir / "dataset.safetensors", "the split tensors written by the split stage")
    try:
        tensors = load_file(str(data_path))
    except Exception as err:
        raise BadInputError(f"{data_path}: not a readable safetensors file ({type(err).__name__})") from None
    info = read_json(split_dir / "split.json", "the split summary written by the split stage")
    return SplitData(
        x=tensors["x"],
        y=tensors["y"],
        sample_ids=manifest["sample_id"].to_numpy(),
        roles=manifest["role"].to_numpy().astype(str),
        num_classes=int(info["num_classes"]),
        input_shape=tuple(info["input_shape"]),
        info=info,
        tune=manifest["tune"].to_numpy().astype(bool) if "tune" in manifest else np.zeros(len(manifest), bool),
    )
