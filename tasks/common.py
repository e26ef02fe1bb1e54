"""Helpers shared by the model stages: the split's samples on the stage's device, and accuracies."""

from __future__ import annotations

import numpy as np
import torch

from muaudit.data import ROLES, SplitData


class SplitTensors:
    """Every sample of the split on one device, moved there once per stage; rows by role are gathered on
    the device (the same values, in the same order, as indexing the arrays on the CPU)."""

    def __init__(self, data: SplitData, device: torch.device):
        self.x = torch.from_numpy(data.x).to(device)
        self.y = torch.from_numpy(data.y).to(device)
        self.roles = data.roles

    def rows(self, *roles: str) -> tuple[torch.Tensor, torch.Tensor]:
        """x, y of the samples whose role is one of roles, in split order (a copy gathered on the device)."""
        idx = torch.from_numpy(np.flatnonzero(np.isin(self.roles, roles))).to(self.x.device)
        return self.x[idx], self.y[idx]


def accuracies(model, tensors: SplitTensors) -> dict[str, float]:
    from muaudit.training import accuracy

    return {f"acc_{role}": accuracy(model, *tensors.rows(role)) for role in ROLES}
