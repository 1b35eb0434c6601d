"""Run event streams (SPEC §7): store rows → SSE events, one shared hub per API process."""

from pixelrun.api.streaming.events import SseEvent, StreamEvents
from pixelrun.api.streaming.hub import StreamHub, hub_for

__all__ = ["SseEvent", "StreamEvents", "StreamHub", "hub_for"]
