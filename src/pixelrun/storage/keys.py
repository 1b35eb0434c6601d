"""Rules for storage keys, shared by every back end so that a key valid here is valid on S3.

An allowlist rather than a denylist: keys are chosen by Pixelrun (storage/layout.py), so
refusing everything unusual costs nothing and closes traversal, URL-encoding and
case-folding tricks at once. Where each kind of file lives is layout.py's business;
this module only says which keys any back end accepts.
"""

from __future__ import annotations

import re

from pixelrun.storage.base import InvalidKeyError

MAX_KEY_LENGTH = 512
# A segment may not start with "." so "." / ".." and hidden or temporary files never match.
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


def validate_key(key: object) -> str:
    """Return ``key`` unchanged if it is a safe relative POSIX path, else raise InvalidKeyError."""
    if not isinstance(key, str) or not key:
        raise InvalidKeyError("storage key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKeyError("storage key is too long")
    for segment in key.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise InvalidKeyError(f"invalid storage key: {key!r}")
    return key


def validate_prefix(prefix: object) -> str:
    """A prefix is a key followed by "/": it names a folder, so "runs/a/" never matches "runs/ab/"."""
    if not isinstance(prefix, str) or not prefix.endswith("/"):
        raise InvalidKeyError(f"storage prefix must end with '/': {prefix!r}")
    validate_key(prefix[:-1])
    return prefix
