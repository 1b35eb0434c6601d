"""One real `pixelrun serve` (tiny weights) and one Chromium per module; a fresh page per test
that fails the test on any console error or page error."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from e2e.server import Server

playwright_sync = pytest.importorskip("playwright.sync_api")
# CI runs every test at once on two cores: waits are generous, failures still fail.
playwright_sync.expect.set_options(timeout=30_000)

CHROMIUM = os.environ.get("PIXELRUN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
MODEL = "alibaba/qwen-image-edit-2511"


def png_file(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (96, 72)) -> Path:
    image = Image.new("RGB", size, color)
    # A darker square, so before and after differ visibly in the screenshot.
    image.paste(
        (color[0] // 3, color[1] // 3, color[2] // 3),
        (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2),
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("playground")
    server = Server(data_dir, f"sqlite:///{data_dir / 'pixelrun.db'}").start()
    try:
        server.wait_key()
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs it)")
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class ConsoleLog:
    """Console errors and page errors of one page; `expect` takes out one that the test caused."""

    problems: list[str] = field(default_factory=list)

    def on_console(self, message: object) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text} at {message.location}")

    def expect(self, text: str) -> None:
        matching = [p for p in self.problems if text in p]
        assert matching, f"expected a console message with {text!r}, got {self.problems}"
        self.problems.remove(matching[0])


@dataclass
class Playground:
    page: object
    server: Server
    console: ConsoleLog
    files: Path

    def open(self, key: str | None = None) -> None:
        self.page.goto(self.server.base_url + "/")
        self.page.get_by_role("textbox", name="API key").fill(key or self.server.key)
        self.page.get_by_role("textbox", name="API key").press("Tab")
        # The schema-generated fields appear once the model's schema is loaded.
        self.page.locator("#field-num_inference_steps").wait_for(state="attached")

    def add_pictures(self, *colors: tuple[int, int, int]) -> None:
        paths = [
            png_file(self.files / f"picture-{i}-{'-'.join(map(str, c))}.png", c) for i, c in enumerate(colors)
        ]
        self.page.get_by_label("Images", exact=True).set_input_files([str(p) for p in paths])

    def set_field(self, name: str, value: str) -> None:
        self.page.locator(f"#field-{name}").fill(value)


def new_playground(browser: object, server: Server, files: Path, **context: object) -> Iterator[Playground]:
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    console = ConsoleLog()
    page.on("console", console.on_console)
    page.on("pageerror", lambda error: console.problems.append(f"page error: {error}"))
    try:
        yield Playground(page, server, console, files)
        assert console.problems == [], console.problems
    finally:
        ctx.close()


@pytest.fixture
def playground(browser: object, server: Server, tmp_path: Path) -> Iterator[Playground]:
    yield from new_playground(browser, server, tmp_path, viewport={"width": 1280, "height": 900})
