"""A table (Parquet or CSV) with a label column; every other column is a numeric feature.

Features are standardised per column. Labels may be any values: their sorted distinct values are the
classes. Sample ids come from data.id_column when given, else from the row number (`row-000042`).
"""

from pathlib import Path

import numpy as np
import pandas as pd

from muaudit.data.checks import check_finite
from muaudit.data.files import require_path, standardize
from muaudit.data.registry import Dataset, register_dataset
from muaudit.errors import BadInputError

EXPECTED = "a .parquet or .csv file with one row per sample and a label column (data.label_column)"


def read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    raise BadInputError(f"data.path: {path} is neither .parquet nor .csv; expected {EXPECTED}")


@register_dataset("tabular")
def tabular(path: str | None = None, label_column: str = "label", id_column: str | None = None) -> Dataset:
    table = read_table(require_path(path, "tabular", EXPECTED))
    for key, col in (("data.label_column", label_column), ("data.id_column", id_column)):
        if col is not None and col not in table.columns:
            raise BadInputError(f"{key}: column '{col}' not in {path}; its columns are {', '.join(map(str, table.columns))}")
    features = table.drop(columns=[c for c in (label_column, id_column) if c is not None])
    bad = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise BadInputError(f"data.path: {path} has non-numeric columns {', '.join(bad)}; expected numeric features only")
    if table[label_column].isna().any():
        row = int(np.flatnonzero(table[label_column].isna().to_numpy())[0])
        raise BadInputError(f"data.path: {path}: row {row} has no label in column '{label_column}'; expected a class")
    classes, y = np.unique(table[label_column].to_numpy(), return_inverse=True)
    ids = (table[id_column].astype(str).to_numpy() if id_column
           else np.array([f"row-{i:06d}" for i in range(len(table))]))
    x = features.to_numpy(dtype=np.float32)
    # before standardising, which would spread one NaN or inf over its whole column
    check_finite(x, ids, f"data.path: {path}", [str(c) for c in features.columns])
    return Dataset(name="tabular", x=standardize(x), y=y.astype(np.int64), sample_ids=ids, num_classes=len(classes))
