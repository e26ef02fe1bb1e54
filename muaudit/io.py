"""Atomic artifact writes: a crash never leaves a half-written file that looks valid.

Every writer goes through a temporary file in the destination folder, is fsynced, then renamed over
the target, so readers see either the old artifact or the complete new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from muaudit.errors import BadInputError, MuauditError

TMP_SUFFIX = ".tmp"


class OutputError(MuauditError):
    """An artifact could not be written (disk full, permission denied, a file where a folder belongs)."""

    exit_code = 1


def _tmp_prefix(path: Path) -> str:
    # The writer's pid is in the name so that a later run can tell the leftovers of a killed writer
    # (sweep_stale_temps) from the files of a writer that is still going.
    return f".{path.name}.{os.getpid()}."


def _output_error(path: Path, err: OSError) -> OutputError:
    where = err.filename or path
    return OutputError(f"{where}: cannot write the artifact {path} ({err.strerror or err}); nothing was written")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call write(tmp_path), fsync the result and rename it to path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as err:
        raise _output_error(path, err) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    except OSError as err:
        tmp_path.unlink(missing_ok=True)
        raise _output_error(path, err) from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def canonical_json(obj: object) -> str:
    """Sorted keys and fixed separators so the same content always gives the same bytes."""
    return json.dumps(obj, sort_keys=True, indent=2, allow_nan=True) + "\n"


def atomic_write_json(path: str | Path, obj: object) -> Path:
    return atomic_write_bytes(path, canonical_json(obj).encode())


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces path whole, on failure it is removed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(path), suffix=TMP_SUFFIX, dir=path.parent))
    except OSError as err:
        raise _output_error(path, err) from None
    try:
        yield tmp
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        old = None
        if path.exists():
            old = path.with_name(f"{_tmp_prefix(path)}old{TMP_SUFFIX}")
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _output_error(path, err) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (a killed writer's or run's owner is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def sweep_stale_temps(root: str | Path) -> list[Path]:
    """Remove the temporary files and folders that killed writers left under root; return them.

    A SIGKILLed stage cannot clean up after itself. Its temporaries are never mistaken for artifacts
    (the rename never happened), but they would change the hash of folder deps such as data/models.
    """
    removed = []
    for p in sorted(Path(root).rglob(f".*{TMP_SUFFIX}")):
        parts = p.name.split(".")  # '', name..., pid, random-or-'old', 'tmp'
        pid = parts[-3] if len(parts) >= 5 else ""
        if not pid.isdigit() or pid_alive(int(pid)) or not p.exists():
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


def sha256_tree(path: str | Path) -> str:
    """Hash of a file, or of a folder as the sorted (relative path, file hash) pairs."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path).as_posix()}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


def require_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{path}: missing; expected {what}")
    return path


def read_json(path: str | Path, what: str) -> dict:
    """Parse a JSON artifact; a missing or corrupt one is a one-line BadInputError naming the file."""
    path = require_file(path, what)
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise BadInputError(f"{path}: not valid JSON ({type(err).__name__}); expected {what}") from None


def read_parquet(path: str | Path, what: str, columns: list[str] | None = None):
    """Read a Parquet artifact as a pyarrow Table; a missing or truncated one is a one-line BadInputError."""
    import pyarrow.parquet as pq

    path = require_file(path, what)
    try:
        return pq.read_table(path, columns=columns)
    except Exception as err:  # pyarrow raises several types for truncated or foreign files
        raise BadInputError(f"{path}: not a readable Parquet file ({type(err).__name__}); expected {what}") from None


def cache_dir() -> Path:
    """Per-user cache of results that depend only on the installed code (MUAUDIT_CACHE_DIR, default
    ~/.cache/muaudit): an empty MLflow store, the verdict's null tables. Deleting it costs only time."""
    return Path(os.environ.get("MUAUDIT_CACHE_DIR") or Path.home() / ".cache" / "muaudit")
