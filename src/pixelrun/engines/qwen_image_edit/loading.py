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

from pixelrun.engines.weights_unavailable import WeightsUnavailable

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
    """`auto` picks CUDA with bf16 when there is a GPU, else the CPU with fp32.

    A device that does not exist here raises `WeightsUnavailable("wrong_device")`.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise WeightsUnavailable(
            "wrong_device", f"device {device!r}: not a device name; use auto, cpu, cuda or cuda:N"
        ) from None
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise WeightsUnavailable(
                "wrong_device",
                f"device {device!r}: torch sees no CUDA device here (torch {torch.__version__}); "
                "check the driver and CUDA_VISIBLE_DEVICES, or use --device cpu",
            )
        if resolved.index is not None and resolved.index >= count:
            raise WeightsUnavailable(
                "wrong_device",
                f"device {device!r}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})",
            )
    elif resolved.type != "cpu":
        raise WeightsUnavailable(
            "wrong_device", f"device {device!r}: only auto, cpu, cuda and cuda:N are supported"
        )
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


def _gpu_memory_message(source: str, placement: Placement) -> str:
    free, total = torch.cuda.mem_get_info(placement.device)
    gib = 1024**3
    return (
        f"weights {source}: not enough GPU memory on {placement.device} "
        f"({free / gib:.1f} GiB free of {total / gib:.1f} GiB); free the GPU, "
        "or use --cpu-offload (PIXELRUN_CPU_OFFLOAD=1)"
    )


def load_pipeline(weights: str | Path, placement: Placement) -> QwenImageEditPlusPipeline:
    """`weights` is a Hugging Face id (downloaded or cached by huggingface_hub) or a directory.

    Any failure raises `WeightsUnavailable` with one line that says what to do; the
    library's own exception is chained for `--verbose` logs.
    """
    source = str(weights)
    try:
        return _load_pipeline(source, placement)
    except WeightsUnavailable:
        raise
    except torch.OutOfMemoryError as error:
        torch.cuda.empty_cache()
        raise WeightsUnavailable("gpu_memory", _gpu_memory_message(source, placement)) from error
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise WeightsUnavailable(
            "load_error",
            f"weights {source}: could not be loaded ({type(error).__name__}: {first_line[:300]}); "
            "check it with `pixelrun weights check`",
        ) from error


def _load_pipeline(source: str, placement: Placement) -> QwenImageEditPlusPipeline:
    quiet_library_progress_bars()
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
