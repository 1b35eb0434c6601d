"""Load `QwenImageEditPlusPipeline` from a Hugging Face id or a local directory.

One code path for the real checkpoint and the tiny one: the processor is always
rebuilt here from the checkpoint's tokenizer and image processor (no torchvision).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import QwenImageEditPlusPipeline
from diffusers.utils import logging as diffusers_logging
from transformers import Qwen2Tokenizer
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.utils import logging as transformers_logging

from .processor import ImageOnlyQwen2VLProcessor
from .tiny_weights import TINY_MARKER

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "Qwen/Qwen-Image-Edit-2511"
#: The pipeline's own reference-image areas (condition image for the text encoder, VAE image).
MODEL_REFERENCE_AREAS = (384 * 384, 1024 * 1024)


@dataclass(frozen=True)
class Placement:
    """Where and how the pipeline runs."""

    device: torch.device
    dtype: torch.dtype
    cpu_offload: bool = False


def choose_placement(device: str = "auto", dtype: str = "auto", cpu_offload: bool = False) -> Placement:
    """`auto` picks CUDA with bf16 when there is a GPU, else the CPU with fp32."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} asked for, but torch sees no CUDA device")
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if resolved.type == "cuda" else torch.float32
    else:
        torch_dtype = getattr(torch, dtype)
    if cpu_offload and resolved.type != "cuda":
        raise ValueError("model CPU offload only makes sense with a CUDA device")
    return Placement(resolved, torch_dtype, cpu_offload)


def reference_areas_for(weights: str | Path) -> tuple[int, int]:
    """The areas the tiny checkpoint asks for, else the model's own values."""
    marker = Path(weights) / TINY_MARKER
    if marker.is_file():
        condition, vae = json.loads(marker.read_text())["reference_areas"]
        return int(condition), int(vae)
    return MODEL_REFERENCE_AREAS


def quiet_library_progress_bars() -> None:
    """Loading bars of diffusers/transformers would interleave with our own progress output."""
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


def load_pipeline(weights: str | Path, placement: Placement) -> QwenImageEditPlusPipeline:
    """`weights` is a Hugging Face id (downloaded or cached by huggingface_hub) or a directory."""
    quiet_library_progress_bars()
    source = str(weights)
    log.info("loading %s on %s (%s)", source, placement.device, placement.dtype)
    processor = ImageOnlyQwen2VLProcessor(
        image_processor=Qwen2VLImageProcessorPil.from_pretrained(source, subfolder="processor"),
        tokenizer=Qwen2Tokenizer.from_pretrained(source, subfolder="tokenizer"),
    )
    pipeline = QwenImageEditPlusPipeline.from_pretrained(source, processor=processor, dtype=placement.dtype)
    if placement.cpu_offload:
        pipeline.enable_model_cpu_offload(device=placement.device)
    else:
        pipeline.to(placement.device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline
