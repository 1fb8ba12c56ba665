"""Every relative link and anchor in README.md and docs/*.md resolves: the file exists, and `#anchor`
names a heading (GitHub's slugs) or an explicit `<a id>` in it. Links to other hosts are not fetched."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[ \t]*$", re.M | re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]+)\"", re.I)
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
EXPLICIT = re.compile(r"<a\b[^>]*\b(?:id|name)=\"([^\"]+)\"", re.I)


def prose(text: str) -> str:
    """The text without fenced code blocks or inline code, where a `[x](y)` is not a link."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text (links and code as shown), lower case, punctuation
    dropped except `-` and `_`, each space a `-`."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    seen: Counter[str] = Counter()
    found = set(EXPLICIT.findall(text))
    for heading in HEADING.findall(text):
        slug = github_slug(heading)
        found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return found


def links(path: Path) -> list[str]:
    text = prose(path.read_text())
    return LINK.findall(text) + HTML_LINK.findall(text)


def test_slugs_follow_github() -> None:
    assert github_slug("Instant upload (skip bytes the server already has)") == (
        "instant-upload-skip-bytes-the-server-already-has"
    )
    assert github_slug("`tusserver upload` (command line)") == "tusserver-upload-command-line"
    assert github_slug("Coming from @tus/server") == "coming-from-tusserver"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(doc: Path) -> None:
    broken = []
    for target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:: another host
            continue
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / unquote(file_part)).resolve() if file_part else doc
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and unquote(anchor) not in anchors(linked):
            broken.append(f"{target}: no heading or anchor #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def test_readme_contents_lists_every_section() -> None:
    """The table of contents names every `## ` section in order (sections merged in later included)."""
    text = FENCE.sub("", (ROOT / "README.md").read_text())
    _, _, after = text.partition("## Contents\n")
    toc, _, rest = after.partition("\n## ")
    listed = re.findall(r"^- \[[^\]]+\]\(#([^)]+)\)$", toc, re.M)
    sections = [github_slug(title) for title in re.findall(r"^## (.+)$", "## " + rest, re.M)]
    assert listed == sections
