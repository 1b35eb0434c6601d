"""The Qwen-Image-Edit-2511 engine: one request in, edited images and facts out.

It serves both model ids of this package (`engines.Engine`): `run` picks the Lightning
variant from the run's model id.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from diffusers import QwenImageEditPlusPipeline
from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus
from PIL import Image

from pixelrun.engines.engine import LoraFile, PreviewRequest, RunResult, StepCallback
from pixelrun.engines.errors import Canceled, UnsupportedInput

from .acceleration import AccelerationSwitch
from .adapters import AdapterSet
from .compilation import WARMUP_SIZES, compile_transformer, eager_if
from .lightning import LIGHTNING_ADAPTER, lightning_scheduler
from .loading import Placement, choose_placement, load_pipeline, reference_areas_for
from .models import LIGHTNING_MODEL_ID, MODEL_ID
from .output import run_result
from .previews import LatentPreviewer
from .schema import MAX_SEED, Acceleration, EditParameters
from .sizes import output_size

log = logging.getLogger(__name__)


class EditCanceled(Canceled):
    """The step callback asked to stop; no image was produced."""

    def __init__(self, step: int, steps: int) -> None:
        super().__init__(f"canceled after step {step} of {steps}")
        self.step = step
        self.steps = steps


class UnsupportedImage(UnsupportedInput):
    """A reference image the pipeline cannot take (the message says why and what is allowed)."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"image_urls[{index}]: {reason}")
        self.index = index
        self.reason = reason


#: The Qwen2-VL image processor refuses aspect ratios from 200:1 on.
PROCESSOR_MAX_ASPECT_RATIO = 200.0


class SafetyChecker(Protocol):
    def check(self, images: list[Image.Image]) -> list[bool]: ...


@dataclass
class EditResult:
    images: list[Image.Image]
    seed: int
    width: int
    height: int
    acceleration: Acceleration
    nsfw_flags: list[bool] | None
    transformer_forwards: int
    steps: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    lightning: bool = False


def pipeline_arguments(request: EditParameters, images: list[Image.Image], seed: int) -> dict[str, Any]:
    """The `QwenImageEditPlusPipeline.__call__` arguments for a request (docs/api.md#create-run-request)."""
    width, height = output_size(request.requested_size, images[-1].size)
    use_cfg = request.guidance_scale > 1
    return {
        "image": list(images),
        "prompt": request.prompt,
        # The pipeline runs the negative branch only when a negative prompt is given;
        # an empty one would silently turn CFG off, so it becomes a single space.
        "negative_prompt": (request.negative_prompt or " ") if use_cfg else None,
        "true_cfg_scale": request.guidance_scale,
        "num_images_per_prompt": request.num_images,
        "num_inference_steps": request.num_inference_steps,
        "height": height,
        "width": width,
        # A CPU generator gives the same noise whatever device the model is on.
        "generator": torch.Generator(device="cpu").manual_seed(seed),
        "output_type": "pil",
    }


@contextlib.contextmanager
def swapped_scheduler(pipeline: QwenImageEditPlusPipeline, scheduler: Any | None) -> Iterator[None]:
    """Use `scheduler` for one call (None: keep the pipeline's own)."""
    if scheduler is None:
        yield
        return
    saved = pipeline.scheduler
    pipeline.scheduler = scheduler
    try:
        yield
    finally:
        pipeline.scheduler = saved


@contextlib.contextmanager
def reference_areas(condition_area: int, vae_area: int) -> Iterator[None]:
    """Set the two areas the pipeline resizes every reference image to, for one call.

    diffusers reads them as module constants at call time; the worker runs one call
    at a time, so swapping them around the call is safe.
    """
    module = pipeline_qwenimage_edit_plus
    saved = module.CONDITION_IMAGE_SIZE, module.VAE_IMAGE_SIZE
    module.CONDITION_IMAGE_SIZE, module.VAE_IMAGE_SIZE = condition_area, vae_area
    try:
        yield
    finally:
        module.CONDITION_IMAGE_SIZE, module.VAE_IMAGE_SIZE = saved


class ForwardCounter:
    """Counts full transformer passes: the last block's feed-forward runs only in those."""

    def __init__(self, pipeline: QwenImageEditPlusPipeline) -> None:
        self.count = 0
        last_block = pipeline.transformer.transformer_blocks[-1]
        last_block.img_mlp.register_forward_pre_hook(self._tick)

    # Outside any compiled graph: under `torch.compile` a traced counter would be a guard that
    # fails on every call (one recompilation per pass).
    @torch.compiler.disable
    def _tick(self, *_: Any) -> None:
        self.count += 1


