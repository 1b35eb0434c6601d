from __future__ import annotations

import json
import logging
import sys

import pytest

from pixelrun.log_setup import JsonFormatter, setup_logging


def test_json_formatter_keeps_extras_and_exceptions() -> None:
    logger = logging.getLogger("pixelrun.test")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logger.makeRecord(
            "pixelrun.test",
            logging.ERROR,
            __file__,
            1,
            "run %s: %s",
            ("r1", "failed"),
            None,
            extra={"run_id": "r1"},
        )
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "run r1: failed" and entry["run_id"] == "r1" and entry["level"] == "ERROR"
    assert "RuntimeError: boom" in entry["exception"]


def test_libraries_stay_at_warning(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("pixelrun").level)
    try:
        setup_logging(verbose=True, log_format="json")
        logging.getLogger("alembic.runtime.plugins").info("setup plugin")
        logging.getLogger("pixelrun.x").info("ours")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        assert [entry["message"] for entry in lines] == ["ours"]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("pixelrun").setLevel(saved[2])
        logging.captureWarnings(False)
