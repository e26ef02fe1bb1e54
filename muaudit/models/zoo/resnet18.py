"""ResNet-18 in its CIFAR form (3x3 stem, no max-pool), as in He et al. 2016 and kuangliu/pytorch-cifar.

About 11M parameters: hours per epoch on 2 CPU cores at 32x32, so tests run it on tiny inputs only.
"""

from torch import nn
from torch.nn import functional as F

from muaudit.models.registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class GlobalAvgPool(nn.Module):
    """Mean over the spatial positions: (n, c, h, w) -> (n, c). Not nn.AdaptiveAvgPool2d(1), whose CUDA
    backward has no deterministic implementation (training on a GPU with runtime.deterministic would fail);
    on the CPU both give the same bits."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


class ResNet18(nn.Module):
    default_layers = ("layer1", "layer2", "layer3", "layer4")

    def __init__(self, in_channels: int, num_classes: int, width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        widths = (width, 2 * width, 4 * width, 8 * width)
        c_in = width
        for i, (c, stride) in enumerate(zip(widths, (1, 2, 2, 2), strict=True), start=1):
            setattr(self, f"layer{i}", nn.Sequential(BasicBlock(c_in, c, stride), BasicBlock(c, c, 1)))
            c_in = c
        self.pool = GlobalAvgPool()
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x):
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.head(self.pool(x))


@register_model("resnet18")
def resnet18(input_shape: tuple[int, ...], num_classes: int, width: int = 64) -> nn.Module:
    if len(input_shape) != 3:
        raise ValueError(f"resnet18 expects images (C, H, W), got input shape {input_shape}")
    return ResNet18(input_shape[0], num_classes, width)
