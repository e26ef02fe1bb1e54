"""A stand-in accelerator for CPU-only tests: tensors that report device `meta` but carry real CPU data.

Inside `FakeAccelerator()`, moving a tensor or a model to `meta` (or creating one there) gives `OnDevice`
tensors: they compute with the CPU kernels on their hidden data, so a stage runs to the end with the same
numbers as on the CPU, while every tensor that was not moved stays a plain CPU tensor. As on a real GPU,
an operation that mixes the two fails (0-dim CPU tensors and CPU index tensors excepted, as CUDA allows),
and `.cpu()` is the way back. The mode records every aten operation and whether it ran on the device.
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

DEVICE = torch.device("meta")
aten = torch.ops.aten
# CUDA accepts CPU tensors in these: copies between devices, and CPU indices for indexing
MIXING_ALLOWED = {aten.copy_.default, aten._to_copy.default, aten.index.Tensor, aten.index_put_.default,
                  aten.index_put.default, aten._index_put_impl_.default}
# the work of training and inference: it must run on the device
COMPUTE = {aten.convolution.default, aten.convolution_backward.default, aten.addmm.default, aten.mm.default,
           aten.max_pool2d_with_indices.default, aten._log_softmax.default, aten.nll_loss_forward.default}


def _is_device(device) -> bool:
    return device is not None and torch.device(device).type == DEVICE.type


def _target(args, kwargs):
    """The device an op puts its result on, when it names one (a factory, `.to(...)`, a copy)."""
    if kwargs.get("device") is not None:
        return kwargs["device"]
    return next((a for a in args if isinstance(a, torch.device)), None)


def _on_cpu(tree):
    """The same arguments with the fake device replaced by the CPU, where the data really is."""
    return tree_map(lambda x: torch.device("cpu") if isinstance(x, torch.device) and _is_device(x) else x, tree)


class OnDevice(torch.Tensor):
    """A tensor on the fake device: metadata says `meta`, `elem` holds the CPU data."""

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        t = torch.Tensor._make_wrapper_subclass(cls, elem.size(), strides=elem.stride(),
                                                storage_offset=elem.storage_offset(), dtype=elem.dtype,
                                                layout=elem.layout, device=DEVICE, requires_grad=elem.requires_grad)
        t.elem = elem
        return t

    def __repr__(self) -> str:
        return f"OnDevice({self.elem!r})"

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat, _ = tree_flatten((args, kwargs))
        plain = [t for t in flat if isinstance(t, torch.Tensor) and not isinstance(t, OnDevice) and t.dim() > 0]
        if any(t.is_meta for t in plain):
            # C++ made it on `meta` without passing through this mode (e.g. a Python list used as an index):
            # it has no data, and the CPU kernel would silently treat it as empty
            raise RuntimeError(f"{func}: a tensor without data reached the fake device; index with a tensor")
        if plain and func not in MIXING_ALLOWED:
            raise RuntimeError(f"{func}: expected all tensors to be on the same device, but found at least two "
                               f"devices, {DEVICE} and {plain[0].device}")
        inner_args = tree_map(lambda x: x.elem if isinstance(x, OnDevice) else x, args)
        inner_kwargs = tree_map(lambda x: x.elem if isinstance(x, OnDevice) else x, kwargs)
        target = _target(args, kwargs)
        if func.overloadpacket in (aten._to_copy, aten.to) and target is not None and not _is_device(target):
            return func(*inner_args, **inner_kwargs)  # the way back to the CPU
        out = func(*_on_cpu(inner_args), **_on_cpu(inner_kwargs))
        by_elem = {id(a.elem): a for a in flat if isinstance(a, OnDevice)}

        def wrap(x):
            if isinstance(x, torch.Tensor) and not isinstance(x, OnDevice):
                same = by_elem.get(id(x))  # an in-place op returns its input
                if same is not None:
                    return same
                # not an inference tensor: autograd would refuse views of it under inference_mode
                with torch.inference_mode(False):
                    return OnDevice(x)
            return x

        return tree_map(wrap, out)


class FakeAccelerator(TorchDispatchMode):
    """Creating or copying a tensor onto `meta` makes an OnDevice tensor; ops records (op, on_device)."""

    def __init__(self):
        super().__init__()
        self.ops: list[tuple[object, bool]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat, _ = tree_flatten((args, kwargs))
        on_device = any(isinstance(t, OnDevice) for t in flat)
        self.ops.append((func, on_device))
        if not on_device and _is_device(_target(args, kwargs)):  # a factory or a copy onto the device
            out = func(*_on_cpu(args), **_on_cpu(kwargs))
            return tree_map(lambda x: OnDevice(x) if isinstance(x, torch.Tensor) else x, out)
        return func(*args, **kwargs)

    def compute_off_device(self) -> list[str]:
        """Training/inference ops that ran on plain CPU tensors: they ignored the device."""
        return sorted({str(f) for f, on in self.ops if f in COMPUTE and not on})

    def compute_on_device(self) -> int:
        return sum(1 for f, on in self.ops if f in COMPUTE and on)
