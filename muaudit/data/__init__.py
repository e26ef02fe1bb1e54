"""Datasets (a registry of loaders) and the forget/retain/test split."""

from muaudit.data.registry import Dataset, get_dataset, register_dataset
from muaudit.data.split import ROLES, SplitData, load_split, make_roles, write_split

__all__ = [
    "ROLES",
    "Dataset",
    "SplitData",
    "get_dataset",
    "load_split",
    "make_roles",
    "register_dataset",
    "write_split",
]
