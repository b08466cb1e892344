"""The llm generator: a stub chat model (fixed replies) and a tiny random Llama, end to end."""

from __future__ import annotations

from dataclasses import replace

import pytest
from polars.testing import assert_frame_equal

from genrec.config import load_config
from genrec.errors import DataError
from genrec.prefs.generate import PrefsConfig, make_generator
from genrec.prefs.llm import LLMConfig, LLMGenerator
from genrec.prefs.prompt import Reply
from genrec.prefs.steps import all_steps, leave_one_out_steps
from genrec.prefs.store import read_manifest, write_statements

pytestmark = pytest.mark.usefixtures("one_thread")

REPLIES = [
    '[{"statement": "Likes hydrating creams", "polarity": "positive"}, "Avoids glitter"]',
    "Sorry, I can only talk about the weather.",
    "1. Wants mineral sunscreen\n2. Dislikes greasy hair products",
]


class Stub:
    """Answers the i-th chat it is asked with REPLIES[i % 3]; records batch sizes."""

    def __init__(self) -> None:
        self.asked, self.batches = 0, []

    def __call__(self, chats):
        self.batches.append(len(chats))
        out = [Reply(REPLIES[(self.asked + i) % len(REPLIES)]) for i in range(len(chats))]
        self.asked += len(chats)
        return out


def test_stub_end_to_end_counts_what_it_cannot_read(rated_dataset):
    stub = Stub()
    generator = LLMGenerator(LLMConfig(batch_size=2), complete=stub)
    steps = leave_one_out_steps(rated_dataset)
    statements = generator.generate(rated_dataset, steps)
    assert stub.asked == len(steps) and max(stub.batches) == 2
    assert statements.skipped == {"unparseable_reply": stub.asked // 3}
    table = statements.table
    assert set(table["text"]) == {
        "Likes hydrating creams",
        "Avoids glitter",
        "Wants mineral sunscreen",
        "Dislikes greasy hair products",
    }
    polarity = dict(zip(table["text"], table["polarity"], strict=True))
    assert polarity["Avoids glitter"] == polarity["Dislikes greasy hair products"] == "negative"
    again = LLMGenerator(LLMConfig(batch_size=2), complete=Stub()).generate(rated_dataset, steps)
    assert_frame_equal(again.table, table)


def test_tiny_llama_end_to_end_through_the_store(tiny_causal_lm, rated_dataset, tmp_path):
    config = LLMConfig(model=str(tiny_causal_lm), device="cpu", batch_size=3, max_new_tokens=12)
    steps = all_steps(rated_dataset)

    def write(generator, out, **kwargs):
        return write_statements(out, rated_dataset, generator, steps, steps_name="all",
                                chunk_users=2, progress=False, **kwargs)  # fmt: skip

    first = write(LLMGenerator(config), tmp_path / "a")
    # A random model writes noise: what it says is read or counted, never made up.
    assert len(first) + sum(first.skipped.values()) >= len(steps)
    identity = read_manifest(tmp_path / "a")["generator"]
    assert identity["model"] == str(tiny_causal_lm) and identity["max_new_tokens"] == 12
    assert len(identity["weights"]) == 16 and "batch_size" not in identity
    second = write(LLMGenerator(replace(config, batch_size=5)), tmp_path / "b")
    assert_frame_equal(second.table, first.table)  # greedy: batching changes nothing
    sampled = replace(config, temperature=1.0, seed=7)
    with pytest.raises(DataError, match="temperature"):
        write(LLMGenerator(sampled), tmp_path / "a")  # the store refuses a mismatched resume
    one = write(LLMGenerator(sampled), tmp_path / "c")
    two = write(LLMGenerator(sampled), tmp_path / "d")
    assert_frame_equal(one.table, two.table)  # sampled with a seed: reproducible


def test_cli_config_selects_the_llm_generator(tiny_causal_lm):
    config = load_config(
        PrefsConfig, {}, ["generator=llm", f"llm.model={tiny_causal_lm}", "llm.prompt.window=3"]
    )
    generator = make_generator(config)
    assert isinstance(generator, LLMGenerator)
    assert generator.identity()["prompt"]["window"] == 3
