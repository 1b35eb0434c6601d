"""Input rules the models' schemas share, torch-free.

The models' input schemas build on these, and the API's hand-written forms (the
OpenAI-compatible one, the OpenAPI patches) describe the same rules with them, so the
API reads them here rather than from one model's package.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

MAX_PROMPT_CHARS = 2000
MAX_SEED = 2**32 - 1

# The rules of the validators, written as JSON Schema patterns so that the published
# schema is exact (no NUL: the store refuses it; a prompt needs a non-space).
NO_NUL_PATTERN = r"^[^\u0000]*$"
PROMPT_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


class Acceleration(StrEnum):
    NONE = "none"
    REGULAR = "regular"
    HIGH = "high"


# How the worker encodes a run's images. (No docstring: it would land in the published schema.)
class OutputFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"

    @property
    def content_type(self) -> str:
        return f"image/{self.value}"


def whole_float_to_int(value: Any) -> Any:
    """`2.0` is the integer 2 in JSON (and JSON Schema); strict mode would refuse it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
