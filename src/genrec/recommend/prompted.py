"""An LLM backbone decoded from given prompts, and its direct mode with preferences as text.

The backbone's ``StepModel`` view builds each user's prompt from the history alone. ``Primed``
takes the prompts' tokens instead (the history plus the request's preference statements, or a
reasoning chain and the answer marker), and the shared trie-constrained beam search decodes
the answer after them. ``PromptedRecommender`` is direct mode for a backbone trained with
statements in its prompts (``prefs.statements``): a request's positive preferences are
written before the history (``llm_prompts.with_statements``), and a request without any gets
the plain prompt, so its list is the one ``GenerativeRecommender`` returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from genrec.decoding.beam_search import beam_search
from genrec.decoding.constraints import Scoring
from genrec.models.beam_tree import BeamTreeState
from genrec.models.llm_backbone import LLMBackbone
from genrec.models.recommender import Capabilities, Mode
from genrec.prefs.preference import PreferenceInput, as_preferences

if TYPE_CHECKING:
    from genrec.recommend.reasoning import ReasoningRecommender


@dataclass(frozen=True)
class Primed:
    """The backbone as a ``StepModel`` whose users' prompts are given token lists, in the order
    of the histories ``beam_search`` passes."""

    model: LLMBackbone
    prompts: Sequence[Sequence[int]]

    def start(self, histories: torch.Tensor, beams: int) -> BeamTreeState:
        if len(histories) != len(self.prompts):
            raise ValueError(f"{len(self.prompts)} prompts for {len(histories)} histories")
        return self.model.prefill(self.prompts, beams)

    def step(
        self, state: BeamTreeState, tokens: torch.Tensor | None
    ) -> tuple[torch.Tensor, BeamTreeState]:
        return self.model.step(state, tokens)

    def reorder(self, state: BeamTreeState, rows: torch.Tensor) -> BeamTreeState:
        return self.model.reorder(state, rows)


def primed_search(
    model: LLMBackbone,
    prompts: Sequence[Sequence[int]],
    histories: torch.Tensor,
    k: int,
    beams: int,
    exclude: torch.Tensor | None,
    scoring: Scoring,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-``k`` answers ``(items [B, k], scores [B, k])`` decoded under the trie after
    each user's ``prompts`` (at least ``k`` beams)."""
    # Raw scoring decodes the backbone's whole-vocabulary view: beam_search cannot reach the
    # backbone inside Primed to take it.
    decoded = model.over_whole_vocabulary() if scoring == "raw" else model
    return beam_search(
        Primed(decoded, prompts),
        model.ids,
        histories,
        max(beams, k),
        k,
        exclude=exclude,
        token_offset=model.token_offset,
        scoring=scoring,
    )


def stated(preferences: PreferenceInput | None, n_users: int, limit: int) -> list[list[str]]:
    """The texts of each user's positive ``preferences``, at most ``limit`` (0: none read)."""
    if preferences is None or limit == 0:
        return [[] for _ in range(n_users)]
    return [
        [p.text for p in user if p.polarity == "positive"][:limit]
        for user in as_preferences(preferences, n_users)
    ]


class PromptedRecommender:
    """Direct mode (top-``k`` by beam search with ``max(beams, k)`` beams) whose prompts carry
    each request's positive preference statements, at most ``max_statements`` per user."""

    def __init__(
        self,
        model: LLMBackbone,
        beams: int = 20,
        max_statements: int = 5,
        scoring: Scoring = "renormalized",
    ) -> None:
        if beams < 1 or max_statements < 1:
            raise ValueError(
                f"need beams >= 1 and max_statements >= 1; got {beams}, {max_statements}"
            )
        self.model = model
        self.ids = model.ids
        self.n_items = model.ids.n_items
        self.beams = beams
        self.max_statements = max_statements
        self.scoring: Scoring = scoring

    @property
    def capabilities(self) -> Capabilities:
        return prompted_capabilities(self, "direct")

    def recommend(
        self,
        histories: torch.Tensor,
        k: int,
        preferences: PreferenceInput | None = None,
        exclude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(items [B, k], scores [B, k])`` for ``histories [B, L]``, best first."""
        if not 1 <= k <= self.n_items:
            raise ValueError(f"k={k} must be between 1 and the catalog size ({self.n_items} items)")
        said = stated(preferences, len(histories), self.max_statements)
        prompts = self.model.prompt_tokens(histories, said)
        return primed_search(self.model, prompts, histories, k, self.beams, exclude, self.scoring)


def prompted_capabilities(
    adapter: PromptedRecommender | ReasoningRecommender, mode: Mode
) -> Capabilities:
    """What an LLM adapter can do: it reads a request's statements when trained with them in
    its prompts (``max_statements`` > 0); its one module is the backbone."""
    return Capabilities(
        reads_preferences=adapter.max_statements > 0,
        mode=mode,
        beams=adapter.beams,
        modules=(adapter.model,),
    )
