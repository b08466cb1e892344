"""How an LLM backbone reads and writes items: ID tokens, item strings and chat turns.

Each (level, code) of the semantic IDs is one added token named ``<a_17>`` (level letter,
code), so an item is written as a few tokens, ``<a_17><b_3><c_250>``, that can sit inside any
text. Prompts are rendered with the tokenizer's own chat template, so a chat-tuned model reads
them in the form it was tuned on; a tokenizer without one gets a plain ``User:`` /
``Assistant:`` layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from genrec.data.windows import PAD
from genrec.sid.semantic_ids import SemanticIds

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

LEVEL_LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: The direct task's request: the history of IDs -> the next ID (the training task's first
#: phrasing, which decoding uses).
DIRECT_REQUEST = "Items bought: {history}. Next item?"
#: Reasoning mode's request: a short free chain, then the answer marker, then the ID.
REASONING_REQUEST = (
    "Items bought: {history}. Reason briefly about what the shopper wants, then give the next "
    "item after <answer>."
)
#: What the shopper said, put before a request that carries preference statements.
TOLD = "The shopper says: {statements}"
#: Ends the chain of reasoning mode: after it decoding is forced under the trie.
ANSWER = "<answer>"
_PLAIN_TURNS = ("User: {user}\nAssistant:", " {answer}\n")


def id_token_names(sizes: Sequence[int]) -> list[str]:
    """One token name per (level, code) in the flat ID-vocabulary order of ``SemanticIds``
    (level ``l`` code ``c`` at ``sum(K_<l) + c``): ``<a_0> .. <a_{K0-1}> <b_0> ..``."""
    if len(sizes) > len(LEVEL_LETTERS):
        raise ValueError(f"at most {len(LEVEL_LETTERS)} ID levels have token names")
    letters = LEVEL_LETTERS
    return [f"<{letters[level]}_{code}>" for level, k in enumerate(sizes) for code in range(k)]


def item_strings(ids: SemanticIds) -> np.ndarray:
    """Each item's ID as text, ``<a_17><b_3><c_250>``: ``[n_items]`` of str."""
    names = np.asarray(id_token_names(ids.codebook_sizes), dtype=object)
    tokens = names[np.asarray(ids.tokens())]  # [n_items, L']
    return np.asarray(["".join(row) for row in tokens], dtype=object)


def with_statements(request: str, statements: Sequence[str]) -> str:
    """``request`` after the shopper's ``statements`` (``TOLD``); unchanged without any, so a
    request without preferences is the plain task's."""
    texts = [t.strip() for t in statements if t.strip()]
    said = " ".join(t if t.endswith((".", "!", "?")) else t + "." for t in texts)
    return f"{TOLD.format(statements=said)} {request}" if said else request


def history_text(strings: np.ndarray, history: np.ndarray, separator: str = ", ") -> str:
    """``history`` (item indices, ``PAD`` skipped) as ``strings`` (one per item) joined."""
    return separator.join(strings[history[history != PAD]])


class ChatFormat:
    """Prompts and answers in the tokenizer's chat template (one user turn, one answer).

    ``system``: the system message (short: every token of it is prefilled for every user; an
    empty one still keeps templates such as SmolLM2's from inserting their long default).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, system: str) -> None:
        self.tokenizer = tokenizer
        self.system = system
        self.chat = bool(getattr(tokenizer, "chat_template", None))

    def prompt(self, user: str) -> str:
        """The text up to where the model starts answering ``user``."""
        if not self.chat:
            return _PLAIN_TURNS[0].format(user=user)
        rendered = self.tokenizer.apply_chat_template(
            self._messages(user), tokenize=False, add_generation_prompt=True
        )
        return str(rendered)

    def answer(self, user: str, answer: str) -> str:
        """The text the model writes after ``prompt(user)`` to answer ``answer``, end of turn
        included (so it learns to stop)."""
        if not self.chat:
            return _PLAIN_TURNS[1].format(answer=answer)
        messages = [*self._messages(user), {"role": "assistant", "content": answer}]
        full = str(self.tokenizer.apply_chat_template(messages, tokenize=False))
        prompt = self.prompt(user)
        if not full.startswith(prompt):
            raise ValueError(
                "the tokenizer's chat template renders an answered conversation that does not "
                "start with its own generation prompt; give a model whose template does"
            )
        return full[len(prompt) :]

    def _messages(self, user: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]
