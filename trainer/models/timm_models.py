"""``timm:<name>``: any model of the timm library, built for the run's data.

``timm:convnext_atto`` is ``timm.create_model("convnext_atto", pretrained=False,
num_classes=..., in_chans=...)`` with the dataset's classes and channels (and ``img_size`` for
models that take one, as vision transformers do). timm is an optional extra
(``pip install -e '.[timm]'``). Its activations are modules (``nn.GELU``, ``nn.SiLU``, timm's own
wrappers), so ActCool measures them by default (``actcool.find_sites``).
"""

from __future__ import annotations

import difflib

from torch import nn

from ..errors import ConfigError

PREFIX = "timm:"


def build_timm(name: str, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """A freshly initialised timm model ``name`` (no pretrained weights are downloaded).

    Raises:
        ConfigError: (a ``ValueError``) timm is not installed (the message names the extra),
            it has no model ``name`` (the message lists close matches), or the model cannot
            take ``image_size`` images (its downsampling needs larger ones).
    """
    try:
        import timm
    except ImportError as exc:
        raise ConfigError(
            f"model {PREFIX}{name} needs the timm package: pip install -e '.[timm]' "
            "(or pip install timm)"
        ) from exc
    known = timm.list_models()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
        hint = f"; close matches: {', '.join(PREFIX + c for c in close)}" if close else ""
        raise ConfigError(f"timm has no model {name!r}{hint} (timm.list_models() lists them)")
    kwargs = {"pretrained": False, "num_classes": num_classes, "in_chans": in_channels}
    try:
        model = timm.create_model(name, img_size=image_size, **kwargs)
    except TypeError:  # a model without an img_size argument (convolutional networks)
        model = timm.create_model(name, **kwargs)
    _check_input_size(model, name, in_channels, image_size)
    return model


def _check_input_size(model: nn.Module, name: str, in_channels: int, image_size: int) -> None:
    """Run one blank image through ``model`` (in eval mode: no statistics move, no randomness
    is drawn) so that an image too small for its downsampling fails here, with its name and
    size, rather than at the first training step with a shape error from deep inside timm."""
    import torch

    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_channels, image_size, image_size))
    except RuntimeError as exc:
        raise ConfigError(
            f"model {PREFIX}{name} cannot take {image_size}×{image_size} images ({exc}); "
            "choose a dataset with larger images (fashion-mnist: 28 px, cifar10: 32 px) or a "
            "timm model that downsamples less"
        ) from exc
    finally:
        model.train()
