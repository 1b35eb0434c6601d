"""Qwen-Image-Edit-2511.

This package's top level is torch-free (the API imports it to validate input);
the pipeline adapter lives in `.engine` and is imported only by workers and the CLI.
"""

from .schema import (
    PRESETS,
    Acceleration,
    CustomImageSize,
    EditInput,
    EditOutput,
    EditParameters,
    OutputFormat,
    OutputImage,
)
from .sizes import output_size

MODEL_ID = "alibaba/qwen-image-edit-2511"

__all__ = [
    "MODEL_ID",
    "PRESETS",
    "Acceleration",
    "CustomImageSize",
    "EditInput",
    "EditOutput",
    "EditParameters",
    "OutputFormat",
    "OutputImage",
    "output_size",
]
