"""The one outbound HTTP client and its address rules (input images and callbacks)."""

from pixelrun.net.client import FetchResult, OutboundClient, PostResult
from pixelrun.net.errors import OutboundError, OutboundFailed, OutboundRefused
from pixelrun.net.policy import (
    ALLOW_HINT,
    NetworkPolicy,
    ParsedTarget,
    Resolver,
    check_address,
    check_url,
    forbidden_reason,
    resolve_and_check,
    system_resolver,
)

__all__ = [
    "ALLOW_HINT",
    "FetchResult",
    "NetworkPolicy",
    "OutboundClient",
    "OutboundError",
    "OutboundFailed",
    "OutboundRefused",
    "ParsedTarget",
    "PostResult",
    "Resolver",
    "check_address",
    "check_url",
    "forbidden_reason",
    "resolve_and_check",
    "system_resolver",
]
