"""FLOPs of one transformer forward of the real Qwen-Image-Edit-2511 config, counted, not estimated.

The full-size transformer is built on PyTorch's `meta` device (no memory, no weights)
and one forward runs under `torch.utils.flop_counter.FlopCounterMode`, which counts the
matrix multiplies and attention of every layer. Usage:

    python bench/flops.py [--size 1024] [--references 1] [--text-tokens 213] [--peak-tflops 790]
"""

from __future__ import annotations

import argparse
import json
from importlib import resources

import torch
from diffusers import QwenImageTransformer2DModel
from torch.utils.flop_counter import FlopCounterMode


def transformer_config() -> dict:
    text = (
        resources.files("pixelrun.engines.qwen_image_edit").joinpath("configs/transformer.json").read_text()
    )
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def count(size: int, references: int, text_tokens: int) -> tuple[float, dict[str, float], int]:
    with torch.device("meta"):
        model = QwenImageTransformer2DModel(**transformer_config())
        grid = size // 16  # VAE ×8, then 2×2 patches
        image_tokens = grid * grid * (1 + references)
        # fp32 on `meta` costs nothing and counts the same operations as bf16.
        hidden = torch.empty(1, image_tokens, model.config.in_channels)
        text = torch.empty(1, text_tokens, model.config.joint_attention_dim)
        timestep = torch.empty(1)
    shapes = [[(1, grid, grid)] * (1 + references)]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(
            hidden_states=hidden,
            encoder_hidden_states=text,
            encoder_hidden_states_mask=None,
            timestep=timestep,
            img_shapes=shapes,
            return_dict=False,
        )
    by_op = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    return counter.get_total_flops(), by_op, sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1024, help="output side in pixels (square)")
    parser.add_argument("--references", type=int, default=1, help="reference images at the same size")
    # 1 MP condition image at 384² → 27×27 patches / 2×2 merge ≈ 182 vision tokens, plus the
    # prompt after the template's system part is dropped: ~213 tokens for a short instruction.
    parser.add_argument("--text-tokens", type=int, default=213)
    parser.add_argument("--peak-tflops", type=float, default=790.0, help="measured bf16 matmul peak")
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()

    total, by_op, parameters = count(args.size, args.references, args.text_tokens)
    forwards = args.steps * 2  # true CFG: conditional + negative pass per step
    print(f"transformer parameters: {parameters / 1e9:.2f} B")
    print(
        f"one forward at {args.size}², {args.references} reference(s), {args.text_tokens} text tokens: "
        f"{total / 1e12:.1f} TFLOP"
    )
    for op, flops in sorted(by_op.items(), key=lambda item: -item[1]):
        print(f"  {op:<40} {flops / 1e12:8.1f} TFLOP")
    request = total * forwards
    print(f"{args.steps} steps with CFG = {forwards} forwards: {request / 1e15:.2f} PFLOP")
    print(
        f"lower bound at {args.peak_tflops:.0f} TFLOP/s: {request / args.peak_tflops / 1e12:.1f} s "
        f"({total / args.peak_tflops / 1e12 * 2:.3f} s per CFG step)"
    )


if __name__ == "__main__":
    main()
