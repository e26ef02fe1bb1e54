"""The lines `muaudit run` draws: a line per stage start and end, the live epoch, terminal vs piped."""

from __future__ import annotations

import io
import re
from concurrent.futures import Future
from pathlib import Path

from flows.audit import schedule
from muaudit.runner.pipeline import Plan
from muaudit.runner.progress import PIPED_EPOCH_EVERY_S, Board, ProgressWriter, format_duration


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def board(tmp_path: Path, stream, stages=("split", "train", "unlearn@scrub")) -> tuple[Board, Clock, list[str]]:
    clock, echoed = Clock(), []
    return Board(list(stages), tmp_path / "progress", stream=stream, clock=clock, echo=echoed.append), clock, echoed


def test_piped_output_is_plain_lines_with_counts_outcomes_and_durations(tmp_path: Path):
    out = io.StringIO()
    b, clock, echoed = board(tmp_path, out)
    b.started("train")
    writer = ProgressWriter(tmp_path / "progress/train.jsonl")
    writer.event("start")
    b.poll()
    for epoch in (1, 2, 3):
        clock.now += 0.2 if epoch < 3 else PIPED_EPOCH_EVERY_S
        writer.event("epoch", epoch=epoch, epochs=30, loss=0.5 / epoch, elapsed_s=epoch * 0.2)
        b.poll()
    clock.now += 1.5
    b.ended("train", "ok")
    b.ended("unlearn@scrub", "blocked")
    b.close()
    lines = out.getvalue().splitlines()
    assert lines == [
        "[0/3] train          started",
        "      train          epoch 3/30  loss 0.1667  0.6 s",  # one epoch line per 30 s, not one per epoch
        "[1/3] train          ok       31.9 s",
        "[2/3] unlearn@scrub  blocked",
    ]
    assert "\r" not in out.getvalue() and echoed == lines
    assert not (tmp_path / "progress").exists()


def test_a_terminal_gets_one_updating_status_line_with_the_live_epoch(tmp_path: Path):
    out = Tty()
    b, clock, _ = board(tmp_path, out)
    b.started("train")
    writer = ProgressWriter(tmp_path / "progress/train.jsonl")
    writer.event("start")
    b.poll()
    clock.now += 4.0
    writer.event("epoch", epoch=12, epochs=30, loss=0.25, elapsed_s=4.0)
    b.poll()
    assert out.getvalue().endswith("\r\x1b[2K[0/3] running: train epoch 12/30  loss 0.25  4.0 s")
    writer.event("resumed", epoch=12)
    clock.now += 1.0
    b.ended("train", "ok")
    b.close()
    text = out.getvalue()
    assert "train          resumed from its checkpoint after epoch 12\n" in text
    assert "[1/3] train          ok       5.0 s\n" in text
    assert text.endswith(" ok       5.0 s\n")  # the status line was cleared, not left behind


def test_partial_lines_and_junk_are_skipped(tmp_path: Path):
    out = io.StringIO()
    b, _, _ = board(tmp_path, out)
    b.started("train")
    path = tmp_path / "progress/train.jsonl"
    path.write_text('{"event": "start"}\nnot json\n{"event": "ep')  # a writer caught mid-line
    b.poll()
    with open(path, "a") as fh:
        fh.write('och", "epoch": 1, "epochs": 2, "loss": null, "elapsed_s": 0.1}\n')
    b.poll()
    b.ended("train", "failed")
    assert out.getvalue().splitlines()[0] == "[0/3] train          started"
    assert re.fullmatch(r"\[1/3\] train +failed +\d+\.\d s", out.getvalue().splitlines()[1])


def test_durations_read_as_people_write_them():
    assert [format_duration(s) for s in (0.61, 59.9, 61, 3725)] == ["0.6 s", "59.9 s", "1 min 01 s", "1 h 02 min"]


class State:
    def __init__(self, ok: bool):
        self.ok, self.message = ok, "boom"

    def is_final(self):
        return True

    def is_completed(self):
        return self.ok


class Done:
    """A finished task future as schedule() reads it."""

    def __init__(self, ok: bool):
        self.wrapped_future = Future()
        self.wrapped_future.set_result(None)
        self.state = State(ok)

    def wait(self):
        pass

    def result(self, raise_on_failure: bool = True):
        return None if self.state.ok else RuntimeError("boom")


def test_schedule_reports_every_start_and_end_to_the_board(tmp_path: Path):
    plan = Plan(stages=["split", "train", "report"], upstream={"train": ["split"], "report": ["train"]})
    out = io.StringIO()
    b, _, _ = board(tmp_path, out, plan.stages)
    outcome = schedule(plan, lambda stage: Done(stage != "train"), poll_s=0, board=b)
    assert outcome == {"split": "ok", "train": "failed", "report": "blocked"}
    lines = [line.split()[:3] for line in out.getvalue().splitlines()]
    assert lines == [["[1/3]", "split", "ok"], ["[2/3]", "train", "failed"], ["[3/3]", "report", "blocked"]]
