"""Atomic writes under injected faults: disk full, permission denied, a file where a folder belongs, kills."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from muaudit.errors import BadInputError
from muaudit.io import OutputError, atomic_dir, atomic_write, read_json, read_parquet, sweep_stale_temps


def _disk_full(tmp):
    tmp.write_bytes(b"half of an artifact")  # the writer got this far before the device filled up
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))


def test_disk_full_keeps_the_old_artifact_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out" / "metrics.parquet"
    target.parent.mkdir()
    target.write_bytes(b"old complete artifact")
    with pytest.raises(OutputError) as err:
        atomic_write(target, _disk_full)
    msg = str(err.value)
    assert "\n" not in msg and "metrics.parquet" in msg and "No space left on device" in msg
    assert target.read_bytes() == b"old complete artifact"
    assert [p.name for p in target.parent.iterdir()] == ["metrics.parquet"]


def test_permission_denied_on_rename_leaves_nothing(tmp_path, monkeypatch):
    # Tests run as root, where chmod does not block writes: inject the EACCES at the rename instead.
    def denied(src, dst):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dst))

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(OutputError, match="Permission denied") as err, atomic_dir(tmp_path / "model=original") as tmp:
        (tmp / "part-0.parquet").write_bytes(b"x")
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_file_where_the_output_folder_belongs_is_one_line(tmp_path):
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(OutputError) as err:
        atomic_write(tmp_path / "data" / "models" / "model.json", lambda tmp: tmp.write_text("{}"))
    assert "\n" not in str(err.value) and "data/models/model.json" in str(err.value)


def test_sweep_removes_only_leftovers_of_dead_writers(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale_file = tmp_path / f".model.safetensors.{dead.pid}.abc123.tmp"
    stale_dir = tmp_path / "models" / f".retrain_1.{dead.pid}.x_9z.tmp"
    live = tmp_path / f".model.json.{os.getpid()}.abc.tmp"
    stale_file.write_bytes(b"half")
    stale_dir.mkdir(parents=True)
    (stale_dir / "model.safetensors").write_bytes(b"half")
    live.write_bytes(b"being written")
    assert set(sweep_stale_temps(tmp_path)) == {stale_file, stale_dir}
    assert live.exists() and not stale_file.exists() and not stale_dir.exists()


def test_truncated_json_and_parquet_name_the_file(tmp_path):
    import pandas as pd

    (tmp_path / "split.json").write_text('{"num_classes": 1')
    with pytest.raises(BadInputError, match=r"split.json: not valid JSON"):
        read_json(tmp_path / "split.json", "the split summary")
    path = tmp_path / "metrics.parquet"
    pd.DataFrame({"a": range(1000)}).to_parquet(path)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)
    with pytest.raises(BadInputError, match=r"metrics.parquet: not a readable Parquet file") as err:
        read_parquet(path, "the metrics table")
    assert "\n" not in str(err.value)
