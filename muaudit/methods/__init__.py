"""Unlearning methods: one module per method, looked up by name in the registry."""

from muaudit.methods import registry
from muaudit.methods.base import DivergedError, MethodParams, UnlearnContext

__all__ = ["DivergedError", "MethodParams", "UnlearnContext", "registry"]
