"""Reasoning mode: a free, bounded chain of text, then an answer forced under the trie.

For each user the LLM backbone first writes a chain (free text, at most ``chain_tokens`` tokens,
no ID tokens: evidence from the history -> preference -> intent) after the reasoning prompt,
stopping at the answer marker ``<answer>`` or its end of turn. The prompt, the chain and the
marker are then prefilled as one prompt and the answer is decoded by the shared trie-constrained
beam search, so every answer is a real, permitted item and the list is full, whatever the chain
says. ``reason`` returns the chains with the items (``genrec.models.recommender.Reasoned``),
verbatim and flagged where the budget ran out before the marker; ``recommend`` is the plain
Recommender view, so the evaluation harness measures the answer lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from genrec.decoding.constraints import Scoring
from genrec.models.llm_backbone import LLMBackbone
from genrec.models.llm_prompts import ANSWER, REASONING_REQUEST
from genrec.models.recommender import Capabilities, Reasoned
from genrec.recommend.prompted import primed_search, prompted_capabilities, stated

if TYPE_CHECKING:
    from genrec.prefs.preference import PreferenceInput


class ReasoningRecommender:
    """Top-``k`` items after a chain of at most ``chain_tokens`` tokens, by beam search with
    ``max(beams, k)`` beams. Chains are greedy by default; ``temperature > 0`` samples them
    (seeded per call by ``seed``), e.g. for Pass@k over several chains. With
    ``max_statements > 0`` (a backbone trained with statements in its prompts) a request's
    positive preferences, at most that many per user, go into the prompt; with 0 they are not
    read."""

    def __init__(
        self,
        model: LLMBackbone,
        beams: int = 20,
        chain_tokens: int = 64,
        temperature: float = 0.0,
        seed: int = 0,
        scoring: Scoring = "renormalized",
        max_statements: int = 0,
    ) -> None:
        if chain_tokens < 0 or beams < 1 or temperature < 0 or max_statements < 0:
            raise ValueError(
                "need chain_tokens >= 0, beams >= 1, temperature >= 0, max_statements >= 0; "
                f"got {chain_tokens}, {beams}, {temperature}, {max_statements}"
            )
        self.model = model
        self.ids = model.ids
        self.n_items = model.ids.n_items
        self.beams = beams
        self.chain_tokens = chain_tokens
        self.temperature = temperature
        self.seed = seed
        self.scoring: Scoring = scoring
        self.max_statements = max_statements
        self.answer = int(model.tokenizer.convert_tokens_to_ids(ANSWER))

    @property
    def capabilities(self) -> Capabilities:
        return prompted_capabilities(self, "reasoning")

    def recommend(
        self,
        histories: torch.Tensor,
        k: int,
        preferences: PreferenceInput | None = None,
        exclude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(items [B, k], scores [B, k])`` of the answers (the chains are dropped)."""
        reasoned = self.reason(histories, k, preferences, exclude)
        return reasoned.items, reasoned.scores

    def reason(
        self,
        histories: torch.Tensor,
        k: int,
        preferences: PreferenceInput | None = None,
        exclude: torch.Tensor | None = None,
        chains: Sequence[Sequence[int]] | None = None,
    ) -> Reasoned:
        """Chains and answers for ``histories [B, L]``; ``chains`` (token lists, one per user)
        replaces the written ones. Chains are decoded as written, unstripped, so one of blank
        lines reads as such; a chain of ``chain_tokens`` tokens (or more, given) ran out of
        budget before the answer marker, since a written chain never holds its stop."""
        if not 1 <= k <= self.n_items:
            raise ValueError(f"k={k} must be between 1 and the catalog size ({self.n_items} items)")
        prompts = self.prompts(histories, stated(preferences, len(histories), self.max_statements))
        if chains is None:
            chains = self.write_chains(prompts)
        primed = [[*p, *c, self.answer] for p, c in zip(prompts, chains, strict=True)]
        items, scores = primed_search(
            self.model, primed, histories, k, self.beams, exclude, self.scoring
        )
        texts = [self.model.tokenizer.decode(c, skip_special_tokens=True) for c in chains]
        truncated = [0 < self.chain_tokens <= len(c) for c in chains]
        return Reasoned(items, scores, texts, truncated)

    def prompts(
        self, histories: torch.Tensor, statements: Sequence[Sequence[str]] | None = None
    ) -> list[list[int]]:
        """The reasoning prompt's tokens for each history (last ``llm.max_history`` items),
        after each user's ``statements`` when given."""
        return self.model.prompt_tokens(histories, statements, REASONING_REQUEST)

    @torch.no_grad()
    def write_chains(self, prompts: Sequence[Sequence[int]]) -> list[list[int]]:
        """Each prompt's chain: generated tokens up to (not including) the answer marker or the
        end of turn, at most ``chain_tokens``; ID tokens are never written in a chain."""
        if self.chain_tokens == 0 or not prompts:
            return [[] for _ in prompts]
        model, tokenizer = self.model, self.model.tokenizer
        width = max(len(p) for p in prompts)
        pad = tokenizer.pad_token_id
        tokens = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        ids = range(model.token_offset, model.token_offset + self.ids.vocab_size)
        stops = [self.answer, tokenizer.eos_token_id]
        if self.temperature > 0:
            torch.manual_seed(self.seed)
        out = model.lm.generate(
            input_ids=tokens.to(model.lm.device),
            attention_mask=mask.to(model.lm.device),
            max_new_tokens=self.chain_tokens,
            do_sample=self.temperature > 0,
            temperature=self.temperature or None,
            top_p=None,
            top_k=None,
            suppress_tokens=list(ids),
            eos_token_id=stops,
            pad_token_id=pad,
        )[:, width:]
        chains = []
        for row in out.tolist():
            end = next((i for i, t in enumerate(row) if t in stops or t == pad), len(row))
            chains.append(row[:end])
        return chains


def sampled_answers(
    model: ReasoningRecommender,
    histories: torch.Tensor,
    n: int,
    preferences: PreferenceInput | None = None,
) -> torch.Tensor:
    """The top answer after each of ``n`` sampled chains per user: ``[B, n]`` item indices
    (chains at ``model.temperature``, 1 if it is 0, seeded ``model.seed + i``), for Pass@k
    (``genrec.eval.metrics.pass_at_k``)."""
    answers = []
    for i in range(n):
        sampler = ReasoningRecommender(
            model.model,
            model.beams,
            model.chain_tokens,
            model.temperature or 1.0,
            model.seed + i,
            scoring=model.scoring,
            max_statements=model.max_statements,
        )
        answers.append(sampler.recommend(histories, 1, preferences)[0][:, 0])
    return torch.stack(answers, dim=1)
