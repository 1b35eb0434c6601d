"""Errors of the outbound client: refused by policy vs failed on the wire."""

from __future__ import annotations


class OutboundError(Exception):
    """Base class; ``reason`` is safe to show to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutboundRefused(OutboundError):
    """The URL or an address it resolves to breaks the address rules; nothing was sent."""


class OutboundFailed(OutboundError):
    """The request was allowed but did not give a usable answer (timeout, size, type, status)."""
