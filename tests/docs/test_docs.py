"""The docs keep up with the code: every setting documented, no dead or outside links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pixelrun.config import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_setting_is_in_the_settings_reference() -> None:
    reference = (ROOT / "docs" / "settings.md").read_text()
    missing = [
        f"PIXELRUN_{name.upper()}"
        for name in Settings.model_fields
        if f"`PIXELRUN_{name.upper()}`" not in reference
    ]
    assert missing == []


def test_readme_links_only_inside_the_repository() -> None:
    targets = LINK.findall((ROOT / "README.md").read_text())
    assert targets, "the README links to its docs"
    assert [t for t in targets if re.match(r"[a-z][a-z0-9+.-]*:", t)] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve()
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in _slugs(file)):
            broken.append(target)
    assert broken == []


CODE_REFERENCE = re.compile(r"docs/([\w-]+\.md)(?:#([\w-]+))?")


def _slugs(page: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_code_cites_docs_pages_and_sections_that_exist() -> None:
    """Comments cite `docs/<page>.md#<section>` (never a document outside the repository):
    each one names a page and a heading that exist."""
    broken = []
    sources = [p for folder in ("src", "tests", "bench", "scripts") for p in (ROOT / folder).rglob("*")]
    for source in sources:
        if source.suffix not in (".py", ".js", ".html") or "__pycache__" in source.parts:
            continue
        for page, anchor in CODE_REFERENCE.findall(source.read_text()):
            target = ROOT / "docs" / page
            if not target.is_file() or (anchor and anchor not in _slugs(target)):
                broken.append(f"{source.relative_to(ROOT)}: docs/{page}{'#' + anchor if anchor else ''}")
    assert broken == []
    # The contract document behind the API is not in the repository: cite docs/ instead.
    prose = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    outside = [
        str(s.relative_to(ROOT))
        for s in [*sources, *prose]
        if s.suffix in (".py", ".js", ".html", ".md", ".toml") and "SPEC" + " §" in s.read_text()
    ]
    assert outside == []
