"""`PIXELRUN_COMPILE=1`: regional torch.compile of the transformer and the warm-up that goes with it.

Only the repeated transformer blocks are compiled (diffusers' `compile_repeated_blocks`):
one block graph serves all 60 blocks, so compiling takes about as long as for one block.
Shapes are dynamic (`dynamic=True`), so a new output size or reference size reuses the
graphs instead of recompiling. What still makes dynamo compile a variant, once each:
the cache levels' hooks (full and skipped passes) and the Lightning adapter on or off.
The worker's warm-up runs each of these once, at the common sizes, before it says ready.

User LoRAs run with compilation off (`force_eager`): PEFT keeps adapter names and scales
as Python values, and dynamo would compile a new variant for every adapter set and scale.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from diffusers import QwenImageTransformer2DModel

#: Dynamo's per-function cache: the variants above times a few shape specialisations.
RECOMPILE_LIMIT = 64
#: Output sizes warmed up at worker start (width, height): square and the 4:3 presets.
WARMUP_SIZES = ((1024, 1024), (1024, 768), (768, 1024))
#: The same idea for tiny weights, at sizes that keep a CPU warm-up short.
TINY_WARMUP_SIZES = ((256, 256), (320, 256), (256, 320))


def compile_transformer(transformer: QwenImageTransformer2DModel) -> None:
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, RECOMPILE_LIMIT)
    transformer.compile_repeated_blocks(dynamic=True)


@contextlib.contextmanager
def eager_if(condition: bool) -> Iterator[None]:
    """Run compiled modules eagerly inside the block when `condition` holds."""
    if not condition:
        yield
        return
    with torch.compiler.set_stance("force_eager"):
        yield
