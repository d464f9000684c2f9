"""The docs stay true: the per-experiment pages are what ``reproduce.py --docs``
derives from the code and the committed figures, and every relative link resolves."""

import re
from pathlib import Path

import reproduce

ROOT = Path(__file__).parents[1]


def test_experiment_pages_are_current():
    pages = reproduce.docs_pages(ROOT / "figures")
    assert set(pages) == {p.name for p in (ROOT / "docs" / "experiments").glob("*.md")}
    for name, text in pages.items():
        have = (ROOT / "docs" / "experiments" / name).read_text()
        assert have == text, f"docs/experiments/{name} is stale: reproduce.py --docs"


def test_every_relative_link_resolves():
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    for path in files:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" in target:
                continue
            assert (path.parent / target).exists(), f"{path.name}: {target}"
