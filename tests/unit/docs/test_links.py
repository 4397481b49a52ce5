"""Every relative link in README.md and docs/**/*.md points to a file that exists, and every ``#anchor`` into a
markdown file (the same page included) matches a heading in it, as GitHub renders the page.

GitHub's anchors: the heading's text as rendered (links, code spans and emphasis reduced to their text), lowercased,
every character dropped that is not a letter, a digit, ``-``, ``_`` or a space, then each space turned into ``-``;
a slug already used on the page gets ``-1``, ``-2`` … Links inside code (fenced blocks, code spans) are not links, and
links with a scheme (``https:``, ``mailto:``) are not checked here.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[3]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# [text](target) and ![alt](target), with an optional title; <target> for targets with spaces.
INLINE = re.compile(r"!?\[(?P<text>[^\]]*)\]\(\s*(?P<target><[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[(?P<text>[^\]]+)\]:\s*(?P<target><[^>]*>|\S+)", re.MULTILINE)
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"(?P<target>[^\"]+)\"", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"<[a-z]+\b[^>]*?\b(?:id|name)=\"(?P<anchor>[^\"]+)\"", re.IGNORECASE)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class Link:
    page: Path
    line: int
    text: str
    target: str
    root: Path = REPO  # the repository: what a link starting with / is relative to, and how pages are named

    def where(self) -> str:
        return f"{self.page.relative_to(self.root).as_posix()}:{self.line}: [{self.text}]({self.target})"


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The page's lines outside fenced code blocks and HTML comments, numbered from 1 (code spans still in them)."""
    text = COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    kept, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        opened = FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence) \
                    and not line.strip().lstrip(fence[0]):
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        kept.append((number, line))
    return kept


def rendered_text(markdown: str) -> str:
    """A heading's text as GitHub shows it: code spans as their content, links and images as their text, no
    emphasis markers, no HTML tags."""
    spans: list[str] = []

    def keep(match: re.Match) -> str:
        spans.append(match.group(2).strip() or match.group(2))
        return f"\x00{len(spans) - 1}\x00"

    text = CODE_SPAN.sub(keep, markdown)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"(\*{1,3})(?=\S)(.+?)(?<=\S)\1", r"\2", text)
    text = re.sub(r"(?<![\w\\])(_{1,3})(?=\S)(.+?)(?<=\S)\1(?!\w)", r"\2", text)
    text = re.sub(r"\\(.)", r"\1", text)
    return re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))], text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's markdown text (before any ``-1`` for a repeated heading)."""
    kept = []
    for char in rendered_text(heading).strip().lower():
        if char in " -_" or unicodedata.category(char)[0] in "LNM":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


@functools.cache
def anchors(page: Path) -> frozenset[str]:
    """Every anchor a link may name on ``page``: its headings' slugs, repeated ones numbered, and HTML ids."""
    lines = prose_lines(page.read_text(encoding="utf-8"))
    headings, previous = [], None
    for number, line in lines:
        atx = ATX.match(line)
        if atx:
            headings.append(atx.group(2) or "")
        elif SETEXT.match(line) and previous is not None and previous[0] == number - 1 and previous[1].strip() \
                and not ATX.match(previous[1]) and "|" not in previous[1] \
                and not re.match(r"^ {0,3}([-*+]|\d+[.)])\s", previous[1]):
            headings.append(previous[1].strip())
        previous = (number, line)
    found, seen = set(), {}
    for heading in headings:
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    for _, line in lines:
        found.update(m.group("anchor") for m in HTML_ANCHOR.finditer(line))
    return frozenset(found)


def links(page: Path, root: Path = REPO) -> list[Link]:
    """Every link on ``page`` outside code: inline, reference definitions and HTML ``href``/``src``."""
    found = []
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        prose = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
        for pattern in (INLINE, REFERENCE, HTML_LINK):
            for match in pattern.finditer(prose):
                target = match.group("target").strip()
                if target.startswith("<") and target.endswith(">"):
                    target = target[1:-1]
                text = line[match.start("text"):match.end("text")] if "text" in match.groupdict() else ""
                found.append(Link(page, number, text, target, root))
    return found


def problem(link: Link) -> str | None:
    """Why ``link`` is broken, or None when it is fine (or not a relative link)."""
    target = link.target
    if not target or SCHEME.match(target) or target.startswith("//"):
        return None
    path_part, _, anchor = target.partition("#")
    path_part = unquote(path_part)
    root = link.root.resolve()
    if path_part:
        base = root if path_part.startswith("/") else link.page.parent.resolve()
        resolved = (base / path_part.lstrip("/")).resolve()
        if not resolved.exists():
            return f"{link.where()}: no such file {named(resolved, root)}"
    else:
        resolved = link.page.resolve()
    if anchor and resolved.is_file() and resolved.suffix == ".md":
        anchor = unquote(anchor)
        known = anchors(resolved)
        if anchor not in known:
            where = named(resolved, root)
            close = sorted(a for a in known if a[:4] == anchor[:4])
            hint = f"anchors like it: {', '.join(close)}" if close else f"its anchors: {', '.join(sorted(known))}"
            return f"{link.where()}: no heading #{anchor} in {where} ({hint})"
    return None


def named(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = [p for p in map(problem, links(page)) if p]
    assert not broken, f"{len(broken)} broken link(s) in {page.relative_to(REPO)}:\n" + "\n".join(broken)


def test_the_pages_are_found() -> None:
    names = {p.relative_to(REPO).as_posix() for p in PAGES}
    assert {"README.md", "docs/README.md", "docs/architecture.md"} <= names


@pytest.mark.parametrize("heading, expected", [
    ("Quick start", "quick-start"),
    ("Watcher benchmark: `afkit watch --once` at 10,000 and 100,000 assets",
     "watcher-benchmark-afkit-watch---once-at-10000-and-100000-assets"),
    ("The backfill priority policy needs `airflow_local_settings`",
     "the-backfill-priority-policy-needs-airflow_local_settings"),
    ("`[pools.NAME]`", "poolsname"),
    ("2. **Production first** in the scheduler", "2-production-first-in-the-scheduler"),
    ("A [linked](other.md#x) heading", "a-linked-heading"),
    ("Cadence changes — the upstream", "cadence-changes--the-upstream"),
    ("Planning ≤ 1.5× the anchor", "planning--15-the-anchor"),
    ("The demo's supervisor messages", "the-demos-supervisor-messages"),
    ("_emphasis_ and snake_case", "emphasis-and-snake_case"),
])
def test_slugs_follow_github(heading: str, expected: str) -> None:
    assert slug(heading) == expected


def test_a_broken_file_and_a_broken_anchor_are_named(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "# Page A\n\n## Same\n\n## Same\n\n"
        "[ok](b.md#section-one) [ok2](#same-1) [ok3](#page-a) [web](https://example.org/x#y) [root](/docs/b.md)\n"
        "[gone](missing.md) [bad anchor](b.md#section-two) `[in code](nowhere.md)`\n"
        "```\n[in a fence](nowhere.md)\n```\n[self](#nothing-here)\n")
    (tmp_path / "docs" / "b.md").write_text("Section one\n===========\n\ntext\n")
    broken = [p for p in (problem(link) for link in links(tmp_path / "docs" / "a.md", tmp_path)) if p]
    assert len(broken) == 3, broken
    assert "docs/a.md:8: [gone](missing.md): no such file docs/missing.md" in broken[0]
    assert "no heading #section-two in docs/b.md" in broken[1]
    assert "[self](#nothing-here): no heading #nothing-here in docs/a.md" in broken[2]
