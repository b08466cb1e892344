"""README.md and docs/*.md cannot go stale: every `genrec ...` command they show names a real
subcommand, real options and real recipe keys; every `python benchmarks/X.py` a real script and
real flags; every file they name or link exists; the README stays short."""

from __future__ import annotations

import dataclasses
import re
import shlex
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from genrec.cli.bench import SETTINGS as BENCH_PREFS_SETTINGS
from genrec.cli.main import app
from genrec.prefs.generate import PrefsConfig
from genrec.prefs.threshold import ThresholdConfig
from genrec.recipes.build_ids import IdsConfig
from genrec.recipes.recipe import Recipe

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL = {"", "bash", "sh", "shell", "console", "text"}
#: The dataclass (or the set of keys) a command's key=value arguments are checked against.
OVERRIDES: dict[tuple[str, ...], type | tuple[str, ...]] = {
    ("train",): Recipe,
    ("ids", "build"): IdsConfig,
    ("prefs", "generate"): PrefsConfig,
    ("prefs", "threshold"): ThresholdConfig,
    ("bench", "prefs"): BENCH_PREFS_SETTINGS,
}
#: Options whose values are recipe keys of a section: `genrec evaluate RUN --decode k=v`.
OPTION_SECTIONS = {("evaluate", "--decode"): "decode"}


def code_spans(text: str) -> Iterator[str]:
    """Shell lines of fenced blocks (continuations joined, comments cut), then inline code."""
    fence = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
    for lang, body in fence.findall(text):
        if lang in SHELL:
            for line in body.replace("\\\n", " ").splitlines():
                yield re.sub(r"(^|\s)#.*", "", line)
    for span in re.findall(r"`([^`]+)`", fence.sub("", text)):
        yield span.replace("\n", " ")


