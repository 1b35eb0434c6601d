"""The Lightning variant: the base weights + the Lightning LoRA + the scheduler it was distilled for.

The scheduler configuration is the one published with the Lightning LoRAs (lightx2v's
Qwen-Image-Lightning): exponential time shift with `shift` 1 and `base_shift` = `max_shift`
= log 3 under dynamic shifting, i.e. a constant shift of 3 whatever the image size.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, QwenImageTransformer2DModel
from safetensors.torch import save_file

from pixelrun.weights.tiny import LIGHTNING_FILE

#: The official 2511 Lightning LoRA (8 steps, bf16) on the Hugging Face Hub: OWNER/REPO/FILE.
DEFAULT_LIGHTNING_LORA = (
    "lightx2v/Qwen-Image-Edit-2511-Lightning/Qwen-Image-Edit-2511-Lightning-8steps-V1.0-bf16.safetensors"
)
#: Adapter name of the Lightning LoRA in the transformer (pinned: never evicted).
LIGHTNING_ADAPTER = "lightning"
#: File name of the tiny random Lightning LoRA generated beside the tiny weights.
TINY_LIGHTNING_FILE = LIGHTNING_FILE

LIGHTNING_SCHEDULER_CONFIG: dict[str, Any] = {
    "base_image_seq_len": 256,
    "base_shift": math.log(3),
    "invert_sigmas": False,
    "max_image_seq_len": 8192,
    "max_shift": math.log(3),
    "num_train_timesteps": 1000,
    "shift": 1.0,
    "shift_terminal": None,
    "stochastic_sampling": False,
    "time_shift_type": "exponential",
    "use_beta_sigmas": False,
    "use_dynamic_shifting": True,
    "use_exponential_sigmas": False,
    "use_karras_sigmas": False,
}


def lightning_scheduler() -> FlowMatchEulerDiscreteScheduler:
    return FlowMatchEulerDiscreteScheduler.from_config(LIGHTNING_SCHEDULER_CONFIG)


def split_hub_file(reference: str) -> tuple[str, str] | None:
    """`OWNER/REPO/path/in/repo.safetensors` → (repo id, filename); None for anything else."""
    parts = reference.split("/")
    if len(parts) < 3 or not reference.endswith(".safetensors") or reference.startswith(("/", ".")):
        return None
    return "/".join(parts[:2]), "/".join(parts[2:])


def resolve_lightning_lora(reference: str | Path) -> Path:
    """A local file as is; `OWNER/REPO/FILE` from the Hugging Face cache, else downloaded.

    Raises `WeightsUnavailable` with one line that says what was tried.
    """
    from pixelrun.weights.source import require_hub
    from pixelrun.weights.unavailable import WeightsUnavailable

    path = Path(reference).expanduser()
    if path.is_file():
        return path
    hub = split_hub_file(str(reference))
    if hub is None:
        raise WeightsUnavailable(
            "not_found",
            f"Lightning LoRA {reference}: no such file, and not OWNER/REPO/FILE.safetensors on the Hub "
            "(PIXELRUN_LIGHTNING_LORA)",
        )
    from huggingface_hub import hf_hub_download

    repo_id, filename = hub
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, local_files_only=True))
    except Exception:  # not in the cache: ask the Hub, then download
        pass
    require_hub(repo_id, "Lightning LoRA", where=f"{filename} is not in the Hugging Face cache; ")
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename))
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise WeightsUnavailable(
            "load_error", f"Lightning LoRA {reference}: download failed ({first_line[:300]})"
        ) from error


def random_lora_state_dict(
    transformer: QwenImageTransformer2DModel,
    *,
    seed: int,
    rank: int = 4,
    std: float = 0.1,
    targets: tuple[str, ...] = ("attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "img_mlp.net.2"),
) -> dict[str, torch.Tensor]:
    """A random LoRA in the diffusers/PEFT key format (`transformer.<module>.lora_A.weight`)."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for name, module in transformer.named_modules():
        if isinstance(module, torch.nn.Linear) and name.endswith(targets):
            down = torch.randn(rank, module.in_features, generator=generator) * std
            up = torch.randn(module.out_features, rank, generator=generator) * std
            state[f"transformer.{name}.lora_A.weight"] = down.contiguous()
            state[f"transformer.{name}.lora_B.weight"] = up.contiguous()
    if not state:
        raise ValueError("no target layer found: is this a Qwen-Image transformer without adapters?")
    return state


def save_tiny_lightning_lora(weights_dir: Path, seed: int = 7) -> Path:
    """Write a random Lightning LoRA for the tiny transformer in `weights_dir` (atomically)."""
    transformer = QwenImageTransformer2DModel.from_pretrained(weights_dir, subfolder="transformer")
    target = Path(weights_dir) / TINY_LIGHTNING_FILE
    staging = target.with_suffix(".partial")
    save_file(random_lora_state_dict(transformer, seed=seed), str(staging))
    staging.replace(target)
    return target
