import torch

from muaudit.data import get_dataset
from muaudit.models import build_model, load_model, save_model
from muaudit.runtime import configure
from muaudit.training import accuracy, seeded_model, train_classifier


def _train(seed: int):
    configure(threads=1)
    data = get_dataset("digits")
    x, y = torch.from_numpy(data.x[:600]), torch.from_numpy(data.y[:600])
    model = seeded_model(lambda: build_model("small_cnn", data.x.shape[1:], 10), seed)
    return train_classifier(model, x, y, epochs=4, lr=3e-3, batch_size=64, seed=seed), x, y


def test_training_is_deterministic_and_learns():
    a, x, y = _train(0)
    b, _, _ = _train(0)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert accuracy(a, x, y) > 0.5


def test_safetensors_roundtrip_is_byte_identical(tmp_path):
    model, _, _ = _train(1)
    save_model(model, tmp_path / "a", {"seed": 1})
    save_model(model, tmp_path / "b", {"seed": 1})
    assert (tmp_path / "a/model.safetensors").read_bytes() == (tmp_path / "b/model.safetensors").read_bytes()
    loaded, meta = load_model(build_model("small_cnn", (1, 8, 8), 10), tmp_path / "a")
    assert meta == {"seed": 1}
    assert all(torch.equal(p, q) for p, q in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True))
