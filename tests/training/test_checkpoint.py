import torch

from genrec.training.checkpoint import load_state, load_weights, save_checkpoint


def test_checkpoint_round_trip_restores_optimizer_and_rng(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = {
        "optimizer": opt.state_dict(),
        "rng": torch.get_rng_state(),
        "loop": {"epoch": 3, "best": -float("inf")},
    }
    save_checkpoint(tmp_path / "ck", model.state_dict(), state)

    restored = torch.nn.Linear(3, 2)
    load_weights(tmp_path / "ck", restored)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), restored.state_dict().values(), strict=True)
    )
    saved = load_state(tmp_path / "ck")
    opt2 = torch.optim.AdamW(restored.parameters(), lr=0.1)
    opt2.load_state_dict(saved["optimizer"])
    assert torch.equal(
        opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"]
    )
    assert saved["loop"] == {"epoch": 3, "best": -float("inf")}
    assert torch.equal(saved["rng"], state["rng"])
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "model.safetensors",
        "state.json",
        "state.safetensors",
    ]


def test_corrupted_weights_give_clear_error(tmp_path):
    import pytest

    from genrec.errors import DataError

    model = torch.nn.Linear(3, 2)
    save_checkpoint(tmp_path / "ck", model.state_dict(), {})
    (tmp_path / "ck" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataError, match="corrupted"):
        load_weights(tmp_path / "ck", model)
    with pytest.raises(DataError, match="no weights"):
        load_weights(tmp_path / "missing", model)
    save_checkpoint(tmp_path / "ck", model.state_dict(), {})
    with pytest.raises(DataError, match="do not fit the Linear"):  # another vocabulary, say
        load_weights(tmp_path / "ck", torch.nn.Linear(3, 4))


def test_corrupted_state_names_the_file(tmp_path):
    import pytest

    from genrec.errors import DataError

    save_checkpoint(
        tmp_path / "ck", torch.nn.Linear(3, 2).state_dict(), {"rng": torch.get_rng_state()}
    )
    for name, garbage in (("state.json", "{truncated"), ("state.safetensors", "garbage")):
        good = (tmp_path / "ck" / name).read_bytes()
        (tmp_path / "ck" / name).write_text(garbage)
        with pytest.raises(DataError, match=name):
            load_state(tmp_path / "ck")
        (tmp_path / "ck" / name).write_bytes(good)
    (tmp_path / "ck" / "state.json").write_text('{"__tensor__": "s.9"}')  # no such tensor
    with pytest.raises(DataError, match="does not match state.safetensors"):
        load_state(tmp_path / "ck")


def test_tied_weights_are_saved(tmp_path):
    class Tied(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(5, 3)
            self.head = torch.nn.Linear(3, 5, bias=False)
            self.head.weight = self.emb.weight

    model = Tied()
    save_checkpoint(tmp_path / "ck", model.state_dict(), {})
    restored = Tied()
    load_weights(tmp_path / "ck", restored)
    assert torch.equal(restored.head.weight, model.emb.weight)
    assert restored.head.weight is restored.emb.weight
