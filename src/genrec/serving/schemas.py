"""The HTTP API's request and response bodies (OpenAPI at /docs is generated from these).

Static bounds live here (any body beyond them is refused before it is read further); the
instance's own limits (``Settings.max_k``, ``max_history``, the catalog size) are checked by the
engine and answered with the same 422 shape."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from genrec.prefs.statements import MAX_CHARS

#: Hard caps whatever the settings say: bodies past them are refused while parsing.
MAX_IDS = 10_000
MAX_ID_CHARS = 200
MAX_STATEMENTS = 10
MAX_K = 10_000  # item search results (the instance's max_search caps them further)

# pydantic refuses strings holding a lone surrogate (a "\ud800" escape): 422, never echoed
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
Statement = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CHARS)
]
Mode = Literal["direct", "reasoning"]


class RecommendRequest(BaseModel):
    """A history of the dataset's item ids (oldest first) and what to do with it."""

    model_config = ConfigDict(extra="forbid")

    history: list[ItemId] = Field(min_length=1, max_length=MAX_IDS)
    # at most min(max_k, catalog size): the instance's limits, checked by the engine (GET /v1/info)
    k: int = Field(10, ge=1)
    preferences: list[Statement] = Field(default_factory=list, max_length=MAX_STATEMENTS)
    avoid: list[Statement] = Field(default_factory=list, max_length=MAX_STATEMENTS)
    # None: the run's eval.exclude_history (what it was evaluated with)
    exclude_history: bool | None = None
    # reasoning: the model writes a chain of reasoning before its items (a run trained with
    # decode.mode=reasoning); None: the served run's own mode. A mode the run does not have is a
    # 422 that says which modes this service has (GET /v1/info).
    mode: Mode | None = None


class Item(BaseModel):
    """An item as users know it."""

    item_id: str
    title: str | None


class ItemDetail(Item):
    """An item and the text it is searched and matched by."""

    text: str


class Found(Item):
    """A search hit: cosine between the query and the item's text."""

    score: float


class Scored(Item):
    """One row of a top-k list; scores are comparable within one list only."""

    rank: int
    score: float


class Avoided(BaseModel):
    """What one avoid statement excluded."""

    text: str
    subject: str  # the statement without its negation: what was matched
    n_items: int
    examples: list[Item]


class RecommendResponse(BaseModel):
    items: list[Scored]
    history: list[Item]  # what the model read: the most recent ids of the request
    avoided: list[Avoided]
    ignored: list[str]  # what the request asked for that this model cannot use, and why
    mode: Mode
    reasoning: str | None = None  # the chain the model wrote before the list, in mode reasoning
    # in mode reasoning: true when the chain used up its token budget (the run's
    # decode.chain_tokens) before the answer, so it was cut off
    reasoning_truncated: bool | None = None


class Info(BaseModel):
    """What this instance serves, for clients and the web page."""

    runs: list[str]
    model: str
    dataset: str
    n_items: int
    beams: int | None  # a generator's beam-search width (None: a scoring model)
    device: str
    max_history: int  # items the model reads
    max_k: int
    max_request_history: int
    reads_preferences: bool
    enforces_avoid: bool
    modes: list[Mode]
