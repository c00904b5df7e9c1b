"""Models by name for ActCool; every ReLU is an ``nn.ReLU`` module so hooks can see it.

``build_model`` is loaded on first use (PEP 562), so ``trainer.models.names`` imports without torch.
"""

from typing import TYPE_CHECKING, Any

from .names import MODEL_NAMES

if TYPE_CHECKING:
    from .registry import build_model

__all__ = ["MODEL_NAMES", "build_model"]


def __getattr__(name: str) -> Any:
    if name == "build_model":
        from .registry import build_model

        return build_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
