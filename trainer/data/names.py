"""Dataset names, importable without torch (the CLI validates with them before loading torch)."""

DATASET_NAMES: tuple[str, ...] = ("digits", "fashion-mnist", "cifar10", "synthetic")
# Parametrised forms accepted besides the plain names.
NAME_PATTERNS: tuple[str, ...] = ("synthetic:CxHxW", "imagefolder:<path>")
