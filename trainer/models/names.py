"""Model names, importable without torch (the CLI validates with them before loading torch)."""

MODEL_NAMES: tuple[str, ...] = (
    "convnet4",
    "resnet20",
    "resnet32",
    "resnet56",
    "resnet32-plain",
    "fixup-resnet32",
    "pyramidnet",
    "vgg16",
    "resnet50",
    "vit-tiny",
)

#: ``timm:<name>``: any timm model (trainer/models/timm_models.py; the ``timm`` extra).
TIMM_PREFIX = "timm:"


def is_model_name(name: str) -> bool:
    """Whether ``name`` names a model: one of :data:`MODEL_NAMES`, or ``timm:<name>``."""
    return name in MODEL_NAMES or (name.startswith(TIMM_PREFIX) and len(name) > len(TIMM_PREFIX))
