"""/docs in a real browser: Swagger UI renders the API from this server's own files, under
the playground's Content-Security-Policy (a violation is a console error, which fails the
test), and the page asks nothing of any other origin."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import expect

from .conftest import Playground


def test_docs_render_with_nothing_from_outside(playground: Playground) -> None:
    page = playground.page
    origin = urlsplit(playground.server.base_url).netloc
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda request: (
            None
            if urlsplit(request.url).scheme == "data" or urlsplit(request.url).netloc == origin
            else elsewhere.append(request.url)
        ),
    )
    page.goto(playground.server.base_url + "/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.get_by_role("button", name="POST /v1/images/edits").first).to_be_visible()
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    assert elsewhere == []
