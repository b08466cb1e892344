"""Hindsight chains written by a chat model: read robustly, unusable replies counted and
replaced by the template, cached; through the llm and openai generators' clients."""

from __future__ import annotations

import json

import pytest

from genrec.prefs.chains import (
    ChainFacts,
    ChainsConfig,
    ChainWriter,
    chain_chat,
    chain_writer,
    read_chain,
)
from genrec.prefs.llm import LLMConfig, LLMGenerator
from genrec.prefs.openai import OpenAIConfig
from genrec.prefs.prompt import Reply

FACTS = ChainFacts(
    history=["Blue gel pens, 12 pack", "Spiral notebook A5"],
    statements=["Likes smooth pens."],
    target="Red fineliner pens set of 6",
    category="Office > Writing > Pens",
    template="Evidence: bought pens. Preference: items like these. Intent: Office > Writing.",
)
GOOD = "Evidence: gel pens and a notebook. Preference: smooth writing. Intent: more pens."


@pytest.mark.parametrize(
    ("text", "chain"),
    [
        (GOOD, GOOD),
        (  # a chatty preamble, markdown and labels in any case
            "Sure! Here is the reasoning:\n**Evidence:** gel pens and a notebook\n"
            "- **preference**: smooth writing\n- INTENT: more pens",
            GOOD,
        ),
        (  # only an intent is required; the order is always evidence, preference, intent
            "Intent: more pens. Evidence: gel pens and a notebook.",
            "Evidence: gel pens and a notebook. Intent: more pens.",
        ),
    ],
)
def test_replies_are_read_into_the_three_parts(text, chain):
    assert read_chain(Reply(text), FACTS, max_words=40) == (chain, "ok")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (None, "no_reply"),
        (Reply("   "), "no_reply"),
        (Reply(GOOD, cut_off=True), "cut_off"),
        (Reply("I think they like pens."), "no_intent"),
        (Reply(GOOD + " " + "word " * 50), "too_long"),
        (Reply("Evidence: pens. Intent: the red fineliner pens set."), "names_target"),
        (Reply("Evidence: pens. Intent: <a_3><b_1>"), "id_tokens"),
        (Reply("Evidence: pens. Intent: x <answer>"), "id_tokens"),
    ],
)
def test_unusable_replies_say_why(reply, reason):
    assert read_chain(reply, FACTS, max_words=40) == (None, reason)


def test_the_prompt_knows_the_target_in_hindsight_and_asks_not_to_name_it():
    system, user = chain_chat(FACTS)
    assert "as if you did not know it" in system["content"] and "Never name" in system["content"]
    text = user["content"]
    assert "Blue gel pens, 12 pack; Spiral notebook A5" in text
    assert "The shopper said: Likes smooth pens." in text
    assert "Bought next (do not name it): Red fineliner pens set of 6" in text
    assert "Office > Writing > Pens" in text


def test_writer_replaces_unusable_replies_by_the_template_and_caches(tmp_path):
    asked: list[int] = []
    replies = [Reply(GOOD), Reply("no idea"), None]

    def complete(chats):
        asked.append(len(chats))
        return replies[: len(chats)]

    other = FACTS._replace(target="Stapler")
    third = FACTS._replace(target="Tape")
    writer = ChainWriter(complete, max_words=40, cache=tmp_path / "chains.jsonl")
    assert writer([FACTS, other, third, FACTS]) == [GOOD, FACTS.template, FACTS.template, GOOD]
    assert asked == [3]  # one request per distinct prompt
    assert writer.counts == {"ok": 2, "no_intent": 1, "no_reply": 1}
    again = ChainWriter(complete, max_words=40, cache=tmp_path / "chains.jsonl")
    assert again([third, FACTS]) == [FACTS.template, GOOD] and asked == [3]  # from the cache
    rows = [json.loads(line) for line in (tmp_path / "chains.jsonl").read_text().splitlines()]
    assert sorted(r["reason"] for r in rows) == ["no_intent", "no_reply", "ok"]


def test_the_llm_generators_client_writes_chains_in_batches():
    batches: list[int] = []

    def model(chats):
        batches.append(len(chats))
        return [Reply(GOOD) for _ in chats]

    generator = LLMGenerator(LLMConfig(batch_size=2), complete=model)
    facts = [FACTS._replace(target=f"Item {i}") for i in range(5)]
    assert ChainWriter(generator.complete)(facts) == [GOOD] * 5 and batches == [2, 2, 1]
    assert chain_writer(ChainsConfig()) is None  # the templates
    assert ChainsConfig().openai.max_tokens == ChainsConfig().llm.max_new_tokens == 96


def test_an_openai_endpoint_writes_chains_and_bad_answers_fall_back(serve):
    answers = [(200, GOOD), (200, "Sorry, I can't."), (400, b'{"error": "too long"}')]
    server = serve(lambda n, body: answers[n % 3])
    config = ChainsConfig(
        writer="openai",
        openai=OpenAIConfig(url=server.url, model="tiny", backoff=0.01, timeout=5.0),
    )
    writer = chain_writer(config)
    facts = [FACTS._replace(target=f"Item {i}") for i in range(6)]
    written = writer(facts)
    assert server.requests == 6 and server.bodies[0]["model"] == "tiny"
    assert chain_chat(facts[0]) in [body["messages"] for body in server.bodies]  # any order
    assert written.count(GOOD) == 2 and written.count(FACTS.template) == 4
    assert writer.counts == {"ok": 2, "no_intent": 2, "no_reply": 2}
