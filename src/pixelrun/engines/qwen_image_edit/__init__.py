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
    LightningEditInput,
    LoraWeights,
    OutputFormat,
    OutputImage,
)
from .sizes import output_size

MODEL_ID = "alibaba/qwen-image-edit-2511"
LIGHTNING_MODEL_ID = "alibaba/qwen-image-edit-2511-lightning"
#: Every model id this engine serves, with the input schema of each.
INPUT_MODELS: dict[str, type[EditInput]] = {MODEL_ID: EditInput, LIGHTNING_MODEL_ID: LightningEditInput}

__all__ = [
    "INPUT_MODELS",
    "LIGHTNING_MODEL_ID",
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
