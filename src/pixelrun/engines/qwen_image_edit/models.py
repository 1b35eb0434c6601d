"""The model ids this package serves, as registry entries (engines/registry.py). Torch-free.

Both ids are served by one engine on one set of base weights: the Lightning one adds the
Lightning LoRA and its scheduler, chosen by the engine from the run's model id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pixelrun.engines.model_spec import ModelSpec
from pixelrun.runs import estimate_micros

from .schema import EditInput, EditOutput, LightningEditInput

if TYPE_CHECKING:
    from pixelrun.config import Settings
    from pixelrun.engines.engine import Engine

MODEL_ID = "alibaba/qwen-image-edit-2511"
LIGHTNING_MODEL_ID = "alibaba/qwen-image-edit-2511-lightning"

# When the output size follows the input image (size null), the model aims at about one
# megapixel; the credit check assumes exactly that before any image is fetched.
DEFAULT_ESTIMATE_SIZE = (1024, 1024)


def estimate_edit_micros(validated: EditInput) -> int:
    width, height = validated.requested_size or DEFAULT_ESTIMATE_SIZE
    return estimate_micros(width, height, validated.num_images)


def load_engine(settings: Settings, models: Sequence[str]) -> Engine:
    """The engine serving `models` (the Lightning LoRA loaded when its id is among them)."""
    from pixelrun.weights.source import check_weights

    # The torch-free check first: a wrong path fails in milliseconds, not after the
    # seconds it takes to import torch and diffusers.
    check_weights(settings.weights)
    from .factory import build_engine

    return build_engine(settings, models)


MODELS = (
    ModelSpec(
        id=MODEL_ID,
        name="Qwen Image Edit 2511",
        description=(
            "Image editing from Alibaba: text editing, multi-image references (up to 4), "
            "style transfer and object edits through natural-language instructions."
        ),
        input_model=EditInput,
        output_model=EditOutput,
        estimate_micros=estimate_edit_micros,
        load_engine=load_engine,
    ),
    ModelSpec(
        id=LIGHTNING_MODEL_ID,
        name="Qwen Image Edit 2511 Lightning",
        description=(
            "Qwen Image Edit 2511 with the Lightning distilled LoRA: the same edits in 4 or 8 "
            "steps without classifier-free guidance (defaults: 8 steps, guidance 1)."
        ),
        input_model=LightningEditInput,
        output_model=EditOutput,
        estimate_micros=estimate_edit_micros,
        load_engine=load_engine,
    ),
)
