"""Thread count, device and determinism: applied at the start of every stage and recorded with its run."""

from __future__ import annotations

import platform

import torch
from threadpoolctl import threadpool_limits


def configure(threads: int, device: str = "cpu", deterministic: bool = True) -> dict:
    """Apply the runtime settings and return what was applied, for the run record."""
    torch.set_num_threads(threads)
    # NumPy's BLAS (CKA matmuls) must follow the same count: a Dask worker caps it at 1 through
    # OPENBLAS_NUM_THREADS while a plain process uses every core, and the sums round differently.
    threadpool_limits(limits=threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=False)
    if deterministic and torch.cuda.is_available():
        torch.backends.cudnn.benchmark = False
    resolved = resolve_device(device)
    return {
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "threads": threads,
        "device": resolved,
        "deterministic": deterministic,
    }


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        from muaudit.errors import BadInputError

        raise BadInputError("runtime.device: 'cuda' requested but no CUDA device is available; use 'auto' or 'cpu'")
    return device
