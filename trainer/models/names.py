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
