"""ResNet-50 from torchvision (He et al. 2016), adapted to the input shape.

``torchvision.models.resnet50(weights=None)`` with ``num_classes`` logits. For small images
(<= 64 pixels) the ImageNet stem (7x7 stride-2 convolution and 3x3 max-pool, which would
shrink a 32x32 image to 8x8 before the first block) is replaced by a 3x3 stride-1
convolution and no max-pool, as usual for CIFAR. For large images only the stem's input
channels are adapted when they are not 3.

torchvision's ``Bottleneck`` calls its single ``self.relu`` module three times per block;
activation hooks see each call as its own ReLU site (1 + 3 * 16 = 49 sites), so the module
is kept as torchvision builds it.
"""

from __future__ import annotations

from torch import nn

SMALL_IMAGE_MAX = 64  # images up to this size get the CIFAR stem


def build_resnet50(in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """torchvision ResNet-50 with a stem that fits ``in_channels`` and ``image_size``."""
    from torchvision.models import resnet50  # imported here: it takes seconds

    model = resnet50(weights=None, num_classes=num_classes)
    if image_size <= SMALL_IMAGE_MAX:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    # Same init as torchvision gives its own stem.
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model
