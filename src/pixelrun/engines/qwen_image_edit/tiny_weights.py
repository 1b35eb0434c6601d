"""Tiny random-init weights of the exact Qwen-Image-Edit-2511 architecture, built offline.

Same component classes and wiring as the real checkpoint (transformer with
`zero_cond_t`, Qwen-Image VAE, Qwen2.5-VL text encoder, byte-level Qwen2 tokenizer,
Qwen2-VL image processor, flow-match scheduler), only small. Saved as an ordinary
diffusers directory and loaded back by the same code as the real weights.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKLQwenImage,
    FlowMatchEulerDiscreteScheduler,
    QwenImageEditPlusPipeline,
    QwenImageTransformer2DModel,
)
from safetensors.torch import save_file
from tokenizers import pre_tokenizers
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2Tokenizer
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from pixelrun.safety import save_tiny_classifier
from pixelrun.weights.tiny import LIGHTNING_FILE, SAFETY_FOLDER, TINY_MARKER, tiny_problems

from .lightning import random_lora_state_dict
from .processor import ImageOnlyQwen2VLProcessor

__all__ = [
    "TINY_MARKER",
    "TINY_REFERENCE_AREAS",
    "build_tiny_pipeline",
    "ensure_tiny_checkpoint",
    "save_tiny_checkpoint",
]
#: Seed of the tiny Lightning LoRA (any fixed value: its shapes follow the transformer).
TINY_LIGHTNING_SEED = 7
#: Reference-image areas (condition, VAE) for the tiny weights: small, so CPU runs are fast.
TINY_REFERENCE_AREAS = (64 * 64, 128 * 128)

_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


def build_tiny_tokenizer() -> Qwen2Tokenizer:
    """A byte-level Qwen2 tokenizer (256 byte tokens, no merges) plus the Qwen special tokens."""
    vocab = {char: index for index, char in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for token in _SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab, merges=[], unk_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": _SPECIAL_TOKENS[1:]})
    return tokenizer


def build_tiny_pipeline(seed: int = 0) -> QwenImageEditPlusPipeline:
    """Random-init components, seeded; sizes close to diffusers' own edit-plus pipeline tests."""
    tokenizer = build_tiny_tokenizer()
    ids = dict(zip(_SPECIAL_TOKENS, tokenizer.convert_tokens_to_ids(_SPECIAL_TOKENS), strict=True))

    torch.manual_seed(seed)
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=3,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
        zero_cond_t=True,
    )
    torch.manual_seed(seed)
    z_dim = 4
    # Four levels as in the real VAE, so the spatial factor is 8 like the real one;
    # narrow channels keep a 1 MP decode to a few seconds on a CPU.
    vae = AutoencoderKLQwenImage(
        base_dim=4,
        z_dim=z_dim,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * z_dim,
        latents_std=[1.0] * z_dim,
    )
    torch.manual_seed(seed)
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
            "vocab_size": len(tokenizer),
            "bos_token_id": None,
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": 16,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    config.vocab_size = len(tokenizer)
    config.bos_token_id = None
    config.eos_token_id = ids["<|im_end|>"]
    text_encoder = Qwen2_5_VLForConditionalGeneration(config)
    processor = ImageOnlyQwen2VLProcessor(image_processor=Qwen2VLImageProcessorPil(), tokenizer=tokenizer)
    return QwenImageEditPlusPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        processor=processor,
        transformer=transformer,
    )


def save_tiny_checkpoint(directory: Path, seed: int = 0) -> Path:
    """Write a tiny checkpoint to `directory` with its tiny Lightning LoRA and safety
    classifier (atomically: a crash leaves no half checkpoint), so that it serves offline."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=directory.parent))
    from .loading import quiet_library_progress_bars

    quiet_library_progress_bars()
    try:
        pipeline = build_tiny_pipeline(seed)
        pipeline.save_pretrained(staging)
        _point_processor_at_transformers(staging)
        lora = random_lora_state_dict(pipeline.transformer, seed=TINY_LIGHTNING_SEED)
        save_file(lora, str(staging / LIGHTNING_FILE))
        save_tiny_classifier(staging / SAFETY_FOLDER)
        marker = {
            "seed": seed,
            "reference_areas": list(TINY_REFERENCE_AREAS),
            "lightning_lora": LIGHTNING_FILE,
            "safety_weights": SAFETY_FOLDER,
        }
        (staging / TINY_MARKER).write_text(json.dumps(marker, indent=2))
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def ensure_tiny_checkpoint(directory: Path, seed: int = 0) -> Path:
    """The tiny checkpoint at `directory`, generated on first use (and again when a part is
    missing, e.g. one written before tiny directories carried their LoRA and classifier)."""
    if not (Path(directory) / TINY_MARKER).is_file() or any(tiny_problems(directory).values()):
        save_tiny_checkpoint(directory, seed)
    return Path(directory)


def _point_processor_at_transformers(directory: Path) -> None:
    # Make model_index.json name the stock processor class, exactly like the real
    # checkpoint does; the loader always supplies the processor itself.
    index_path = directory / "model_index.json"
    index = json.loads(index_path.read_text())
    index["processor"] = ["transformers", "Qwen2VLProcessor"]
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True))
