"""A benchmark-only dataset, copied into throwaway workspaces: digits replicated k times with light
augmentation (a random shift of up to one pixel plus small noise), so the work grows k-fold while the task
stays the same. data.path names a text file holding k (e.g. "supplied/data/scale.txt" containing 4)."""

from pathlib import Path

import numpy as np

from muaudit.data.loaders.digits import digits
from muaudit.data.registry import Dataset, register_dataset


@register_dataset("digits_scaled")
def digits_scaled(path: str | None = None) -> Dataset:
    base = digits()
    k = int(Path(path).read_text()) if path else 1
    rng = np.random.default_rng(0)
    xs, ys, ids = [base.x], [base.y], [base.sample_ids]
    for r in range(1, k):
        dy, dx = rng.integers(-1, 2, size=2)
        x = np.roll(base.x, (int(dy), int(dx)), axis=(2, 3))
        xs.append(np.clip(x + rng.normal(0, 0.03, x.shape).astype(np.float32), 0, 1))
        ys.append(base.y)
        ids.append(np.char.add(base.sample_ids.astype(str), f"-r{r}"))
    return Dataset(name=f"digits_scaled_{k}", x=np.concatenate(xs), y=np.concatenate(ys),
                   sample_ids=np.concatenate(ids), num_classes=10)
