"""Everything a worker needs, as one folder (`pixelrun weights download`), and its check.

    DIR/Qwen-Image-Edit-2511/                 the base checkpoint (diffusers layout)
    DIR/Qwen-Image-Edit-2511-Lightning/FILE   the Lightning LoRA (8 steps, bf16)
    DIR/nsfw_image_detection/                 the safety classifier

`--weights DIR` accepts the folder itself: the base checkpoint and the classifier inside
it are used. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pixelrun.weights.checkpoint import checkpoint_problems, model_folder_problems


@dataclass(frozen=True)
class BundlePart:
    label: str
    repo_id: str
    folder: str
    #: One file of the repository; None: the whole snapshot.
    filename: str | None = None


BASE = BundlePart("base model", "Qwen/Qwen-Image-Edit-2511", "Qwen-Image-Edit-2511")
LIGHTNING = BundlePart(
    "Lightning LoRA",
    "lightx2v/Qwen-Image-Edit-2511-Lightning",
    "Qwen-Image-Edit-2511-Lightning",
    "Qwen-Image-Edit-2511-Lightning-8steps-V1.0-bf16.safetensors",
)
SAFETY = BundlePart("safety classifier", "Falconsai/nsfw_image_detection", "nsfw_image_detection")
PARTS = (BASE, LIGHTNING, SAFETY)


def is_bundle(root: Path) -> bool:
    return (root / BASE.folder).is_dir() and not (root / "model_index.json").exists()


def part_problems(root: Path, part: BundlePart) -> list[str]:
    folder = root / part.folder
    if part is BASE:
        return checkpoint_problems(folder) if folder.is_dir() else [f"{part.folder}/ missing"]
    if part is SAFETY:
        return model_folder_problems(folder)
    assert part.filename is not None
    path = folder / part.filename
    if not (path.is_file() and path.stat().st_size > 0):
        return [f"{part.folder}/{part.filename} missing"]
    return []


def bundle_problems(root: Path) -> dict[str, list[str]]:
    """Per part label, what is missing (empty lists: complete)."""
    return {part.label: part_problems(root, part) for part in PARTS}
