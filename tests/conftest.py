"""Shared fixtures: where the real datasets live, and a tiny generated Dataset."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from genrec.config import load_config
from genrec.data.dataset import Dataset
from genrec.recipes.build_ids import IdsConfig, build_ids
from genrec.sid.semantic_ids import SemanticIds
from genrec.threads import ENV, LIBRARY_ENVS, apply_threads
from genrec.training import precision

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _shared_data() -> Path:
    return Path(os.environ.get("GENREC_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public datasets (../shared/data); tests using it skip when it is absent."""
    path = _shared_data()
    if not path.is_dir():
        pytest.skip(f"real datasets not found at {path} (set GENREC_SHARED_DATA)")
    return path


@pytest.fixture(autouse=True)
def native_bfloat16(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs the bfloat16 paths a recipe asks for, as on a CPU with AVX512-BF16: the
    models are tiny, so emulated bfloat16 costs nothing, and the paths stay tested on any CPU
    (tests/training/test_precision.py covers the float32 fallback)."""
    capabilities = torch.cpu.get_capabilities()
    monkeypatch.setattr(
        torch.cpu, "get_capabilities", lambda: {**capabilities, "avx512_bf16": True}
    )
    precision.native_bfloat16.cache_clear()
    yield
    precision.native_bfloat16.cache_clear()


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture()
def tiny_dataset() -> Dataset:
    """Four users, five items, chronological by timestamp."""
    inter = pl.DataFrame(
        {
            "user_id": ["u1"] * 5 + ["u2"] * 4 + ["u3"] * 3 + ["u4"] * 3,
            "item_id": list("abcde") + list("bcde") + list("cde") + list("aed"),
            "timestamp": [1, 2, 3, 4, 5, 1, 2, 3, 4, 2, 3, 4, 5, 6, 7],
        }
    )
    items = pl.DataFrame(
        {"item_id": list("abcde"), "title": [f"Item {c.upper()}" for c in "abcde"]}
    )
    return Dataset.from_frames("tiny", inter, items, source={"reader": "test"})


@pytest.fixture(scope="session", autouse=True)
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The suite's own embedding cache (``GENREC_CACHE``), empty at the start of every run, so
    no test depends on (or writes to) the user's ``~/.cache/genrec``."""
    before = os.environ.get("GENREC_CACHE")
    os.environ["GENREC_CACHE"] = str(tmp_path_factory.mktemp("genrec-cache"))
    yield Path(os.environ["GENREC_CACHE"])
    if before is None:
        os.environ.pop("GENREC_CACHE")
    else:
        os.environ["GENREC_CACHE"] = before


def tiny_text_ids(data: dict, out: Path) -> tuple[SemanticIds, dict]:
    """Text IDs of 2 levels x 4 codes for the test data ``data`` (a recipe's ``data:``),
    written to ``out``. ``cycle_dataset`` items have no text on purpose: the warning that they
    are embedded from their ids is expected (and absent on an embedding-cache hit)."""
    config = {
        "data": data,
        "embedding": "text",
        "rkmeans": {"codebook_size": 4, "n_levels": 2},
        "out": str(out),
        "progress": False,
        "threads": 1,
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*none of the template fields", UserWarning)
        return build_ids(load_config(IdsConfig, config))


def cycle_dataset(
    n_users: int = 400, n_items: int = 40, seed: int = 0, timestamps: bool = False
) -> Dataset:
    """Users walk a noisy cycle over the items, so the next item is learnable. With
    ``timestamps``, users start at different times (so a temporal split has cases)."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for user in range(n_users):
        start, length = rng.integers(n_items), rng.integers(5, 15)
        steps = (start + np.arange(length) + (rng.random(length) < 0.2)) % n_items
        users += [f"u{user}"] * length
        items += [f"i{i}" for i in steps]
        if timestamps:  # drawn only here: the default data stays what it always was
            times += (rng.integers(20) + np.arange(length)).tolist()
    columns = {"user_id": users, "item_id": items} | ({"timestamp": times} if timestamps else {})
    return Dataset.from_frames(
        "synthetic",
        pl.DataFrame(columns),
        pl.DataFrame({"item_id": [f"i{i}" for i in range(n_items)]}),
        source={"reader": "synthetic"},
    )


@pytest.fixture()
def one_thread() -> Iterator[None]:
    """Tiny matmuls: one thread is faster, and far faster on a CPU shared with other jobs.
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def keep_threads() -> Iterator[None]:
    """Undo what genrec.threads does to the process: the thread counts and the variables."""
    before, saved = torch.get_num_threads(), {k: os.environ.get(k) for k in (ENV, *LIBRARY_ENVS)}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    apply_threads(before)


# A ChatML template, as SmolLM2 and Qwen use: enough for apply_chat_template to work.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_causal_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a randomly initialised 2-layer Llama and a byte-level BPE tokenizer
    (~400 tokens, trained here on a few sentences), as ``save_pretrained`` writes them."""
    return save_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llm"), "llama")


#: Tiny architectures the LLM backbone is tested on, each as its config class's name, keyword
#: arguments and whether its tokenizer has a chat template (GPT-2 tests the plain layout).
TINY_ARCHITECTURES: dict[str, tuple[str, dict[str, object], bool]] = {
    "llama": (
        "LlamaConfig",
        {"intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2},
        True,
    ),
    "qwen2": (
        "Qwen2Config",
        {
            "intermediate_size": 64,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "tie_word_embeddings": False,  # the untied output head (Qwen2-7B's layout)
        },
        True,
    ),
    "qwen3": (
        "Qwen3Config",
        {"intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2},
        True,
    ),
    "gpt2": ("GPT2Config", {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 1024}, False),
}


def save_tiny_causal_lm(folder: Path, arch: str, words: Sequence[str] = ()) -> Path:
    """Write a randomly initialised 2-layer ``arch`` (a ``TINY_ARCHITECTURES`` key) with a
    byte-level BPE tokenizer (~400 tokens, trained here on a few sentences, plus ``words``,
    which then get ~1000 tokens: whole words, as a real tokenizer has them) into ``folder``,
    as ``save_pretrained`` writes them."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    config_class, options, chat = TINY_ARCHITECTURES[arch]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=1000 if words else 400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = ['Likes lightweight moisturizer. [{"statement": "Avoids glitter"}]', "1. - * : ,"]
    bpe.train_from_iterator([*corpus, *words] * 20, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, pad_token="<pad>", eos_token="<|im_end|>"
    )
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    config = getattr(transformers, config_class)(
        vocab_size=len(tokenizer),
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **{"hidden_size": 32, "num_hidden_layers": 2, "tie_word_embeddings": True, **options},
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    return folder
