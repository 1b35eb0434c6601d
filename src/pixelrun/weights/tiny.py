"""A tiny weights directory (`pixelrun tiny-weights DIR`) and its check (torch-free).

The directory carries everything a worker needs besides the checkpoint, so that
`--weights DIR` serves offline (docs/weights.md#tiny-weights):

    DIR/                              the tiny checkpoint (diffusers layout)
    DIR/pixelrun_tiny.json            marks it tiny; names the two parts below
    DIR/lightning-lora.safetensors    the tiny Lightning LoRA
    DIR/nsfw_image_detection/         the tiny safety classifier
"""

from __future__ import annotations

import json
from pathlib import Path

from pixelrun.weights.checkpoint import checkpoint_problems, model_folder_problems

#: Marks a directory as tiny weights and carries the engine settings that suit them.
TINY_MARKER = "pixelrun_tiny.json"
LIGHTNING_FILE = "lightning-lora.safetensors"
SAFETY_FOLDER = "nsfw_image_detection"
LIGHTNING_LABEL = "Lightning LoRA"
SAFETY_LABEL = "safety classifier"


def is_tiny(root: Path) -> bool:
    return (Path(root) / TINY_MARKER).is_file()


def _marker(root: Path) -> dict[str, object]:
    try:
        value = json.loads((Path(root) / TINY_MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def tiny_lightning_lora(root: Path) -> Path:
    return Path(root) / str(_marker(root).get("lightning_lora", LIGHTNING_FILE))


def tiny_safety_weights(root: Path) -> Path:
    return Path(root) / str(_marker(root).get("safety_weights", SAFETY_FOLDER))


def regenerate_advice(root: Path) -> str:
    return f"run `pixelrun tiny-weights {root}` to write the tiny weights again, with every part"


def lightning_problems(root: Path) -> list[str]:
    path = tiny_lightning_lora(root)
    return [] if path.is_file() and path.stat().st_size > 0 else [f"{path.name} missing"]


def tiny_problems(root: Path) -> dict[str, list[str]]:
    """Per part, what is missing (empty lists: complete): what `weights check` reports and
    what serving needs."""
    return {
        "checkpoint": checkpoint_problems(root),
        LIGHTNING_LABEL: lightning_problems(root),
        SAFETY_LABEL: model_folder_problems(tiny_safety_weights(root)),
    }
