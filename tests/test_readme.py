"""The Python snippets of the README and docs/ run as written from a fresh clone, so they cannot
drift (their shell commands are checked by tests/test_docs.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
SNIPPETS = [
    pytest.param(page, snippet, id=f"{page.name}-{i}")
    for page in PAGES
    for i, snippet in enumerate(
        re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    )
]


def test_the_readme_has_python_snippets():
    assert any(page == README for page, _ in (p.values for p in SNIPPETS))


@pytest.mark.parametrize(("page", "snippet"), SNIPPETS)
def test_a_snippet_runs(page, snippet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing next to the clone (../shared/data) is needed
    exec(compile(snippet, str(page), "exec"), {"__name__": "readme"})
