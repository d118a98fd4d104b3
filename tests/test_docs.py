"""The documentation holds together: every relative link of the Markdown files lands on a file, every `#anchor` on
a heading (as GitHub names them), every page of `docs/` is reached from the README, and the README stays short.

Read in process from the files alone: no subprocess, no network.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
README_MAX_LINES = 260
_SKIPPED_DIRS = {"node_modules", "__pycache__"}  # and every folder whose name starts with a dot (.venv, .tools, ...)

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_HTML_ANCHOR = re.compile(r"<a\s+(?:[^>]*\s)?(?:id|name)=[\"']([^\"']+)[\"']", re.IGNORECASE)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1)(?:[^\n]|\n(?!\n)))+?\1")  # within a paragraph
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def markdown_files() -> list[Path]:
    """Every Markdown file of the repository, tooling folders left out."""
    found: list[Path] = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith(".") and name not in _SKIPPED_DIRS)
        found += [Path(folder) / name for name in sorted(files) if name.endswith(".md")]
    return found


def prose_lines(text: str) -> list[str]:
    """The lines of `text`, those of fenced and indented code blocks made blank (so line numbers stay)."""
    lines: list[str] = []
    fence: str | None = None
    in_code = False  # within an indented code block
    previous_blank = True
    for line in text.splitlines():
        marker = _FENCE.match(line)
        if fence is not None:
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence) \
                    and not line.strip().strip(fence[0]):
                fence = None
            lines.append("")
            continue
        if marker:
            fence = marker.group(1)
            lines.append("")
            continue
        blank = not line.strip()
        # An indented code block cannot interrupt a paragraph: it starts after a blank line.
        if not blank and line.startswith("    ") and (previous_blank or in_code):
            in_code = True
            lines.append("")
        else:
            in_code = in_code and blank
            lines.append(line)
        previous_blank = blank
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lowercased, without punctuation, spaces made hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts by its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    kept = "".join(ch for ch in text.lower()
                   if ch in " -_" or unicodedata.category(ch)[0] in "LNM")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file: its headings' slugs (repeats numbered as GitHub does) and HTML ids."""
    seen: Counter[str] = Counter()
    found: set[str] = set()
    for line in prose_lines(path.read_text(encoding="utf-8")):
        heading = _HEADING.match(line)
        if heading:
            slug = github_slug(heading.group(2))
            found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
            seen[slug] += 1
        found.update(_HTML_ANCHOR.findall(line))
    return found


def relative_links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link and image of `path` that is not an absolute URL."""
    text = "\n".join(prose_lines(path.read_text(encoding="utf-8")))
    text = _CODE_SPAN.sub(lambda span: "\n" * span.group(0).count("\n"), text)  # a link's text may span lines
    found: list[tuple[int, str]] = []
    for link in _LINK.finditer(text):
        target = link.group(1)
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue  # https:, mailto:, //host
        found.append((text.count("\n", 0, link.start(1)) + 1, target))
    return found


def resolve(source: Path, target: str) -> tuple[Path, str]:
    """The file a relative link of `source` points at, and its anchor ('' without one)."""
    parts = urlsplit(target)
    file = source if not parts.path else (source.parent / unquote(parts.path)).resolve()
    return file, unquote(parts.fragment)


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of `path` whose file is missing (or outside `root`), or whose anchor is no heading."""
    problems: list[str] = []
    for number, target in relative_links(path):
        file, anchor = resolve(path, target)
        where = f"{path.relative_to(root)}:{number}: {target}"
        if not file.is_relative_to(root):
            problems.append(f"{where}: outside the repository")
        elif not file.exists():
            problems.append(f"{where}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            problems.append(f"{where}: no heading '{anchor}' in {file.relative_to(root)}")
    return problems


# -- the rules, on small documents --

def test_slugs_follow_githubs_rules() -> None:
    assert github_slug("Before a conversation: where would this customer land?") == \
        "before-a-conversation-where-would-this-customer-land"
    assert github_slug("1. The app registration and the application user") == \
        "1-the-app-registration-and-the-application-user"
    assert github_slug("The dashboard's key in the URL") == "the-dashboards-key-in-the-url"
    assert github_slug("`GET /api/snapshots` and `notify_subscribers`") == "get-apisnapshots-and-notify_subscribers"
    assert github_slug("Per-client limits: put **API Management** in front") == \
        "per-client-limits-put-api-management-in-front"
    assert github_slug("Timing, and its limits") == "timing-and-its-limits"
    assert github_slug("Légende ↔ [the link](x.md)") == "légende--the-link"


def test_code_is_not_read_for_links_or_headings(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\nSee [there](#title) and [gone](missing.md).\n\n    # not a heading\n"
                    "    [not](a-link.md)\n\n```\n## nor this\n[nor](this.md)\n```\n\n`[nor](inline.md)`\n\n"
                    "## Title\n\n  - list item\n    [continued](#title-1), `a code span\n[across](lines.md)`, [a link\n"
                    "across lines](#title)\n", encoding="utf-8")
    assert anchors(page) == {"title", "title-1"}
    assert relative_links(page) == [(3, "#title"), (3, "missing.md"), (18, "#title-1"), (20, "#title")]


def test_a_broken_link_or_anchor_is_reported(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "page.md"
    page.write_text("[a](../other.md#other-page) [b](../other.md#nowhere) [c](missing.md) [d](#page)\n\n"
                    "![e](../../outside.png) [f](https://example.com/missing.md)\n", encoding="utf-8")
    assert broken_links(page, root=tmp_path) == [
        "docs/page.md:1: ../other.md#nowhere: no heading 'nowhere' in other.md",
        "docs/page.md:1: missing.md: no such file",
        "docs/page.md:1: #page: no heading 'page' in docs/page.md",
        "docs/page.md:3: ../../outside.png: outside the repository",
    ]


# -- the repository's documentation --

@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(path: Path) -> None:
    assert broken_links(path) == []


def test_every_docs_file_is_reached_from_the_readme() -> None:
    reached, queue = {README}, [README]
    while queue:
        page = queue.pop()
        for _, target in relative_links(page):
            file, _ = resolve(page, target)
            if file.exists() and file not in reached:
                reached.add(file)
                if file.suffix == ".md":
                    queue.append(file)
    in_docs = {path.resolve() for path in DOCS.rglob("*") if path.is_file()}
    assert in_docs, "docs/ holds the documentation pages"
    assert sorted(str(path.relative_to(ROOT)) for path in in_docs - reached) == []


def test_the_readme_stays_short() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to a page of docs/"


def test_the_readme_keeps_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "python3 dev.py start" in text and "python3 dev.py test" in text


def test_the_settings_table_is_the_one_the_declarations_give():
    from devtools.settings_table import PAGE, rewritten

    page = PAGE.read_text(encoding="utf-8")
    assert page == rewritten(page), "docs/settings.md is out of date: run python -m devtools.settings_table"
