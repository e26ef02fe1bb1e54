"""Thread count, device and determinism: applied at the start of every stage and recorded with its run.

The device a stage asks for is `resolve_device(runtime.device)`; the device it records is where its
tensors were at the end (`device_of`), so a record never claims a device the computation did not use.
"""

from __future__ import annotations

import os
import platform

import torch
from threadpoolctl import threadpool_limits

# cuBLAS picks a workspace per handle when the handle is created, from this variable; with more than one
# workspace its reductions are not run-to-run deterministic. It must be set before the first CUDA call of
# the process, so configure() sets it whatever runtime.deterministic says: a warm worker or a Dask worker
# may run a deterministic stage after a nondeterministic one, and the handle outlives the stage.
CUBLAS_WORKSPACE = ":4096:8"


def configure(threads: int, device: str = "cpu", deterministic: bool = True) -> dict:
    """Apply the runtime settings and return what was applied, for the run record."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.set_num_threads(threads)
    # NumPy's BLAS (CKA matmuls) must follow the same count: a Dask worker caps it at 1 through
    # OPENBLAS_NUM_THREADS while a plain process uses every core, and the sums round differently.
    threadpool_limits(limits=threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=False)
    # cuDNN: no autotuning (it picks kernels by timing, so the choice varies between runs) and only its
    # deterministic kernels. Both are no-ops without CUDA.
    if deterministic:
        torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = deterministic
    resolved = resolve_device(device)
    return {
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "threads": threads,
        "device": str(resolved),
        "deterministic": deterministic,
    }


def resolve_device(device: str) -> torch.device:
    """`auto` is CUDA when this machine has it, else the CPU; `cuda` without a CUDA device is an input error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        from muaudit.errors import BadInputError

        raise BadInputError("runtime.device: 'cuda' requested but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(device)


def device_of(model: torch.nn.Module) -> str:
    """Where the model's tensors are: 'cpu', 'cuda:0', ... (one device; a model split across devices is an error)."""
    devices = {str(t.device) for t in [*model.parameters(), *model.buffers()]}
    if len(devices) > 1:
        raise RuntimeError(f"the model's tensors are on several devices: {', '.join(sorted(devices))}")
    return devices.pop() if devices else "cpu"


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: torch.device) -> float | None:
    """Peak memory allocated by torch on a CUDA device since reset_peak_memory (None elsewhere)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20
