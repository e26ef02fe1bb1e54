"""Helpers shared by the model stages."""

from __future__ import annotations

import torch

from muaudit.data import SplitData, load_split


def role_tensors(data: SplitData, role: str) -> tuple[torch.Tensor, torch.Tensor]:
    idx = data.index(role)
    return torch.from_numpy(data.x[idx]), torch.from_numpy(data.y[idx])


def accuracies(model, data: SplitData) -> dict[str, float]:
    from muaudit.training import accuracy

    return {f"acc_{role}": accuracy(model, *role_tensors(data, role)) for role in ("forget", "retain", "test")}


__all__ = ["accuracies", "load_split", "role_tensors"]
