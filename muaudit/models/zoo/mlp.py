"""A multilayer perceptron for tabular data (or flattened images)."""

import math

from torch import nn

from muaudit.models.registry import register_model


class MLP(nn.Module):
    default_layers = ("hidden1", "hidden2")

    def __init__(self, in_features: int, num_classes: int, hidden: int = 64):
        super().__init__()
        self.hidden1 = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU())
        self.hidden2 = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):
        return self.head(self.hidden2(self.hidden1(x)))


@register_model("mlp")
def mlp(input_shape: tuple[int, ...], num_classes: int, hidden: int = 64) -> nn.Module:
    return MLP(math.prod(input_shape), num_classes, hidden)
