"""Generate the synchronous client, `src/pixelrun/client/_sync.py`, from the asynchronous
one, `_async.py`, by regex substitutions over the whole file (as httpcore's
`scripts/unasync.py` does), so that the two clients cannot drift apart.

    python scripts/unasync.py           # rewrite _sync.py (`make generate`)
    python scripts/unasync.py --check   # exit 1 with a diff when _sync.py is stale

Edit `_async.py` only, and write it so that the rules below turn it into plain sync code:
`await` a call inside parentheses only when nothing inside it has parentheses of its own
(`(await client._request("GET", path)).json()`), else name the awaited value first. If
`ruff format` then wants to change `_sync.py` (a wrapped line that fits once `await` is
gone), reshape that line in `_async.py` rather than formatting `_sync.py`.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[1] / "src" / "pixelrun" / "client"
SOURCE = CLIENT / "_async.py"
TARGET = CLIENT / "_sync.py"

HEADER = "# Generated from _async.py by scripts/unasync.py: edit _async.py, then run `make generate`.\n"

# Applied in order, each to the whole file; every rule must match at least once, so a rule
# that the async source no longer needs is noticed and dropped.
RULES: list[tuple[str, str]] = [
    (r'(?s)\A"""The asynchronous client: .*?"""', '"""The synchronous client: `Pixelrun`."""'),
    (r"^import asyncio\n", ""),
    (
        r"^from collections\.abc import AsyncIterator, Callable$",
        "from collections.abc import Callable, Iterator",
    ),
    # (await f(x)).attr -> f(x).attr; not the parentheses of a call, as in g(await f(x)).
    (r"(?<![\w)\]])\(await ([\w.]+\([^()]*\))\)", r"\1"),
    (r"\bawait ", ""),
    (r"\basync (def|with|for)\b", r"\1"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\baclosing\b", "closing"),
    (r"\baclose\b", "close"),
    (r"\baread\b", "read"),
    (r"\baiter_lines\b", "iter_lines"),
    (r"\bAsync([A-Z]\w*)", r"\1"),  # AsyncPixelrun, AsyncRuns, httpx.AsyncClient, AsyncIterator
]


def generate(source: str) -> str:
    """The sync client's text for the async client's text."""
    text = source
    for pattern, replacement in RULES:
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        if count == 0:
            raise ValueError(f"unasync rule {pattern!r} matched nothing in {SOURCE.name}: update or drop it")
    return HEADER + text


def stale(source: Path = SOURCE, target: Path = TARGET) -> str:
    """A unified diff from `target` to what `source` generates; empty when up to date."""
    expected = generate(source.read_text())
    actual = target.read_text() if target.exists() else ""
    diff = difflib.unified_diff(
        actual.splitlines(keepends=True),
        expected.splitlines(keepends=True),
        fromfile=f"{target.name} (on disk)",
        tofile=f"{target.name} (generated from {source.name})",
    )
    return "".join(diff)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail with a diff if _sync.py is stale")
    args = parser.parse_args(argv)
    if args.check:
        diff = stale()
        if diff:
            sys.stdout.write(diff)
            print(f"{TARGET} is stale: run `make generate` (python scripts/unasync.py)", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(generate(SOURCE.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
