"""Model registry, named layers for extraction, safetensors I/O."""

from muaudit.models.registry import build_model, model_names, register_model
from muaudit.models.weights import load_model, save_model

__all__ = ["build_model", "load_model", "model_names", "register_model", "save_model"]
