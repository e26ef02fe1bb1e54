import math

import pandas as pd

from muaudit.report.plots import Cells


def _table(rows):
    return pd.DataFrame(rows, columns=["model", "reference", "metric", "layer", "role", "value"])


def test_cells_reads_each_key_and_the_first_row_wins():
    table = _table([("m", "band", "cka", "fc", "forget", 0.9), ("m", "band", "cka", "fc", "forget", 0.1),
                    ("retrain", "band", "cka:low", "fc", "forget", 0.8), ("m", "retrain_1", "cka", "fc", "forget", 0.7)])
    cells = Cells(table)
    assert cells.value("m", "cka", "fc", "forget") == 0.9
    assert cells.band("cka", "fc", "forget", "low") == 0.8
    assert cells.get("m", "retrain_1", "cka", "fc", "forget") == 0.7
    assert math.isnan(cells.value("m", "cka", "fc", "test"))


def test_cells_of_two_tables_do_not_share_an_index():
    a = Cells(_table([("m", "band", "cka", "fc", "forget", 0.9)]))
    b = Cells(_table([("m", "band", "cka", "fc", "forget", 0.2)]))
    assert (a.value("m", "cka", "fc", "forget"), b.value("m", "cka", "fc", "forget")) == (0.9, 0.2)
