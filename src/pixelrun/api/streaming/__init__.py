"""Run event streams (docs/api.md, "Streaming"): store rows → SSE events, one shared hub
per API app."""

from pixelrun.api.streaming.events import StreamEvent, StreamEvents
from pixelrun.api.streaming.hub import StreamHub

__all__ = ["StreamEvent", "StreamEvents", "StreamHub"]
