"""Models by name for ActCool; every ReLU is an ``nn.ReLU`` module so hooks can see it."""

from .registry import MODEL_NAMES, build_model

__all__ = ["MODEL_NAMES", "build_model"]
