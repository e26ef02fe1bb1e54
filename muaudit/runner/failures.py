"""One line per root cause on the terminal; the full traceback in a log file under .muaudit/logs/.

A failing stage prints `error: <stage>: <where>: <root cause> (trace: .muaudit/logs/<file>)`, e.g.
`error: metrics: mia_efficacy on model finetune, layer logits: ValueError: Input X contains NaN (trace: ...)`.
Bad input (BadInputError) is its own full story and gets no trace. The stage's MLflow run carries the same
trace as the artifact `traceback.txt` and the line as the tag `muaudit.error`.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from muaudit.errors import BadInputError, root_cause

LOG_DIR = Path(".muaudit/logs")


def needs_trace(err: BaseException) -> bool:
    """Bad input is fully described by its line; anything else keeps its traceback."""
    return not isinstance(err, BadInputError)


def write_trace(workspace: str | Path, stage: str, err: BaseException) -> Path | None:
    """Write err's full traceback (causes included) to .muaudit/logs/<UTC time>-<stage>-<pid>.log; return its
    path relative to the workspace (None when the log cannot be written: the line is printed anyway)."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    rel = LOG_DIR / f"{stamp}-{stage.replace('/', '_')}-{os.getpid()}.log"
    path = Path(workspace) / rel
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{stage} failed: {root_cause(err)}\n\n" + "".join(traceback.format_exception(err)))
    except OSError:
        return None
    return rel


def failure_line(stage: str, err: BaseException, trace: Path | None = None) -> str:
    """The one line a failed stage prints (without the `error: ` prefix)."""
    return f"{stage}: {root_cause(err)}" + (f" (trace: {trace})" if trace else "")
