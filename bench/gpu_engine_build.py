"""The pipeline gpu_engine.py measures: the real architecture with random weights created on the
GPU (`--scale full`) or the tiny test pipeline (`--scale tiny`), the byte-level tokenizer's
template drop index, the experiment switches applied to it (quantization, offload, attention
backend) and a random LoRA shaped like the Lightning one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKLQwenImage,
    FlowMatchEulerDiscreteScheduler,
    QwenImageEditPlusPipeline,
    QwenImageTransformer2DModel,
)
from safetensors.torch import save_file
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from pixelrun.engines.qwen_image_edit.loading import MODEL_REFERENCE_AREAS, quantization_config
from pixelrun.engines.qwen_image_edit.processor import ImageOnlyQwen2VLProcessor
from pixelrun.engines.qwen_image_edit.tiny_weights import (
    TINY_REFERENCE_AREAS,
    build_tiny_pipeline,
    build_tiny_tokenizer,
)


def shipped_config(name: str) -> dict[str, Any]:
    """One of the real component configs shipped with the engine, without `_` keys."""
    text = resources.files("pixelrun.engines.qwen_image_edit").joinpath(f"configs/{name}.json").read_text()
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


def build_full_pipeline(
    device: torch.device, dtype: torch.dtype = torch.bfloat16
) -> QwenImageEditPlusPipeline:
    """The real architecture with random weights, every tensor created on `device` in `dtype`.

    Building under the device context with a bf16 default dtype allocates each parameter
    once, on the GPU, where the default init runs: 57.7 GB never exists in fp32 or on the CPU.
    (RoPE tables are built in explicit fp32 by both libraries and are not affected.)
    """
    tokenizer = build_tiny_tokenizer()
    encoder_config = shipped_config("text_encoder")
    # The byte-level tokenizer numbers its special tokens 256..263; the real vocabulary
    # (152064) contains those ids, so only the vision-token ids need to follow.
    for key, token in (
        ("image_token_id", "<|image_pad|>"),
        ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"),
        ("vision_end_token_id", "<|vision_end|>"),
    ):
        encoder_config[key] = tokenizer.convert_tokens_to_ids(token)
    with torch.device(device), default_dtype(dtype), torch.no_grad():
        transformer = QwenImageTransformer2DModel.from_config(shipped_config("transformer"))
        vae = AutoencoderKLQwenImage.from_config(shipped_config("vae"))
        text_encoder = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**encoder_config))
    for module in (transformer, vae, text_encoder):
        module.eval()
        module.requires_grad_(False)
    processor = ImageOnlyQwen2VLProcessor(image_processor=Qwen2VLImageProcessorPil(), tokenizer=tokenizer)
    return QwenImageEditPlusPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler.from_config(shipped_config("scheduler")),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        processor=processor,
        transformer=transformer,
    )


def match_template_prefix(pipeline: QwenImageEditPlusPipeline) -> int:
    """Drop the whole system prefix before the transformer, as the real tokenizer's 64 tokens do.

    Without this the byte-level tokenizer would leave ~240 system-prompt tokens in the
    transformer's text stream and inflate its attention; returns the new drop index.
    """
    prefix = pipeline.prompt_template_encode.split("{}")[0]
    length = len(pipeline.tokenizer(prefix)["input_ids"])
    pipeline.prompt_template_encode_start_idx = length
    return length


def build(
    args: argparse.Namespace, device: torch.device
) -> tuple[QwenImageEditPlusPipeline, tuple[int, int]]:
    if args.scale == "full":
        if device.type != "cuda":
            # 57.7 GB of bf16 weights: a CPU run would not tell anything about GPU speed.
            raise SystemExit("--scale full needs a CUDA device (use --scale tiny on a CPU)")
        pipeline = build_full_pipeline(device)
        areas = MODEL_REFERENCE_AREAS
    else:
        pipeline = build_tiny_pipeline()
        areas = TINY_REFERENCE_AREAS
    if args.quantize != "none":
        from torchao.quantization import quantize_

        # The engine quantizes through diffusers' TorchAoConfig at load time; these random
        # weights are built in place, so the same torchao config is applied directly.
        quantize_(pipeline.transformer, quantization_config(args.quantize).quant_type)
    if args.cpu_offload:
        pipeline.enable_model_cpu_offload(device=device)
    elif args.group_offload:
        pipeline.enable_group_offload(
            onload_device=device,
            offload_device=torch.device("cpu"),
            offload_type="leaf_level",
            use_stream=True,
        )
    else:
        pipeline.to(device)
    pipeline.set_progress_bar_config(disable=True)
    if args.attention_backend:
        pipeline.transformer.set_attention_backend(args.attention_backend)
    return pipeline, areas


#: Layers the published Lightning LoRAs adapt in each block (their rank is 64 at bf16).
LIGHTNING_TARGETS = (
    "attn.to_q",
    "attn.to_k",
    "attn.to_v",
    "attn.to_out.0",
    "attn.add_q_proj",
    "attn.add_k_proj",
    "attn.add_v_proj",
    "attn.to_add_out",
    "img_mlp.net.0.proj",
    "img_mlp.net.2",
    "txt_mlp.net.0.proj",
    "txt_mlp.net.2",
    "img_mod.1",
    "txt_mod.1",
)


def random_lightning_lora(pipeline: QwenImageEditPlusPipeline, scale: str, directory: Path) -> Path:
    """A random LoRA shaped like the Lightning one (speed does not depend on its values).

    Drawn on the transformer's device in its dtype, in the key format of the engine's
    `random_lora_state_dict`: at full size that is ~590 M values, which one CPU generator
    takes ~30 s to draw (measured on the 2-core test machine) and a GPU a fraction of a second.
    """
    rank = 64 if scale == "full" else 4
    transformer = pipeline.transformer
    device, dtype = transformer.device, transformer.dtype
    generator = torch.Generator(device=device).manual_seed(7)
    state: dict[str, torch.Tensor] = {}
    for name, module in transformer.named_modules():
        if isinstance(module, torch.nn.Linear) and name.endswith(LIGHTNING_TARGETS):
            shapes = {"lora_A": (rank, module.in_features), "lora_B": (module.out_features, rank)}
            for key, shape in shapes.items():
                value = torch.randn(shape, generator=generator, device=device, dtype=torch.float32) * 0.01
                state[f"transformer.{name}.{key}.weight"] = value.to(dtype).cpu()
    path = directory / "lightning.safetensors"
    save_file(state, str(path))
    return path
