"""GenerativeRecommender: any StepModel as a Recommender, through constrained beam search.

This is what the evaluation harness, the CLI and the HTTP service see of a generative model
(TIGER, a decoder-only generator, later an LLM with ID tokens): the network is reached only
through the ``StepModel`` protocol and the catalog only through its ``SemanticIds``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, get_args

import torch
from torch import nn

from genrec.data.windows import PAD
from genrec.decoding.beam_search import beam_search
from genrec.decoding.constraints import Scoring, level_logprobs
from genrec.models.recommender import Capabilities
from genrec.models.step_model import StepModel, over_whole_vocabulary
from genrec.recommend.cold_items import ColdItems, FirstLevel
from genrec.sid.semantic_ids import SemanticIds
from genrec.training.precision import usable_dtype

if TYPE_CHECKING:
    from genrec.prefs.preference import PreferenceInput
    from genrec.prefs.vectors import StatementEncoder


class GenerativeRecommender:
    """Top-``k`` items by trie-constrained beam search with ``max(beams, k)`` beams.

    ``token_offset`` is where ID tokens start in the model's vocabulary. Scores are the items'
    summed constrained log-probabilities (see ``beam_search``). With ``statements`` (an
    encoder of statement texts) the positive ``preferences`` of each user, at most
    ``max_statements``, are encoded and handed to the model's ``start``, which conditions on
    them; without it, or for a request without statements, ``preferences`` change nothing and
    the model decodes exactly as it would without them.
    The model is used as given: put a torch module in ``eval()`` mode before wrapping it.
    Users are decoded in chunks of at most ``max_rows`` (users x beams) rows, which bounds the
    memory of the network's decoding state whatever batch the caller passes. With ``dtype``
    (e.g. ``torch.bfloat16``) the network decodes in that precision: see ``in_dtype``. With
    ``cold`` the items never seen in training are scored from their text and the model's
    first-level probabilities and merged into each generated list (``ColdItems``).
    """

    def __init__(
        self,
        model: StepModel,
        ids: SemanticIds,
        beams: int = 20,
        token_offset: int = 0,
        max_rows: int = 4096,
        dtype: torch.dtype | None = None,
        statements: StatementEncoder | None = None,
        max_statements: int = 5,
        scoring: Scoring = "renormalized",
        cold: ColdItems | None = None,
    ) -> None:
        # 20 beams: a beam per slot of a top-20 list, the largest cut-off usually reported.
        if not isinstance(model, StepModel):
            raise TypeError(
                f"{type(model).__name__} is not a StepModel: it needs start(histories, beams), "
                "step(state, tokens) and reorder(state, rows) (genrec.models.step_model)"
            )
        if beams < 1:
            raise ValueError(f"beams must be >= 1; got {beams}")
        if token_offset < 0:
            raise ValueError(f"token_offset must be >= 0; got {token_offset}")
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1; got {max_rows}")
        self.model = model if dtype is None else in_dtype(model, dtype)
        self.ids = ids
        self.beams = int(beams)
        self.token_offset = int(token_offset)
        self.n_items = ids.n_items
        self.max_rows = int(max_rows)
        self.statements = statements
        self.max_statements = int(max_statements)
        if scoring not in get_args(Scoring):
            raise ValueError(f"scoring must be one of {get_args(Scoring)}; got {scoring!r}")
        self.scoring: Scoring = scoring
        self.cold = cold

    @property
    def capabilities(self) -> Capabilities:
        # A StepModel made of others (an ensemble) lists them in ``parts``.
        parts = getattr(self.model, "parts", (self.model,))
        return Capabilities(
            reads_preferences=self.statements is not None,
            beams=self.beams,
            modules=tuple(net for net in parts if isinstance(net, nn.Module)),
        )

    def recommend(
        self,
        histories: torch.Tensor,
        k: int,
        preferences: PreferenceInput | None = None,
        exclude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(items [B, k], scores [B, k])`` for ``histories [B, L]``, best first; items in
        ``exclude [B, E]`` never appear and rows left short end in ``PAD`` / ``-inf``."""
        if self.cold is None:
            items, scores, _ = self.generate(histories, k, preferences, exclude, first=False)
            return items, scores
        items, scores, first_level = self.generate(histories, k, preferences, exclude)
        assert first_level is not None
        return self.cold.merge(items, scores, histories, first_level, exclude)

    def generate(
        self,
        histories: torch.Tensor,
        k: int,
        preferences: PreferenceInput | None = None,
        exclude: torch.Tensor | None = None,
        first: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The beam search's ``(items [B, k], scores [B, k])`` before any cold items are
        merged in, and (with ``first``; else None) the model's log-probabilities of the first
        ID code ``[B, K]`` (what ``ColdItems`` reads), under the same trie and scoring."""
        if histories.ndim != 2:
            raise ValueError(f"histories must be [B, L]; got shape {tuple(histories.shape)}")
        if not 1 <= k <= self.n_items:
            raise ValueError(f"k={k} must be between 1 and the catalog size ({self.n_items} items)")
        if preferences is not None and len(preferences) != len(histories):
            raise ValueError(
                f"preferences has {len(preferences)} entries for {len(histories)} histories"
            )
        if exclude is not None and (exclude.ndim != 2 or len(exclude) != len(histories)):
            raise ValueError(
                f"exclude must be [B, E] with as many rows as histories ({len(histories)}); "
                f"got shape {tuple(exclude.shape)}"
            )
        vectors = None
        if preferences is not None and self.statements is not None:
            from genrec.prefs.preference import as_preferences

            vectors = self.statements(
                as_preferences(preferences, len(histories)), self.max_statements
            )
            if not vectors.any():  # nobody has a positive statement: the unconditioned path
                vectors = None
        beams = max(self.beams, k)
        chunk = max(1, self.max_rows // beams)
        # Users of similar history length share a chunk, so models that trim padding save work.
        order = (histories != PAD).sum(1).argsort(stable=True)
        # beam_search takes the raw view itself, but the probe must read that view's logits.
        model = over_whole_vocabulary(self.model) if self.scoring == "raw" else self.model
        results = []
        for rows in order.split(chunk) or [order]:  # [order] when there are no users
            probe = FirstLevel(model) if first else None
            items, scores = beam_search(
                probe or model,
                self.ids,
                histories[rows],
                beams,
                k,
                exclude=None if exclude is None else exclude[rows.to(exclude.device)],
                token_offset=self.token_offset,
                preferences=None if vectors is None else vectors[rows],
                scoring=self.scoring,
            )
            level = None if probe is None else self._first_level(probe.logits, beams, len(rows))
            results.append((items, scores, level))
        unsort = order.argsort()
        items, scores = (torch.cat([r[i] for r in results]) for i in (0, 1))
        items, scores = items[unsort.to(items.device)], scores[unsort.to(items.device)]
        if not first:
            return items, scores, None
        levels = torch.cat([r[2] for r in results])
        return items, scores, levels[unsort.to(levels.device)]

    def _first_level(self, logits: torch.Tensor | None, beams: int, n_users: int) -> torch.Tensor:
        """Log-probabilities ``[B, K]`` of the first ID code from the search's first logits
        ``[B * beams, V]`` (all beams of a user start alike), over the codes the trie allows."""
        size = self.ids.codebook_sizes[0]
        if logits is None:  # no users: the model was not called
            return torch.zeros(n_users, size)
        rows = logits[::beams]
        allowed = self.ids.trie.allowed(torch.zeros(1, 0, dtype=torch.long))
        allowed = allowed.to(rows.device).expand(len(rows), size)
        return level_logprobs(rows, self.token_offset, allowed, scoring=self.scoring)

    def __repr__(self) -> str:
        return (
            f"GenerativeRecommender({type(self.model).__name__}, n_items={self.n_items}, "
            f"beams={self.beams}, token_offset={self.token_offset}, scoring={self.scoring}, "
            f"cold={self.cold})"
        )


def in_dtype(model: StepModel, dtype: torch.dtype) -> StepModel:
    """``model`` itself when its floating-point weights are already ``dtype``, else a copy cast
    to it, so the caller's network (one still training, say) keeps its own precision.

    bfloat16 halves decoding time on CPUs with AVX512-BF16 or AMX and on GPUs; beam scores are
    still accumulated in float32 (``level_logprobs``), so only the network's rounding changes.
    Where bfloat16 is emulated it runs in float32 instead (``genrec.training.precision``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"only a torch module can change precision, not {type(model).__name__}")
    weights = [p for p in model.parameters() if p.is_floating_point()]
    dtype = usable_dtype(dtype, weights[0].device.type if weights else "cpu")
    if all(p.dtype == dtype for p in weights):
        return model
    return copy.deepcopy(model).to(dtype)
