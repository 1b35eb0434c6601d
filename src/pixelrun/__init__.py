"""Pixelrun: a self-hosted run API for image-editing diffusion models."""

__version__ = "0.1.0"
