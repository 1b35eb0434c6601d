"""The HTTP API: app factory, routes, auth, error envelope, wire models."""

from pixelrun.api.app import create_app

__all__ = ["create_app"]
