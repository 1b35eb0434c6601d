"""What a worker needs from a model engine, torch-free (docs/adding-a-model.md).

The worker fetches a run's images and LoRA files under its address rules, then hands
them to the engine that serves the run's model; it stores, prices and finishes the run
with what comes back. It never imports a model's package: it reaches the engine through
the registry (`engines.registry`) and these types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from PIL import Image

    from pixelrun.engines.input_rules import OutputFormat

#: Called after every denoising step with (step, steps); returning False stops the run
#: (the engine raises `errors.Canceled`).
StepCallback = Callable[[int, int], bool | None]

#: Longest side of a preview, in pixels (docs/api.md#previews).
PREVIEW_MAX_SIDE = 256


@dataclass(frozen=True)
class Preview:
    """A small picture of the current estimate of the final image, after `step` of `steps`."""

    step: int
    steps: int
    #: Makes the RGB image (long side at most `PREVIEW_MAX_SIDE`). It may wait for the device
    #: to finish the step, so the receiver calls it on its own thread, not the engine's.
    render: Callable[[], Image.Image]


@dataclass(frozen=True)
class PreviewRequest:
    """Previews a run asked for: one after every `every`-th step but the last (the last
    step's image is the output itself), handed to `deliver` on the engine's thread."""

    every: int
    deliver: Callable[[Preview], None]

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"previews every {self.every} steps: it must be at least 1")

    def wants(self, step: int, steps: int) -> bool:
        return step < steps and step % self.every == 0


def preview_steps(every: int, steps: int) -> list[int]:
    """The steps after which a run with previews `every` steps sends one (none for `every` 0)."""
    return list(range(every, steps, every)) if every > 0 else []


@dataclass(frozen=True)
class LoraFile:
    """A LoRA on local disk: `digest` is the sha256 of its bytes, `label` what the user named."""

    path: Path
    digest: str
    label: str

    @property
    def adapter_name(self) -> str:
        """Its name among the adapters loaded in a model (one per distinct file)."""
        return f"lora_{self.digest[:24]}"


class LoraRequest(Protocol):
    """One LoRA a run asks for: its URL and its strength."""

    @property
    def path(self) -> str: ...

    @property
    def scale(self) -> float: ...


class RunInput(Protocol):
    """What the worker reads from any model's validated input (its registry `input_model`)."""

    @property
    def image_urls(self) -> Sequence[str]:
        """Images the worker fetches and hands to the engine, in order."""
        ...

    @property
    def loras(self) -> Sequence[LoraRequest]:
        """LoRAs for this run only; empty for a model that takes none."""
        ...

    @property
    def output_format(self) -> OutputFormat: ...

    @property
    def sync_mode(self) -> bool:
        """Outputs inline as data: URIs, nothing stored."""
        ...

    @property
    def preview_every(self) -> int | None:
        """Previews every this many steps; 0: none; None: the server's default."""
        ...


@dataclass(frozen=True)
class RunResult:
    """What an engine hands back for one run; the worker builds the output object around it."""

    images: list[Image.Image]
    seed: int
    #: Per image, whether the safety checker flagged (and blacked out) it; None: not checked.
    nsfw_flags: list[bool] | None
    inference_ms: float
    safety_ms: float
    #: The output's `model_data`: what this model reports about the run (its output schema says).
    model_data: dict[str, Any]
    #: Facts for the run log line after inference, e.g. `12 transformer passes`.
    summary: str = ""


@runtime_checkable
class Engine(Protocol):
    """A loaded model, serving one or more model ids of the registry; one run at a time."""

    @property
    def device(self) -> object:
        """Where it runs (its `str` is registered with the worker)."""
        ...

    @property
    def compiled(self) -> bool:
        """True when `warm_up` must run before the worker says it is ready."""
        ...

    def warm_up(self, *, on_done: Callable[[str], None] | None = None) -> None:
        """Compile what requests would otherwise compile; `on_done(label)` after each step."""
        ...

    def check_images(self, images: list[Image.Image]) -> None:
        """Raise `errors.UnsupportedInput` for an image the model cannot take."""
        ...

    def load_loras(self, loras: Sequence[LoraFile]) -> list[str]:
        """Load (or find in memory) each LoRA before the run; raise `errors.AdapterError` for
        one that does not fit (or for any, in a model that takes none)."""
        ...

    def run(
        self,
        model_id: str,
        request: Any,
        images: list[Image.Image],
        *,
        on_step: StepCallback | None = None,
        loras: Sequence[tuple[LoraFile, float]] = (),
        previews: PreviewRequest | None = None,
    ) -> RunResult:
        """Run one request of `model_id` (validated by its registry `input_model`).

        `loras`: (file, scale) pairs active for this run only. `previews`: what to preview
        and where to send it; the outputs are the same with or without, and a preview that
        fails is left out, never failing the run. Raises `errors.Canceled` when `on_step`
        returns False; any other exception fails the run at inference.
        """
        ...
