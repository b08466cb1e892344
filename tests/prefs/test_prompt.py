"""Mender's prompt from a step's window, and reading statements back out of replies."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec.prefs.prompt import PromptConfig, Reply, build_prompts, parse_reply
from genrec.prefs.steps import Steps, leave_one_out_steps

from .conftest import HISTORIES, ITEMS


def test_prompt_shows_the_window_with_ratings_and_reviews(rated_dataset):
    steps = leave_one_out_steps(rated_dataset)
    prompts = build_prompts(rated_dataset, steps, PromptConfig(window=3, example=True))
    alice = rated_dataset.users["user_id"].to_list().index("alice")
    first = int(np.flatnonzero((prompts.users == alice) & (prompts.steps == 5))[0])
    system, example, answer, user = prompts.messages[first]
    assert [m["role"] for m in (system, example, answer, user)] == [
        "system", "user", "assistant", "user"
    ]  # fmt: skip
    assert "Chef Knife" in example["content"] and parse_reply(answer["content"])
    text = user["content"]
    # Items 2, 3, 4 of alice (the step is 5): oldest first, with rating and review.
    lines = [ITEMS[i][0] for i, _, _ in HISTORIES["alice"][2:5]]
    positions = [text.index(title) for title in lines]
    assert positions == sorted(positions)
    assert "Rating: 1/5" in text and "glitter is everywhere" in text
    assert ITEMS["z2"][0] not in text  # the target
    assert ITEMS["m1"][0] not in text  # outside the window
    assert "ratings and reviews" in text and "JSON" in text


def test_the_worked_example_is_optional_and_follows_the_answer_format(rated_dataset):
    steps = leave_one_out_steps(rated_dataset)
    prompts = build_prompts(rated_dataset, steps, PromptConfig())
    assert [m["role"] for m in prompts.messages[0]] == ["system", "user"]
    lines = build_prompts(rated_dataset, steps, PromptConfig(answer="lines", example=True))
    assert "- Avoids wooden boards" in lines.messages[0][2]["content"]
    assert "one statement per line" in lines.messages[0][-1]["content"]


def test_steps_without_history_are_counted(rated_dataset):
    steps = Steps(np.array([0, 0]), np.array([0, 3]))
    prompts = build_prompts(rated_dataset, steps, PromptConfig())
    assert len(prompts) == 1 and prompts.skipped == {"no_history": 1}


def _plain(*things: str) -> list[tuple[str, str]]:
    """Statements "Likes pens", "Wants ink", "Avoids glitter", ... as lines read them: the
    polarity from the first word."""
    verbs = {"pens": "Likes", "ink": "Wants", "glitter": "Avoids", "paper": "Likes"}
    polarity = {"Likes": "positive", "Wants": "positive", "Avoids": "negative"}
    return [(f"{verbs[t]} {t}", polarity[verbs[t]]) for t in things]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('["Likes pens", "Avoids glitter"]', _plain("pens", "glitter")),
        (
            '```json\n[{"statement": "Likes pens", "polarity": "positive"},\n'
            ' {"preference": "Glitter", "sentiment": "Negative"}]\n```',
            [("Likes pens", "positive"), ("Glitter", "negative")],
        ),
        ('Sure! {"likes": ["matte paper"], "avoid": ["loud clicks"]}',
         [("matte paper", "positive"), ("loud clicks", "negative")]),
        ('{"preferences": ["Great refills"]}', [("Great refills", None)]),
        ('{"1": "Likes pens", "2": "Wants ink"}', _plain("pens", "ink")),
        ('[{"statement": "Likes pens"}, {"statement": "Wants ink", "pol', _plain("pens", "ink")),
        ('["Likes pens", "Wants in', _plain("pens")),
        ("Here you go:\n1. Likes pens\n2) Wants ink\n- Avoids: glitter\n* Likes paper",
         _plain("pens", "ink", "glitter", "paper")),
        ('"Likes pens",\n"Wants ink"', _plain("pens", "ink")),
        ("1. Likes pens\n1. likes   pens\n2. Wants ink", _plain("pens", "ink")),
        ('[{"statement": "...", "polarity": "positive"}]', []),
        ('{"user": {"desktop": "Stapler"}}', []),
        ("Sure. The user likes pens and hates glitter. They are nice! Avoids ink",
         [("The user likes pens and hates glitter.", None), ("Avoids ink", "negative")]),
        ("The user is a fan of paper. They buy a lot.", []),
        ("- Great value\n- Should avoid: loud clicks",
         [("Great value", None), ("Should avoid loud clicks", "negative")]),
        ("", []),
        ("[[[{{{", []),
    ],
)  # fmt: skip
def test_parse_reply(reply, expected):
    assert parse_reply(reply) == expected


def test_a_cut_off_reply_loses_its_last_line_or_sentence():
    reply = "1. Likes pens\n2. Wants ink\n3. Avoids gl"
    assert [t for t, _ in parse_reply(reply, cut_off=True)] == ["Likes pens", "Wants ink"]
    assert len(parse_reply(reply)) == 3
    prose = "The user likes pens. They want ink. They also like gl"
    assert len(parse_reply(prose, cut_off=True)) == 2 and len(parse_reply(prose)) == 3


def test_replies_become_statements_and_skips_are_counted(rated_dataset):
    steps = leave_one_out_steps(rated_dataset)
    prompts = build_prompts(rated_dataset, steps, PromptConfig(max_statements=2, example=True))
    title = ITEMS["m2"][0]
    replies = [
        Reply('[{"statement": "Likes light creams", "polarity": "positive"}, "No glitter"]'),
        Reply("I cannot help with that."),
        Reply(
            f"1. Title: {title}\n2. Wants sunscreen\n3. Likes keeping blades in good condition\n"
            "4. Write up to 2 short statements (under 15 words each) about this user, please"
        ),
        Reply('["Likes a", "Likes b", "Likes c"]'),
        None,  # counted by the caller
    ] + [Reply("- Likes hydrating cream")] * (len(prompts) - 5)
    statements = prompts.statements(rated_dataset, "llm", replies, {"request_rejected": 1})
    table = statements.table
    assert statements.skipped == {
        "echoed_prompt": 3,  # an item line, the worked example's, the instruction restated
        "extra_statements": 1,
        "request_rejected": 1,
        "unparseable_reply": 1,
    }
    user, step = int(prompts.users[0]), int(prompts.steps[0])
    first = table.filter(table["user"] == user, table["step"] == step)
    assert first["text"].to_list() == ["Likes light creams", "No glitter"]
    assert first["polarity"].to_list() == ["positive", "negative"]  # model's label, then lexicon
    assert first["kind"].to_list() == ["labelled", "unlabelled"]
    assert set(table["generator"]) == {"llm"}


@st.composite
def replies(draw):
    """Replies as models write them: JSON (whole or cut), lines, prose, noise, mixed."""
    # No quotes or backslashes inside: JSON then writes each text as it is (ensure_ascii off).
    chars = st.characters(codec="utf-8", exclude_characters='"\\', exclude_categories=["Cc"])
    texts = draw(st.lists(st.text(chars, min_size=1, max_size=30), max_size=6))
    kind = draw(st.sampled_from(["json", "objects", "cut", "lines", "noise"]))
    if kind == "json":
        return json.dumps(texts, ensure_ascii=False)
    if kind == "objects":
        labels = st.sampled_from(["positive", "negative", "avoid", "meh", ""])
        return json.dumps(
            [{"statement": t, "polarity": draw(labels)} for t in texts], ensure_ascii=False
        )
    if kind == "cut":
        full = json.dumps(texts, ensure_ascii=False)
        return full[: draw(st.integers(0, len(full)))]
    if kind == "lines":
        marks = st.sampled_from(["- ", "* ", "1. ", "2) ", "", '"'])
        return "\n".join(draw(marks) + t for t in texts)
    noise = st.characters(codec="utf-8", exclude_characters="\\")  # no JSON escapes
    return draw(st.text(alphabet=noise, max_size=200))


@settings(max_examples=300, deadline=None)
@given(replies(), st.booleans())
def test_parsing_never_fails_and_never_invents(reply, cut_off):
    found = parse_reply(reply, cut_off=cut_off)
    assert len({t.lower() for t, _ in found}) == len(found)
    for text, label in found:
        assert label in (None, "positive", "negative")
        assert text == text.strip() and any(c.isalpha() for c in text)
        assert all(w in reply for w in text.split()), (text, reply)  # nothing invented


def test_negatives_that_only_negate_a_positive_are_dropped(rated_dataset):
    steps = leave_one_out_steps(rated_dataset)
    prompts = build_prompts(rated_dataset, steps, PromptConfig())
    reply = Reply(
        "- Likes acoustic guitar strings\n"
        "- Avoids acoustic guitar strings\n"  # the positive negated: nothing new
        "- Does not like acoustic guitars string\n"  # the same, unlabelled, other forms
        "- Avoids electric guitar strings\n"  # a real contrast (2 of 3 words shared)
        "- Avoids strong fragrance"
    )
    statements = prompts.statements(rated_dataset, "llm", [reply] * len(prompts))
    assert statements.skipped == {"negated_positive": 2 * len(prompts)}
    texts = statements.table.filter(statements.table["step"] == int(prompts.steps[0]))["text"]
    assert texts.to_list()[:3] == [
        "Likes acoustic guitar strings",
        "Avoids electric guitar strings",
        "Avoids strong fragrance",
    ]
