"""`pixelrun serve` starts without third-party INFO lines, in text and in JSON format."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .server import Server

# "2026-01-01 10:00:00,000 INFO name: message" (our text format) or "INFO:     ..." (uvicorn's).
TEXT_INFO = re.compile(r"^(?:\S+ \S+ INFO (?P<name>[\w.]+):|INFO:)")


def start_and_stop(tmp_path: Path, log_format: str) -> list[str]:
    # A fresh SQLite store: the migrations run at start-up, as on a first deployment.
    server = Server(
        tmp_path, f"sqlite:///{tmp_path / 'pixelrun.db'}", workers=0, PIXELRUN_LOG_FORMAT=log_format
    )
    server.start()
    try:
        server.wait_key()
        server.wait_ready(need_worker=False)
    finally:
        server.stop()
    return [line for line in server.log_text().splitlines() if line.strip()]


def test_text_start_up_has_no_library_info_lines(tmp_path: Path) -> None:
    lines = start_and_stop(tmp_path, "text")
    info = [TEXT_INFO.match(line) for line in lines]
    names = [match.group("name") or "uvicorn" for match in info if match]
    assert names, lines  # our own start-up line is there
    assert all(name.startswith("pixelrun") for name in names), lines


def test_json_start_up_lines_all_parse(tmp_path: Path) -> None:
    lines = start_and_stop(tmp_path, "json")
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(entry["message"].startswith("serving on") for entry in entries)
    assert all(
        entry["logger"].startswith("pixelrun") for entry in entries if entry["level"] in ("INFO", "DEBUG")
    ), entries
