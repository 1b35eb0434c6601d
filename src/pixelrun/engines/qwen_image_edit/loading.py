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

from pixelrun.weights.unavailable import WeightsUnavailable

from .processor import ImageOnlyQwen2VLProcessor
from .tiny_weights import TINY_MARKER

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "Qwen/Qwen-Image-Edit-2511"
#: The pipeline's own reference-image areas (condition image for the text encoder, VAE image).
MODEL_REFERENCE_AREAS = (384 * 384, 1024 * 1024)


#: Compute capability FP8 matmuls need (Ada, Hopper and later).
FP8_MIN_CAPABILITY = (8, 9)


@dataclass(frozen=True)
class Placement:
    """Where and how the pipeline runs."""

    device: torch.device
    dtype: torch.dtype
    cpu_offload: bool = False
    group_offload: bool = False
    quantize: str = "none"


def choose_placement(
    device: str = "auto",
    dtype: str = "auto",
    cpu_offload: bool = False,
    *,
    group_offload: bool = False,
    quantize: str = "none",
) -> Placement:
    """`auto` picks CUDA with bf16 when there is a GPU, else the CPU with fp32.

    A device that does not exist here raises `WeightsUnavailable("wrong_device")`. Refuses
    what cannot work here, before anything is loaded: offloading without CUDA, both
    offload modes at once, FP8 below compute capability 8.9.
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
    if group_offload and resolved.type != "cuda":
        raise ValueError(
            "group offloading streams weights to a CUDA device; on the CPU the model is in memory already "
            "(unset PIXELRUN_GROUP_OFFLOAD)"
        )
    if group_offload and cpu_offload:
        raise ValueError("choose one offload mode: model CPU offload or group offloading, not both")
    check_quantization(quantize, resolved)
    return Placement(resolved, torch_dtype, cpu_offload, group_offload, quantize)


def check_quantization(quantize: str, device: torch.device) -> None:
    if quantize not in ("none", "int8wo", "fp8"):
        raise ValueError(f"quantize must be none, int8wo or fp8, not {quantize!r}")
    if quantize == "fp8":
        capability = torch.cuda.get_device_capability(device) if device.type == "cuda" else None
        if capability is None or capability < FP8_MIN_CAPABILITY:
            where = f"compute capability {capability[0]}.{capability[1]}" if capability else "the CPU"
            raise ValueError(
                f"FP8 quantization needs a CUDA GPU of compute capability 8.9 or newer (Ada, Hopper, "
                f"Blackwell); this is {where}. Use PIXELRUN_QUANTIZE=int8wo or none."
            )


def quantization_config(quantize: str) -> object | None:
    """diffusers' torchao config for the transformer's linear layers (None: full precision)."""
    if quantize == "none":
        return None
    from diffusers import TorchAoConfig
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, Int8WeightOnlyConfig

    if quantize == "int8wo":
        return TorchAoConfig(Int8WeightOnlyConfig())
    # Row-wise scales: the recipe torchao recommends for FP8 inference on Hopper.
    from torchao.quantization import PerRow

    return TorchAoConfig(Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()))


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
    components: dict[str, object] = {}
    quantization = quantization_config(placement.quantize)
    if quantization is not None:
        from diffusers import QwenImageTransformer2DModel

        components["transformer"] = QwenImageTransformer2DModel.from_pretrained(
            source, subfolder="transformer", quantization_config=quantization, torch_dtype=placement.dtype
        )
    pipeline = QwenImageEditPlusPipeline.from_pretrained(
        source, processor=processor, dtype=placement.dtype, **components
    )
    if placement.cpu_offload:
        pipeline.enable_model_cpu_offload(device=placement.device)
    elif placement.group_offload:
        # Leaf-level groups with a CUDA stream: the next group's weights copy while the
        # current one computes; pinned host memory makes the copies asynchronous.
        pipeline.enable_group_offload(
            onload_device=placement.device,
            offload_device=torch.device("cpu"),
            offload_type="leaf_level",
            use_stream=True,
        )
    else:
        pipeline.to(placement.device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def tensor_bytes(tensor: torch.Tensor) -> int:
    """Bytes a tensor holds, looking inside tensor subclasses (torchao's quantized weights)."""
    flatten = getattr(tensor, "__tensor_flatten__", None)
    if flatten is not None and type(tensor) is not torch.nn.Parameter and type(tensor) is not torch.Tensor:
        names, _ = flatten()
        return sum(tensor_bytes(getattr(tensor, name)) for name in names)
    return tensor.numel() * tensor.element_size()


def module_bytes(module: torch.nn.Module) -> int:
    """Memory of a module's parameters and buffers (quantized weights counted at their real size)."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(
        tensor_bytes(tensor.data if isinstance(tensor, torch.nn.Parameter) else tensor) for tensor in tensors
    )
