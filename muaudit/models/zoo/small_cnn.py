"""The default model: a small CNN sized so that a whole audit on digits runs in minutes on 2 CPU cores."""

from torch import nn

from muaudit.models.registry import register_model


class SmallCNN(nn.Module):
    default_layers = ("block1", "block2", "fc")

    def __init__(self, in_channels: int, image_hw: tuple[int, int], num_classes: int, width: int = 16):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        flat = 2 * width * (image_hw[0] // 2) * (image_hw[1] // 2)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(flat, 4 * width), nn.ReLU())
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        return self.head(self.fc(self.block2(self.block1(x))))


@register_model("small_cnn")
def small_cnn(input_shape: tuple[int, ...], num_classes: int, width: int = 16) -> nn.Module:
    if len(input_shape) != 3:
        raise ValueError(f"small_cnn expects images (C, H, W), got input shape {input_shape}")
    return SmallCNN(input_shape[0], (input_shape[1], input_shape[2]), num_classes, width)
