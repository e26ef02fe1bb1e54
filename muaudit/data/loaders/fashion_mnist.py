"""Fashion-MNIST: the same IDX files and layout as MNIST."""

from muaudit.data.loaders.mnist import idx_dataset
from muaudit.data.registry import Dataset, register_dataset


@register_dataset("fashion_mnist")
def fashion_mnist(path: str | None = None) -> Dataset:
    return idx_dataset("fashion_mnist", path)
