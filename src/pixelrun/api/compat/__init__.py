"""Translators for the clients people already have: OpenAI images (docs/compatibility.md#openai-post-v1imagesedits) and Replicate
predictions and files (docs/compatibility.md#replicate-predictions), over the one run path of `pixelrun.api.run_service`."""

from pixelrun.api.compat import openai, replicate, replicate_files

ERROR_SHAPES = (openai.ERROR_SHAPE, replicate.ERROR_SHAPE)

__all__ = ["ERROR_SHAPES", "openai", "replicate", "replicate_files"]
