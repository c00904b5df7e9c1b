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


#: A new run's rate and weight decay per optimizer, where the user sets neither: SGD's are the
#: CNN recipes' (the paper's), AdamW's the transformer recipes' (DeiT, ConvNeXt: 1e-3 at batch
#: 1024 scales to about 1e-3 at this trainer's small batches; decoupled decay 0.05).
OPTIMIZER_DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"lr": 0.05, "weight_decay": 5e-4},
    "adamw": {"lr": 1e-3, "weight_decay": 0.05},
}

#: Models whose family trains with AdamW by default: this trainer's vision transformer, and timm
#: names that start with a transformer's or ConvNeXt's family name. Everything else: SGD.
ADAMW_MODELS = ("vit-tiny",)
ADAMW_TIMM_FAMILIES = (
    "vit",
    "deit",
    "swin",
    "convnext",
    "beit",
    "eva",
    "levit",
    "mixer",
    "maxvit",
    "cait",
    "xcit",
    "mobilevit",
    "pvt",
    "twins",
    "crossvit",
    "edgenext",
    "efficientformer",
    "fastvit",
    "tiny_vit",
    "hiera",
)


def default_optimizer(model: str) -> str:
    """``"adamw"`` for a transformer or ConvNeXt family, else ``"sgd"``."""
    if model in ADAMW_MODELS:
        return "adamw"
    name = model[len(TIMM_PREFIX) :] if model.startswith(TIMM_PREFIX) else ""
    return "adamw" if name.startswith(ADAMW_TIMM_FAMILIES) else "sgd"


def optimizer_defaults(model: str, optimizer: str | None = None) -> dict[str, float | str]:
    """The optimizer a new run of ``model`` gets where the user names none (its family's), and
    that optimizer's rate and weight decay: ``{"optimizer", "lr", "weight_decay"}``."""
    optimizer = optimizer or default_optimizer(model)
    return {"optimizer": optimizer, **OPTIMIZER_DEFAULTS[optimizer]}
