"""Process logging: our lines at INFO, third-party libraries at WARNING, text or JSON lines.

Libraries log through the root logger; when it was set to INFO for our own lines, every
start printed alembic's plugin set-up (7 lines) and migration chatter, and uvicorn's
banner. So the root stays at WARNING and only the `pixelrun` logger goes down to INFO;
uvicorn is run with `log_config=None` so that its loggers use these handlers too.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed in `extra=` and is kept in JSON.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def setup_logging(verbose: bool = True, log_format: str = "text") -> None:
    """Configure the process's logging once (the CLI calls it before anything logs)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("pixelrun").setLevel(logging.INFO if verbose else logging.WARNING)
    # Python's own warnings (DeprecationWarning & co.) go through the same handler.
    logging.captureWarnings(True)