class QwenImageEditEngine:
    model_id = MODEL_ID

    def __init__(
        self,
        pipeline: QwenImageEditPlusPipeline,
        *,
        reference_areas: tuple[int, int],
        safety_checker: SafetyChecker | None = None,
        lightning_lora: Path | None = None,
        lora_cache: int = 4,
    ) -> None:
        """`lightning_lora`: the Lightning LoRA file; without it the engine serves the base model only.
        `lora_cache`: how many user LoRAs stay loaded between runs."""
        self.pipeline = pipeline
        self.reference_areas = reference_areas
        self.safety_checker = safety_checker
        self._acceleration = AccelerationSwitch(pipeline.transformer)
        self._forwards = ForwardCounter(pipeline)
        self.adapters = AdapterSet(pipeline, lora_cache)
        self.compiled = False
        #: Output sizes `warm_up` compiles by default (the factory sets small ones for tiny weights).
        self.warmup_sizes: Sequence[tuple[int, int]] = WARMUP_SIZES
        self._lightning_scheduler = None
        if lightning_lora is not None:
            lora = LoraFile(Path(lightning_lora), LIGHTNING_ADAPTER, Path(lightning_lora).name)
            self.adapters.load(lora, name=LIGHTNING_ADAPTER, pinned=True)
            self._lightning_scheduler = lightning_scheduler()

    @property
    def serves_lightning(self) -> bool:
        return self._lightning_scheduler is not None

    def compile(self) -> None:
        """Regional torch.compile of the transformer blocks (see `compilation`); call `warm_up` next."""
        compile_transformer(self.pipeline.transformer)
        self.compiled = True

    def warm_up(
        self,
        sizes: Sequence[tuple[int, int]] | None = None,
        on_done: Callable[[str], None] | None = None,
    ) -> None:
        """One short call per size (default: `warmup_sizes`), then each cache level's skipped
        pass and the Lightning variant once: what a compiled engine would otherwise compile
        during requests."""
        sizes = self.warmup_sizes if sizes is None else sizes
        image = Image.new("RGB", (512, 384), (128, 96, 64))
        base = {"prompt": "warm up", "seed": 0, "enable_safety_checker": False, "guidance_scale": 1.0}
        calls: list[tuple[str, dict[str, Any], bool]] = [
            (f"{w}x{h}", {"image_size": {"width": w, "height": h}, "num_inference_steps": 2}, False)
            for w, h in sizes
        ]
        first = {"width": sizes[0][0], "height": sizes[0][1]} if sizes else None
        # Step 5 of `regular` is the first skipped pass (3 full warm-up steps, then every 2nd).
        calls.append(
            ("cache", {"image_size": first, "num_inference_steps": 6, "acceleration": "regular"}, False)
        )
        calls.append(("cfg", {"image_size": first, "num_inference_steps": 1, "guidance_scale": 4.0}, False))
        if self.serves_lightning:
            calls.append(("lightning", {"image_size": first, "num_inference_steps": 2}, True))
        for label, overrides, lightning in calls:
            params = {"acceleration": "none", **base, **overrides}
            self.edit(EditParameters.model_validate(params), [image], lightning=lightning)
            if on_done is not None:
                on_done(label)

    def load_loras(self, loras: Sequence[LoraFile]) -> list[str]:
        """Load (or find in memory) each LoRA; raises `LoraError` naming the first that does not fit."""
        names = [self.adapters.load(lora) for lora in loras]
        self.adapters.evict(keep=names)
        return names

    @classmethod
    def load(
        cls,
        weights: str | Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        cpu_offload: bool = False,
        reference_areas: tuple[int, int] | None = None,
        safety_checker: SafetyChecker | None = None,
        attention_backend: str | None = None,
        lightning_lora: Path | None = None,
        lora_cache: int = 4,
        group_offload: bool = False,
        quantize: str = "none",
    ) -> QwenImageEditEngine:
        """`attention_backend`: a diffusers attention backend for the transformer (e.g.
        `_native_cudnn`, `flash`); None keeps diffusers' default (PyTorch SDPA).
        `group_offload`, `quantize`: the memory modes (see `loading.choose_placement`)."""
        placement: Placement = choose_placement(
            device, dtype, cpu_offload, group_offload=group_offload, quantize=quantize
        )
        pipeline = load_pipeline(weights, placement)
        if attention_backend:
            pipeline.transformer.set_attention_backend(attention_backend)
        areas = reference_areas or reference_areas_for(weights)
        return cls(
            pipeline,
            reference_areas=areas,
            safety_checker=safety_checker,
            lightning_lora=lightning_lora,
            lora_cache=lora_cache,
        )

    @property
    def device(self) -> torch.device:
        return self.pipeline._execution_device

    @property
    def max_aspect_ratio(self) -> float:
        # The pipeline resizes each reference to a fixed area with sides rounded to 32 px;
        # beyond area / 16² the short side rounds to 0 and the call crashes.
        return min(min(self.reference_areas) / 16**2, PROCESSOR_MAX_ASPECT_RATIO - 1)

    def check_images(self, images: list[Image.Image]) -> None:
        """Raise `UnsupportedImage` for an image this pipeline cannot take."""
        limit = self.max_aspect_ratio
        for index, image in enumerate(images):
            ratio = max(image.width / image.height, image.height / image.width)
            if ratio > limit:
                raise UnsupportedImage(
                    index,
                    f"{image.width}x{image.height} has an aspect ratio of {ratio:.0f}:1; "
                    f"at most {limit:.0f}:1 is supported",
                )

    def edit(
        self,
        request: EditParameters,
        images: list[Image.Image],
        *,
        on_step: StepCallback | None = None,
        loras: Sequence[tuple[LoraFile, float]] = (),
        lightning: bool = False,
        previews: PreviewRequest | None = None,
    ) -> EditResult:
        """Run one edit. Raises `EditCanceled` when `on_step` returns False.

        `loras`: (file, scale) pairs active for this call only. `lightning`: the Lightning
        variant (its LoRA at scale 1 and its scheduler). `previews`: previews of the first
        image from the latents (`previews.LatentPreviewer`); they read the latents and
        change nothing. Raises `LoraError` for a LoRA that does not fit (normally caught
        earlier by `load_loras`).
        """
        if not images:
            raise ValueError("at least one reference image is needed")
        if lightning and not self.serves_lightning:
            raise ValueError("this engine was loaded without the Lightning LoRA")
        self.check_images(images)
        adapters: dict[str, float] = {}
        for lora, scale in loras:
            name = self.adapters.load(lora)
            # The same file twice adds up, as two identical adapters would.
            adapters[name] = adapters.get(name, 0.0) + scale
        user_adapters = any(scale != 0 for scale in adapters.values())
        if lightning:
            adapters[LIGHTNING_ADAPTER] = 1.0
        seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
        arguments = pipeline_arguments(request, [image.convert("RGB") for image in images], seed)
        steps = request.num_inference_steps

        previewer = (
            LatentPreviewer(
                previews,
                height=arguments["height"],
                width=arguments["width"],
                vae_scale_factor=self.pipeline.vae_scale_factor,
                channels=self.pipeline.vae.config.z_dim,
                device=self.device,
            )
            if previews is not None
            else None
        )

        def step_end(pipe: Any, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if on_step is not None and on_step(index + 1, steps) is False:
                raise EditCanceled(index + 1, steps)
            if previewer is not None:
                previewer.after_step(pipe, index + 1, steps, tensors["latents"])
            return {}  # nothing replaced: the latents go on unchanged

        self._acceleration.apply(request.acceleration)
        forwards_before = self._forwards.count
        started = time.perf_counter()
        try:
            with (
                reference_areas(*self.reference_areas),
                self.adapters.active(list(adapters.items())),
                eager_if(self.compiled and user_adapters),
                swapped_scheduler(self.pipeline, self._lightning_scheduler if lightning else None),
            ):
                output = self.pipeline(
                    **arguments,
                    callback_on_step_end=step_end,
                    callback_on_step_end_tensor_inputs=["latents"] if previewer is not None else [],
                )
        except BaseException:
            self._acceleration.reset_state()
            raise
        inference_ms = (time.perf_counter() - started) * 1000
        produced: list[Image.Image] = list(output.images)

        flags: list[bool] | None = None
        safety_ms = 0.0
        if request.enable_safety_checker and self.safety_checker is not None:
            started = time.perf_counter()
            flags = self.safety_checker.check(produced)
            produced = [
                Image.new("RGB", image.size, (0, 0, 0)) if flagged else image
                for image, flagged in zip(produced, flags, strict=True)
            ]
            safety_ms = (time.perf_counter() - started) * 1000
        elif request.enable_safety_checker:
            log.warning("safety checker requested but none is loaded; outputs are not checked")

        return EditResult(
            images=produced,
            seed=seed,
            width=arguments["width"],
            height=arguments["height"],
            acceleration=request.acceleration,
            nsfw_flags=flags,
            transformer_forwards=self._forwards.count - forwards_before,
            steps=steps,
            timings_ms={"inference_ms": round(inference_ms, 3), "safety_ms": round(safety_ms, 3)},
            lightning=lightning,
        )

    def run(
        self,
        model_id: str,
        request: EditParameters,
        images: list[Image.Image],
        *,
        on_step: StepCallback | None = None,
        loras: Sequence[tuple[LoraFile, float]] = (),
        previews: PreviewRequest | None = None,
    ) -> RunResult:
        """A worker's run (`engines.Engine`): `edit`, as the Lightning variant for its model id."""
        if model_id not in (MODEL_ID, LIGHTNING_MODEL_ID):
            raise ValueError(f"{model_id} is not served by this engine")
        lightning = model_id == LIGHTNING_MODEL_ID
        result = self.edit(
            request, images, on_step=on_step, loras=loras, lightning=lightning, previews=previews
        )
        return run_result(request, result)
