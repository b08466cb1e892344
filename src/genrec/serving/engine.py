"""The loaded model as the service uses it: requests checked against the run, many requests
decoded in one ``Recommender.recommend`` call, and item search over the catalog's text.

Everything here is synchronous and runs on the service's one model thread (torch and the
sentence encoder are not shared between threads); ``prepare`` is cheap and runs on the event
loop, so a bad request is answered before it takes a place in a batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from genrec.errors import ConfigError, DataError, GenrecError
from genrec.models.recommender import PAD, Reasons, pad_histories
from genrec.prefs.matching import subject
from genrec.prefs.preference import Preference
from genrec.recipes.recommend import RunRecommender
from genrec.recommend.avoid import merge_exclude
from genrec.serving import schemas
from genrec.serving.settings import Settings

#: How many unknown ids a 422 lists (a pasted history may be all wrong).
SHOWN_UNKNOWN = 20


class RequestError(GenrecError):
    """A request the run cannot answer as asked: 422 naming the body ``field``."""

    def __init__(self, field: str, message: str, value: Any = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.value = value


@dataclass(frozen=True)
class Prepared:
    """A checked request: item indices the model reads (oldest first) and its statements."""

    request: schemas.RecommendRequest
    mode: schemas.Mode  # the request's, or the run's own when it named none
    indices: list[int]
    exclude_history: bool
    preferences: list[Preference]
    ignored: list[str]


class Engine:
    """A finished run (or an ensemble of runs) behind the HTTP API."""

    def __init__(self, recommender: RunRecommender, settings: Settings) -> None:
        self.recommender = recommender
        self.settings = settings
        # names, not paths: a client has no business knowing where the runs lie on disk
        self.run_names = [path.resolve().name for path in settings.runs]
        can = recommender.model.capabilities
        self.reads_preferences = can.reads_preferences
        # A model that reasons writes a chain before every answer: its one mode is reasoning
        # (its plain `recommend` reasons too, so offering "direct" would only hide the chain).
        self.modes: list[schemas.Mode] = [can.mode]
        # Requests share a decoding call only when it is the one they would get alone: a
        # generator searches max(beams, k) beams, a scoring model's top-k is a prefix of top-K.
        self._beams = can.beams
        self._item_texts: list[str] | None = None
        weights = [p for net in can.modules for p in net.parameters()]
        self.device = weights[0].device if weights else torch.device("cpu")

    @classmethod
    def load(cls, settings: Settings) -> Engine:
        """Load ``settings.runs``; anything wrong with them is one DataError naming them."""
        if not settings.runs:
            raise DataError("no run to serve: give a run directory (`genrec serve RUN`)")
        target = torch_device(settings.device)
        for path in settings.runs:
            if not path.is_dir():
                raise DataError(f"{path}: no such run directory; train one with `genrec train`")
        try:
            recommender = RunRecommender(settings.runs)
        except GenrecError:
            raise
        except Exception as exc:  # a corrupt checkpoint or table: say which run, in one line
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise DataError(
                f"{', '.join(map(str, settings.runs))}: cannot load the run ({detail}); "
                "check the run directory or train it again with `genrec train`"
            ) from exc
        for net in recommender.model.capabilities.modules:
            net.to(target)
        return cls(recommender, settings)

    @property
    def n_items(self) -> int:
        return self.recommender.model.n_items

    def info(self) -> schemas.Info:
        recipe, runs = self.recommender.recipe, self.run_names
        return schemas.Info(
            runs=self.run_names,
            model=recipe.model if len(runs) == 1 else f"ensemble of {len(runs)} runs",
            dataset=self.recommender.dataset.name,
            n_items=self.n_items,
            beams=self._beams,
            device=str(self.device),
            max_history=self.recommender.split.max_history,
            max_k=min(self.settings.max_k, self.n_items),
            max_request_history=self.settings.max_history,
            reads_preferences=self.reads_preferences,
            enforces_avoid=self.settings.enforce_avoid,
            modes=self.modes,
        )

    def prepare(self, request: schemas.RecommendRequest) -> Prepared:
        """``request`` checked against this run: raises RequestError naming the field."""
        mode = request.mode or self.modes[0]
        if mode not in self.modes:
            writes = "writes a" if mode == "direct" else "writes no"
            raise RequestError(
                "mode",
                f"mode {mode!r} is not supported: {self.info().model} {writes} reasoning "
                f"chain; use mode {self.modes[0]!r} (GET /v1/info lists the modes)",
                mode,
            )
        if len(request.history) > self.settings.max_history:
            raise RequestError(
                "history",
                f"{len(request.history)} item ids: at most {self.settings.max_history} per "
                f"request (the model reads the {self.recommender.split.max_history} most recent)",
            )
        limit = min(self.settings.max_k, self.n_items)
        if request.k > limit:
            raise RequestError(
                "k",
                f"k={request.k}: must be between 1 and {limit} (this service's max_k is "
                f"{self.settings.max_k} and the catalog has {self.n_items} items)",
                request.k,
            )
        found = [self.recommender.find_item(i) for i in request.history]
        pairs = zip(request.history, found, strict=True)
        unknown = list(dict.fromkeys(i for i, f in pairs if f is None))
        if unknown:
            shown = ", ".join(repr(i) for i in unknown[:SHOWN_UNKNOWN])
            hidden = len(unknown) - SHOWN_UNKNOWN
            more = f" and {hidden} more" if hidden > 0 else ""
            raise RequestError(
                "history",
                f"unknown item ids {shown}{more}: not in dataset "
                f"{self.recommender.dataset.name} (GET /v1/items?q=... finds ids by name)",
                unknown,
            )
        for text in request.avoid:
            if self.settings.enforce_avoid and not subject(text):
                raise RequestError(
                    "avoid",
                    f"avoid statement {text!r} names nothing to avoid once its negation is "
                    "removed; say what to avoid (e.g. 'avoid strong fragrance')",
                    text,
                )
        ignored = []
        if request.preferences and not self.reads_preferences:
            ignored.append(
                "preferences: this model was trained without preference statements and does "
                "not read them; the list is what it would be without them"
            )
        if request.avoid and not self.settings.enforce_avoid:
            ignored.append(
                "avoid: this service does not enforce avoid statements and no model reads "
                "them; nothing was excluded"
            )
        exclude = request.exclude_history
        return Prepared(
            request=request,
            mode=mode,
            indices=found[-self.recommender.split.max_history :],  # type: ignore[arg-type]
            exclude_history=self.recommender.recipe.eval.exclude_history
            if exclude is None
            else exclude,
            preferences=[Preference(t, "positive") for t in request.preferences]
            + [Preference(t, "negative") for t in request.avoid],
            ignored=ignored,
        )

    def recommend(self, batch: Sequence[Prepared]) -> list[schemas.RecommendResponse | Exception]:
        """Answers for ``batch``, in order, decoded in as few model calls as give each request
        exactly its own answer; a failing call is retried request by request so one bad request
        fails alone."""
        groups: dict[tuple[str, int], list[int]] = defaultdict(list)
        for row, prepared in enumerate(batch):
            k = prepared.request.k
            beams = 0 if self._beams is None else max(self._beams, k)
            groups[prepared.mode, beams].append(row)
        out: list[schemas.RecommendResponse | Exception] = [None] * len(batch)  # type: ignore[list-item]
        for rows in groups.values():
            members = [batch[row] for row in rows]
            try:
                answers: list[Any] = self._decode(members)
            except Exception as exc:
                alone = len(members) == 1
                answers = [exc] if alone else [self._decode_alone(m) for m in members]
            for row, answer in zip(rows, answers, strict=True):
                out[row] = answer
        return out

    def _decode_alone(self, prepared: Prepared) -> schemas.RecommendResponse | Exception:
        try:
            return self._decode([prepared])[0]
        except Exception as exc:
            return exc

    def _decode(self, batch: Sequence[Prepared]) -> list[schemas.RecommendResponse]:
        """One model call for ``batch`` (one mode; top max k, each answer cut to its own k)."""
        rec = self.recommender
        max_history = rec.split.max_history
        histories = pad_histories([p.indices for p in batch], max_history).to(self.device)
        exclude = None
        if any(p.exclude_history for p in batch):
            rows = [p.indices if p.exclude_history else [] for p in batch]
            exclude = pad_histories(rows).to(self.device)
        preferences = [p.preferences for p in batch]
        negatives = [[s.text for s in p.preferences if s.polarity == "negative"] for p in batch]
        enforce = self.settings.enforce_avoid and any(negatives)
        told = preferences if any(preferences) else None
        k = max(p.request.k for p in batch)
        chains: list[str | None] = [None] * len(batch)
        truncated: list[bool | None] = [None] * len(batch)
        with torch.inference_mode():
            if batch[0].mode == "reasoning":
                if enforce:  # the avoided items join exclude; the chain is the model's own
                    avoided_items = rec.avoiding.excluded(told, len(batch))
                    exclude = merge_exclude(exclude, avoided_items)
                # prepare admits reasoning only for a model that reasons (it offers `reason`)
                reasoned = cast(Reasons, rec.model).reason(histories, k, told, exclude)
                top, scores, chains = reasoned.items, reasoned.scores, list(reasoned.chains)
                truncated = list(reasoned.truncated)
            else:
                model = rec.avoiding if enforce else rec.model
                top, scores = model.recommend(histories, k, preferences=told, exclude=exclude)
        top, scores = top.cpu(), scores.cpu()
        avoided = self._explain([n if enforce else [] for n in negatives])
        titles, ids = rec.titles, rec.item_ids
        answers = []
        for row, prepared in enumerate(batch):
            pairs = zip(top[row].tolist(), scores[row].tolist(), strict=True)
            ranked = [(i, s) for i, s in pairs if i != PAD][: prepared.request.k]
            answers.append(
                schemas.RecommendResponse(
                    items=[
                        schemas.Scored(item_id=ids[i], title=titles[i], rank=rank, score=score)
                        for rank, (i, score) in enumerate(ranked, start=1)
                    ],
                    history=[self._item(i) for i in prepared.indices],
                    avoided=avoided[row],
                    ignored=prepared.ignored,
                    mode=prepared.mode,
                    reasoning=chains[row],
                    reasoning_truncated=truncated[row],
                )
            )
        return answers

    def _explain(self, negatives: list[list[str]]) -> list[list[schemas.Avoided]]:
        """Per request, what each of its enforced avoid statements excluded (one encoding)."""
        flat = [text for texts in negatives for text in texts]
        if not flat:
            return [[] for _ in negatives]
        explained = iter(self.recommender.explain_avoid(flat))
        return [
            [
                schemas.Avoided(
                    text=a.text,
                    subject=a.subject,
                    n_items=a.n_items,
                    examples=[schemas.Item(item_id=e.item_id, title=e.title) for e in a.examples],
                )
                for a in (next(explained) for _ in texts)
            ]
            for texts in negatives
        ]

    def _item(self, index: int) -> schemas.Item:
        return schemas.Item(
            item_id=self.recommender.item_ids[index], title=self.recommender.titles[index]
        )

    def item(self, item_id: str) -> schemas.ItemDetail | None:
        """The item with id ``item_id`` (None when the catalog has no such id)."""
        index = self.recommender.find_item(item_id)
        if index is None:
            return None
        return schemas.ItemDetail(**self._item(index).model_dump(), text=self.item_texts[index])

    @property
    def item_texts(self) -> list[str]:
        """The catalog's item text (the avoid matching's template), rendered once."""
        if self._item_texts is None:
            rec = self.recommender
            self._item_texts = rec.match.template.render(rec.dataset.items)
        return self._item_texts

    def search(self, query: str, limit: int) -> list[schemas.Found]:
        """Items whose text is closest to ``query`` by sentence-encoder cosine, best first; an
        exact item id comes first whatever its text."""
        matcher = self.recommender.avoiding.matcher  # its item vectors: cached on disk
        vector = np.asarray(matcher.encode([query]), dtype=np.float32)[0]
        cosine = matcher.item_vectors @ vector
        limit = min(limit, self.n_items)
        best = np.argpartition(-cosine, limit - 1)[:limit]
        best = best[np.lexsort((best, -cosine[best]))]
        exact = self.recommender.find_item(query)
        if exact is not None:
            best = np.concatenate([[exact], best[best != exact]])[:limit]
        return [
            schemas.Found(**self._item(int(i)).model_dump(), score=float(cosine[i])) for i in best
        ]

    def warm_up(self) -> None:
        """Decode one request (and, with ``preload_text``, search once) so the first real
        requests do not pay for lazy initialisation."""
        request = schemas.RecommendRequest(history=[self.recommender.item_ids[0]], k=1)
        self.recommend([self.prepare(request)])
        if self.settings.preload_text:
            self.search(self.recommender.item_ids[0], 1)


def torch_device(name: str) -> torch.device:
    """``name`` as a torch device this process can use; anything else is a ConfigError."""
    try:
        found = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"device {name!r}: {exc}; use 'cpu' or 'cuda[:N]'") from None
    if found.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: torch sees no CUDA device here; use 'cpu'")
    return found
