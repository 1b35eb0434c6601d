"""Qwen-Image-Edit-2511, and its Lightning variant.

This package's top level is torch-free (the API reads its registry entries and
validates input with its schema); the pipeline adapter lives in `.engine`, built by
`.factory`, and is imported only by workers and the CLI.
"""

from .models import LIGHTNING_MODEL_ID, MODEL_ID, MODELS
from .schema import (
    PRESETS,
    Acceleration,
    CustomImageSize,
    EditInput,
    EditOutput,
    EditParameters,
    LightningEditInput,
    LoraWeights,
    OutputFormat,
    OutputImage,
)
from .sizes import output_size

__all__ = [
    "LIGHTNING_MODEL_ID",
    "MODELS",
    "MODEL_ID",
    "PRESETS",
    "Acceleration",
    "CustomImageSize",
    "EditInput",
    "EditOutput",
    "EditParameters",
    "LightningEditInput",
    "LoraWeights",
    "OutputFormat",
    "OutputImage",
    "output_size",
]
