"""Live progress of `muaudit run`: stages report their epochs through small JSON-lines files, and the
orchestrator's scheduling loop reads them and draws the lines.

The channel is one file per running stage, .muaudit/progress/<stage>.jsonl, named to the stage by
MUAUDIT_PROGRESS_DIR. A file works for every runner: a warm worker process and a Dask worker write it the
same way (a Dask cluster already shares the workspace folder, where stages write their outputs), and the
orchestrator, which polls its futures every few milliseconds anyway, reads only what was appended since
its last look. A stage run by `dvc repro` has no MUAUDIT_PROGRESS_DIR and writes nothing. Progress is
timing: it goes to the terminal (and MLflow), never into artifacts.

Events, one JSON object per line: {"event": "start"}, {"event": "resumed", "epoch": k} and
{"event": "epoch", "epoch": e, "epochs": n, "loss": l, "elapsed_s": t}.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PROGRESS_ENV = "MUAUDIT_PROGRESS_DIR"
PROGRESS = Path(".muaudit/progress")  # relative to the workspace
PIPED_EPOCH_EVERY_S = 30.0  # piped output: a running stage's epoch line at most this often (CI logs stay short)
REDRAW_EVERY_S = 0.1  # terminal: the status line is redrawn at most this often


def progress_dir(workspace: str | Path) -> Path:
    return Path(workspace) / PROGRESS


class ProgressWriter:
    """The stage's side: appends events to its file (one short write each: a reader never sees half a line
    that it keeps; it reads whole lines only)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_env(cls, stage: str) -> ProgressWriter | None:
        folder = os.environ.get(PROGRESS_ENV)
        return cls(Path(folder) / f"{stage}.jsonl") if folder else None

    def event(self, event: str, **fields) -> None:
        line = json.dumps({"event": event, **fields}, allow_nan=False, default=str) + "\n"
        with open(self.path, "a") as fh:
            fh.write(line)


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_epoch(event: dict) -> str:
    loss = event.get("loss")
    shown = f"  loss {loss:.4g}" if isinstance(loss, float) and math.isfinite(loss) else ""
    return f"epoch {event['epoch']}/{event['epochs']}{shown}"


@dataclass
class _Stage:
    submitted: float
    started: float | None = None
    epoch: dict | None = None
    offset: int = 0
    printed_epoch_at: float = field(default=-math.inf)


class Board:
    """What `muaudit run` shows while it runs: one line per stage as it starts and as it ends
    (`[12/43] unlearn@scrub  ok  0.6 s`), plus the live epoch line of running training stages.

    On a terminal the stage lines scroll and a single status line at the bottom is redrawn with the running
    stages and their epochs; piped (CI logs) it writes plain lines only, and a running stage's epoch at most
    every PIPED_EPOCH_EVERY_S. echo, when given, receives every plain line as well (e.g. a Prefect logger).
    """

    def __init__(self, stages: list[str], folder: str | Path, stream=None, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, echo: Callable[[str], None] | None = None):
        self.total = len(stages)
        self.folder = Path(folder)
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self.echo = echo
        self.done = 0
        self.width = min(32, max((len(s) for s in stages), default=0))
        self.running: dict[str, _Stage] = {}
        self._status = ""
        self._drawn_at = -math.inf
        shutil.rmtree(self.folder, ignore_errors=True)  # a killed audit's leftovers
        self.folder.mkdir(parents=True, exist_ok=True)

    def started(self, stage: str) -> None:
        """The stage was handed to a worker; its line appears when the stage itself says it started."""
        self._file(stage).unlink(missing_ok=True)
        self.running[stage] = _Stage(submitted=self.clock())

    def ended(self, stage: str, outcome: str) -> None:
        state = self.running.pop(stage, None)
        self.done += 1
        if state is None:  # never ran (blocked by a failed upstream stage)
            self._line(f"{self._count()} {stage:<{self.width}}  {outcome}")
        else:
            self._read(stage, state)
            took = self.clock() - (state.started if state.started is not None else state.submitted)
            self._line(f"{self._count()} {stage:<{self.width}}  {outcome:<7}  {format_duration(took)}")
            self._file(stage).unlink(missing_ok=True)
        self._redraw(force=True)

    def poll(self) -> None:
        for stage, state in list(self.running.items()):
            self._read(stage, state)
        self._redraw()

    def close(self) -> None:
        if self.tty and self._status:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
        self._status = ""
        shutil.rmtree(self.folder, ignore_errors=True)

    def _file(self, stage: str) -> Path:
        return self.folder / f"{stage}.jsonl"

    def _count(self) -> str:
        return f"[{self.done:>{len(str(self.total))}}/{self.total}]"

    def _read(self, stage: str, state: _Stage) -> None:
        path = self._file(stage)
        try:
            if path.stat().st_size <= state.offset:
                return
            with open(path, "rb") as fh:
                fh.seek(state.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]
        state.offset += len(complete)
        for raw in complete.splitlines():
            try:
                self._handle(stage, state, json.loads(raw))
            except (ValueError, KeyError, TypeError):  # progress is advisory: a bad line is skipped
                continue

    def _handle(self, stage: str, state: _Stage, event: dict) -> None:
        kind = event["event"]
        now = self.clock()
        if kind == "start":
            state.started = now
            self._line(f"{self._count()} {stage:<{self.width}}  started")
        elif kind == "resumed":
            self._line(f"{' ' * len(self._count())} {stage:<{self.width}}  resumed from its checkpoint after epoch "
                       f"{event['epoch']}")
        elif kind == "epoch":
            state.epoch = event
            if not self.tty and now - max(state.printed_epoch_at, state.started or now) >= PIPED_EPOCH_EVERY_S:
                state.printed_epoch_at = now
                self._line(f"{' ' * len(self._count())} {stage:<{self.width}}  {format_epoch(event)}  "
                           f"{format_duration(event['elapsed_s'])}")

    def _line(self, text: str) -> None:
        """A permanent line: on a terminal it goes above the status line, which is redrawn below it."""
        if self.tty and self._status:
            self.stream.write("\r\x1b[2K")
            self._status = ""
        self.stream.write(text + "\n")
        self.stream.flush()
        if self.echo is not None:
            self.echo(text)

    def _redraw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = self.clock()
        if not force and now - self._drawn_at < REDRAW_EVERY_S:
            return
        parts = []
        for stage, state in self.running.items():
            if state.started is None:
                continue
            live = f"{format_epoch(state.epoch)}  " if state.epoch else ""
            parts.append(f"{stage} {live}{format_duration(now - state.started)}")
        status = f"{self._count()} running: {' · '.join(parts)}" if parts else ""
        columns = shutil.get_terminal_size((100, 20)).columns - 1
        if len(status) > columns:
            status = status[: max(0, columns - 1)] + "…"
        if status != self._status:
            self.stream.write("\r\x1b[2K" + status)
            self.stream.flush()
            self._status = status
        self._drawn_at = now