def segments(line: str) -> Iterator[list[str]]:
    """Each simple command of ``line`` (split at ;, &&, ||, |) as its words."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:  # an unbalanced quote in prose
        words = line.split()
    current: list[str] = []
    for word in [*words, ";"]:
        if word and set(word) <= set(";&|"):
            if current:
                yield current
            current = []
        else:
            current.append(word)


def genrec_args(words: list[str]) -> list[str] | None:
    """The arguments of a `genrec` command line (also `python -m genrec.cli.main`, `accelerate
    launch ... -m genrec.cli.main`, `torchrun ...`), else None."""
    for i, word in enumerate(words[:-1]):
        if word == "-m" and words[i + 1] == "genrec.cli.main":
            return words[i + 2 :]
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # GENREC_THREADS=1 genrec ...
        words = words[1:]
    return words[1:] if words and words[0] == "genrec" else None


def commands() -> list[tuple[str, str, list[str]]]:
    """(page, line, arguments) of every genrec command line on every page."""
    found = []
    for page in PAGES:
        for line in code_spans(page.read_text()):
            for words in segments(line):
                args = genrec_args(words)
                if args is not None:
                    found.append((page.name, line.strip(), args))
    return found


def key_problem(cls: type, key: str) -> str | None:
    """Why ``key`` (dotted) is not a field path of dataclass ``cls``, or None."""
    for i, part in enumerate(key.split(".")):
        hints = typing.get_type_hints(cls)
        if part not in hints:
            return f"{key}: {cls.__name__} has no field {part!r} (fields: {', '.join(hints)})"
        tp = hints[part]
        last = i == len(key.split(".")) - 1
        if dataclasses.is_dataclass(tp):
            cls = tp
        elif not last:
            mapping = typing.get_origin(tp) in (dict, typing.Union) or tp is typing.Any
            return None if mapping else f"{key}: {part} is a value, not a section"
    return None


def check(args: list[str]) -> list[str]:
    """Problems of one genrec command line: unknown (sub)commands, options or recipe keys."""
    command = typer.main.get_command(app)  # typer's own click: groups have .commands
    path: list[str] = []
    problems = []
    words = [w.strip("[]") for w in args]
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word in ("", "...") or word.startswith("<"):
            continue
        if word.startswith("-") and not re.fullmatch(r"-[\d.]+", word):
            name = word.split("=", 1)[0]
            option = next((p for p in command.params if name in (*p.opts, *p.secondary_opts)), None)
            if option is None:
                problems.append(f"genrec {' '.join(path)}: no option {name}")
                continue
            if not (getattr(option, "is_flag", False) or "=" in word) and i < len(words):
                value = words[i]
                i += 1
                section = OPTION_SECTIONS.get((*path, name))
                if section and "=" in value:
                    problem = key_problem(Recipe, f"{section}.{value.split('=')[0]}")
                    problems += [problem] if problem else []
            continue
        if hasattr(command, "commands"):
            if word not in command.commands:
                known = ", ".join(sorted(command.commands))
                problems.append(f"genrec {' '.join(path)}: no command {word!r} ({known})")
                return problems
            command = command.commands[word]
            path.append(word)
            continue
        keys = OVERRIDES.get(tuple(path))
        if keys is not None and re.fullmatch(r"[\w.]+=.*", word):
            key = word.split("=", 1)[0]
            if isinstance(keys, tuple):
                problem = None if key in keys else f"{key}: not one of {keys}"
            else:
                problem = key_problem(keys, key)
            problems += [problem] if problem else []
    return problems


COMMANDS = commands()


def test_the_pages_show_genrec_commands():
    assert len(COMMANDS) > 50
    assert {page for page, _, _ in COMMANDS} >= {"README.md", "data.md", "serving.md"}


@pytest.mark.parametrize(("page", "line", "args"), COMMANDS, ids=lambda x: str(x)[:60])
def test_a_command_names_real_commands_options_and_keys(page, line, args):
    assert not check(args), f"{page}: `{line}`"


def test_the_checker_catches_stale_commands():
    assert check(["train", "configs/sasrec-beauty.yaml", "train.lr=3e-4"]) == []
    assert check(["--threads", "2", "ids", "build", "office", "rqvae.epochs=5"]) == []
    assert check(["evaluate", "RUN", "--decode", "cold.items=text"]) == []
    assert check(["trian", "x.yaml"])
    assert check(["train", "x.yaml", "--no-such-option"])
    assert check(["train", "x.yaml", "train.no_such_key=1"])
    assert check(["ids", "build", "office", "rqvae.epochs.x=1"])
    assert check(["bench", "prefs", "RUN", "protocl=oracle"])
    assert check(["evaluate", "RUN", "--decode", "cold.item=text"])


def scripts() -> list[tuple[str, str, list[str]]]:
    """(page, line, words) of every `python benchmarks/....py` command line."""
    found = []
    for page in PAGES:
        for line in code_spans(page.read_text()):
            for words in segments(line):
                while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                    words = words[1:]
                python = len(words) > 1 and words[0] in ("python", "python3")
                if python and words[1].startswith("benchmarks/"):
                    found.append((page.name, line.strip(), words[1:]))
    return found


@pytest.mark.parametrize(("page", "line", "words"), scripts(), ids=lambda x: str(x)[:60])
def test_a_benchmark_command_names_a_real_script_and_flags(page, line, words):
    script = REPO / words[0]
    assert script.is_file(), f"{page}: `{line}`: no {words[0]}"
    source = script.read_text()
    for flag in (w.split("=")[0] for w in words[1:] if w.startswith("--")):
        assert f'"{flag}"' in source, f"{page}: `{line}`: {words[0]} has no {flag}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_named_files_and_links_exist(page):
    text = page.read_text()
    named = re.findall(r"(?<![\w/.])((?:configs|benchmarks|docs|tests|src)/[\w./-]+\.\w+)", text)
    links = [
        link.split("#")[0]
        for link in re.findall(r"\]\(([^)\s]+)\)", text)
        if not link.startswith(("http://", "https://", "#", "mailto:"))
    ]
    missing = [p for p in named if not (REPO / p.rstrip(".")).exists()]
    missing += [p for p in links if not (page.parent / p).exists()]
    assert not missing, f"{page.name} names files that do not exist: {missing}"


def test_the_readme_is_short_and_points_at_the_docs():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 210
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme, f"README does not link docs/{page.name}"
    assert "benchmarks/results/README.md" in readme


def test_the_readme_results_match_their_experiments():
    """Every number of a README results row appears in the experiment the row links."""
    readme = (REPO / "README.md").read_text()
    rows = re.findall(r"^\|(.*)\]\((benchmarks/results/[\w.-]+\.md)\) \|$", readme, re.MULTILINE)
    assert len(rows) >= 10
    for cells, link in rows:
        report = (REPO / link).read_text()
        for number in re.findall(r"\b\d\.\d{4}\b", cells):
            assert number in report, (
                f"README: {number} ({cells.split('|')[2].strip()}) not in {link}"
            )


#: A citation a user of the package cannot follow: the maintainers' reference notes or issue
#: tracker numbers. Cite the paper (authors, arXiv id), a docs/ page or a benchmarks/results/ file.
UNFOLLOWABLE = re.compile(r"REFERENCE\.md|\b[Ii]ssue \d+|§")


def test_shipped_files_cite_what_a_user_can_follow():
    files = [
        *(REPO / "src" / "genrec").rglob("*.py"),
        *(REPO / "configs").glob("*.yaml"),
        *(REPO / "benchmarks").glob("*.py"),
        *PAGES,
    ]
    found = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if UNFOLLOWABLE.search(line)
    ]
    assert not found, "\n".join(found)
