"""Every relative link and image in the README and the docs points to a file that exists (and, for `#anchor`
links into a Markdown file, to one of its headings), so moving a page or a preview cannot leave a dead link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "benchmarks" / "README.md"]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors for a document's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6}\s+(.*?)\s*$", re.sub(r"```.*?```", "", markdown, flags=re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def dead_links(document: Path) -> list[str]:
    text = document.read_text()
    dead = []
    for target in _LINK.findall(re.sub(r"```.*?```", "", text, flags=re.S)):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists():
            dead.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in heading_anchors(file.read_text()):
            dead.append(f"{target}: no such heading")
    return dead


def test_anchors_follow_githubs_rule_and_dead_links_are_found(tmp_path: Path) -> None:
    assert heading_anchors("## Generate models: MoCoGAN, TGAN and VGAN\n") == {"generate-models-mocogan-tgan-and-vgan"}
    page = tmp_path / "page.md"
    page.write_text("# Top\n[ok](#top) [gone](missing.png) [bad](#nowhere) [web](https://example.org/x)\n")
    assert dead_links(page) == ["missing.png: no such file", "#nowhere: no such heading"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(document: Path) -> None:
    dead = dead_links(document)
    assert not dead, "\n".join(dead)
