"""How a recipe's ``prefs:`` section enters training and evaluation.

Training: each example gets the statements of its target's step (``Conditioning.extend``, per
batch, from torch's global RNG, which the loop checkpoints, so a resumed run draws the same):
dropped with probability ``prefs.drop``; else the one most similar to the target (a label,
as in Mender) with probability ``prefs.oracle_rate``, or all positive statements of the step.
With ``prefs.hindsight`` a share of them also gets a hindsight statement written from the
target itself (``genrec.prefs.hindsight``: what the user wants next, from the item's text and
the user's own review of it, the labels that teach following), and the step's statements
become context (kept with probability ``prefs.context``, marked as about the history, so the
model learns to tell the two apart).
A decoder-only window learns every next item at once, so a window that gets statements is cut
to end at a randomly drawn target and the statements are that target's (see
``DecoderOnly.loss``: they condition that target only). Evaluation: validation and test cases
carry the statements that ``prefs.protocol`` chooses (``genrec.prefs.protocols``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from genrec.data.dataset import Dataset
from genrec.data.splits import EvalSet, Split
from genrec.data.windows import PAD, next_item_window_rows
from genrec.families.family import Layout
from genrec.prefs.hindsight import target_statements
from genrec.prefs.preference import ABOUT_COLUMN
from genrec.prefs.protocols import protocol
from genrec.prefs.selection import Cases, Part, StepStatements, preferences, target_steps
from genrec.prefs.store import TABLE, load_statements
from genrec.prefs.vectors import StatementEncoder
from genrec.text.cache import item_embeddings
from genrec.text.template import ItemTemplate

Batch = dict[str, torch.Tensor]


class Conditioning:
    """A recipe's statements, encoded, with the oracle choice of every step precomputed."""

    def __init__(
        self,
        path: str,
        dataset: Dataset,
        encoder: StatementEncoder,
        limit: int,
        template: ItemTemplate | None = None,
    ) -> None:
        self.path = path
        self.dataset = dataset
        self.encoder = encoder
        self.limit = limit
        self.statements = load_statements(path, dataset)
        self.steps = StepStatements.of(self.statements, encoder, progress=True)
        # Items in the text their semantic IDs were built from (``template``), the text the
        # model knows them by, for the protocols that compare statements with the target.
        self.items = item_embeddings(dataset, template, encoder=encoder.encoder, progress=True)
        self.pools: dict[str, StepStatements] = {}  # statements a protocol writes, once each

    def record(self, protocol: str) -> dict[str, str]:
        """The manifest's ``prefs`` entry: the folder, a digest of its table, the protocol."""
        digest = hashlib.sha256((Path(self.path) / TABLE).read_bytes()).hexdigest()[:16]
        return {"path": self.path, "fingerprint": digest, "protocol": protocol}

    # --- evaluation -----------------------------------------------------------------------

    def cases(self, cases: EvalSet, part: Part) -> Cases:
        steps = target_steps(self.dataset, cases.users, cases.histories, cases.targets)
        return Cases(cases.users, steps, cases.targets, part)

    def told(self, cases: EvalSet, name: str | None, part: Part) -> EvalSet:
        """``cases`` (validation or test: ``part``) with the statements protocol ``name``
        chooses (None: without statements)."""
        if name is None:
            return dataclasses.replace(cases, preferences=None)
        entry = protocol(name)
        if name not in self.pools:
            self.pools[name] = entry.pool(self.steps, self.dataset, self.encoder)
        pool = self.pools[name]
        chosen = entry.choose(pool, self.items, self.cases(cases, part))
        return dataclasses.replace(cases, preferences=preferences(pool, chosen, entry.about))

    def split(self, split: Split, name: str | None) -> Split:
        return dataclasses.replace(
            split,
            valid=self.told(split.valid, name, "valid"),
            test=self.told(split.test, name, "test"),
        )

    # --- training -------------------------------------------------------------------------

    def examples(
        self, layout: Layout, examples: dict[str, torch.Tensor], split: Split, hindsight: float
    ) -> dict[str, torch.Tensor]:
        """``examples`` plus ``rows``: the ``split.train`` row of each target (``layout``
        "transitions", e.g. TIGER: ``[N]``) or of each window item ("windows", e.g. the
        decoder-only generator: ``[N, n + 1]``, -1 for padding). With ``hindsight > 0`` the
        targets' hindsight statements are written and encoded too."""
        train = split.train
        if layout == "transitions":
            rows = torch.from_numpy(train.offsets[examples["users"].numpy()]) + examples["steps"]
        else:
            rows = torch.from_numpy(next_item_window_rows(train, split.max_history))
        self._tables(split, hindsight > 0)
        return {**examples, "rows": rows}

    def _tables(self, split: Split, hindsight: bool) -> None:
        """Per row of ``split.train``: the oracle statement (-1: none), all positive ones
        (``[rows, limit]``, -1 padded; the leak-free choice) and, with ``hindsight``, the
        target's hindsight statements (``[rows]`` first index and count), as indices into
        ``self.vectors`` (the step statements' vectors, then the hindsight ones)."""
        train = split.train
        users = np.repeat(np.arange(len(train.lengths)), train.lengths)
        steps = np.arange(len(train.items)) - np.repeat(train.offsets[:-1], train.lengths)
        cases = Cases(users, steps, train.items.astype(np.int64))
        oracle = protocol("oracle").choose(self.steps, self.items, cases)[:, 0]
        self.oracle = torch.from_numpy(oracle)
        every = protocol("leak_free").choose(self.steps, self.items, cases)[:, : self.limit]
        table = np.full((len(users), self.limit), -1, dtype=np.int64)
        table[:, : every.shape[1]] = every
        self.every = torch.from_numpy(table)
        vectors = [self.steps.vectors]
        # The target's statements: its item's, then its review's (first, count each).
        self.hindsight = torch.zeros((4, len(users)), dtype=torch.long)
        if hindsight:
            written = target_statements(self.dataset, train)
            start = len(self.steps.texts)
            for k, (kind, index) in enumerate(
                ((written.by_item, written.items), (written.by_review, written.reviews))
            ):
                vectors.append(self.encoder.table(kind.texts, progress=True))
                self.hindsight[2 * k] = torch.from_numpy(start + kind.offsets[:-1][index])
                self.hindsight[2 * k + 1] = torch.from_numpy(kind.count()[index])
                start += len(kind.texts)
        self.vectors = torch.from_numpy(np.concatenate(vectors))
        self.about = torch.full((len(self.vectors),), ABOUT_COLUMN["history"])
        self.about[len(self.steps.texts) :] = ABOUT_COLUMN["next"]
        self.available = (self.oracle >= 0) | (self.hindsight[1] + self.hindsight[3] > 0)

    def extend(
        self, drop: float, oracle_rate: float, hindsight: float = 0.0, context: float = 1.0
    ) -> Callable[[Batch], Batch]:
        """The per-batch transform ``fit`` applies: see the module docstring."""

        def apply(batch: Batch) -> Batch:
            rows = batch["rows"].cpu()
            wanted = torch.rand(len(rows)) >= drop
            if rows.ndim == 1:  # one target per example (TIGER)
                target = rows.clamp(min=0)
                keep = wanted & self.available[target]
            else:
                batch, target, keep = self._cut_windows(batch, rows, wanted)
            one = torch.full_like(self.every[target], -1)
            one[:, 0] = self.oracle[target]
            use_oracle = (torch.rand(len(target)) < oracle_rate)[:, None]
            texts = torch.where(use_oracle, one, self.every[target])
            if hindsight > 0:  # the target's own statement, and the history's as context
                texts = texts.masked_fill((torch.rand(len(target)) >= context)[:, None], -1)
                said = self._draw_hindsight(target, hindsight)
                texts = torch.cat([said[:, None], texts], 1)
            texts = texts.masked_fill(~keep[:, None], -1)
            chosen = texts.clamp(min=0)
            vectors = torch.cat([self.vectors[chosen], self.about[chosen][:, :, None]], 2)
            vectors = vectors * (texts >= 0)[:, :, None]
            device = batch["windows" if rows.ndim == 2 else "targets"].device
            return {**batch, "statements": vectors.to(device)}

        return apply

    def _draw_hindsight(self, target: torch.Tensor, rate: float) -> torch.Tensor:
        """With probability ``rate``, one of each target's hindsight statements (its item's
        or its review's, uniformly), as an index into ``self.vectors``; else -1."""
        item_first, item_count, review_first, review_count = self.hindsight[:, target]
        count = item_count + review_count
        pick = (torch.rand(len(target)) * count).long().clamp(max=(count - 1).clamp(min=0))
        index = torch.where(pick < item_count, item_first + pick, review_first + pick - item_count)
        told = (torch.rand(len(target)) < rate) & (count > 0)
        return torch.where(told, index, -1)

    def _cut_windows(
        self, batch: dict[str, torch.Tensor], rows: torch.Tensor, wanted: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Draw a target with statements in each ``wanted`` window and cut the window after it
        (shift it right, padding on the left); other windows stay whole and learn every item.
        -> (batch, the targets' rows [B], which windows got a target)."""
        n_cols = rows.shape[1]
        targets = rows[:, 1:]
        has = (targets >= 0) & (rows[:, :-1] >= 0) & self.available[targets.clamp(min=0)]
        keep = has.any(1) & wanted
        col = torch.multinomial(has.float() + ~keep[:, None], 1)[:, 0] + 1  # [B] in 1..n
        col = torch.where(keep, col, n_cols - 1)
        source = torch.arange(n_cols) - (n_cols - 1 - col)[:, None]
        windows = batch["windows"]
        cut = windows.cpu().gather(1, source.clamp(min=0)).masked_fill(source < 0, PAD)
        target = rows.gather(1, col[:, None])[:, 0]
        return {**batch, "windows": cut.to(windows.device)}, target, keep
