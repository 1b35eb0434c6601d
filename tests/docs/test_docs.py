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
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", file.read_text(), re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
            if anchor not in slugs:
                broken.append(target)
    assert broken == []
