"""Timing of gpu_engine.py: a clock (CUDA events on a GPU, perf_counter on a CPU), hooks on the
pipeline's components that mark where the text encoder, the VAE and each transformer call
start and end, and which transformer calls were full passes, and the wall clock of each phase.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import QwenImageEditPlusPipeline


class Clock:
    """CUDA events on a GPU (no synchronisation while the run goes on), perf_counter on a CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"

    def mark(self) -> Any:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def seconds(self, start: Any, end: Any) -> float:
        if self.cuda:
            return float(start.elapsed_time(end)) / 1000
        return float(end - start)

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)


@dataclass
class TransformerCall:
    start: Any
    end: Any = None
    image_tokens: int = 0
    text_tokens: int = 0
    img_shapes: tuple[tuple[int, int, int], ...] = ()
    full: bool = False


class ComponentTimer:
    """Hooks on the pipeline's components that mark where each one starts and ends.

    Lives in the bench only; `close()` removes every hook and wrapper again.
    """

    def __init__(self, pipeline: QwenImageEditPlusPipeline, clock: Clock) -> None:
        self.clock = clock
        self.pipeline = pipeline
        self.intervals: dict[str, list[tuple[Any, Any]]] = {
            "text_encoder": [],
            "vae_encode": [],
            "vae_decode": [],
        }
        self.calls: list[TransformerCall] = []
        self.step_marks: list[Any] = []
        self._open: dict[str, Any] = {}
        self._full_ticks = 0
        self._ticks_at_start = 0
        self._handles: list[Any] = []

        encoder = pipeline.text_encoder
        self._handles.append(encoder.register_forward_pre_hook(lambda *_: self._begin("text_encoder")))
        self._handles.append(encoder.register_forward_hook(lambda *_: self._finish("text_encoder")))

        transformer = pipeline.transformer
        self._handles.append(transformer.register_forward_pre_hook(self._transformer_begin, with_kwargs=True))
        self._handles.append(transformer.register_forward_hook(self._transformer_finish))
        # The engine's own rule for a full pass: the last block's feed-forward runs only then.
        last_mlp = transformer.transformer_blocks[-1].img_mlp
        self._handles.append(last_mlp.register_forward_pre_hook(self._tick))

        self._vae = pipeline.vae
        self._vae.encode = self._wrap("vae_encode", self._vae.encode)
        self._vae.decode = self._wrap("vae_decode", self._vae.decode)

    # -- hooks
    def _begin(self, name: str) -> None:
        self._open[name] = self.clock.mark()

    def _finish(self, name: str) -> None:
        self.intervals[name].append((self._open.pop(name), self.clock.mark()))

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._begin(name)
            try:
                return method(*args, **kwargs)
            finally:
                self._finish(name)

        return timed

    def _tick(self, *_: Any) -> None:
        self._full_ticks += 1

    def _transformer_begin(self, _module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        call = TransformerCall(start=self.clock.mark())
        call.image_tokens = int(kwargs["hidden_states"].shape[1])
        call.text_tokens = int(kwargs["encoder_hidden_states"].shape[1])
        call.img_shapes = tuple(tuple(int(v) for v in shape) for shape in kwargs["img_shapes"][0])
        self._ticks_at_start = self._full_ticks
        self.calls.append(call)

    def _transformer_finish(self, *_: Any) -> None:
        call = self.calls[-1]
        call.end = self.clock.mark()
        call.full = self._full_ticks > self._ticks_at_start

    def on_step(self, _step: int, _steps: int) -> None:
        self.step_marks.append(self.clock.mark())

    # -- bookkeeping
    def reset(self) -> None:
        for marks in self.intervals.values():
            marks.clear()
        self.calls.clear()
        self.step_marks.clear()

    def total(self, name: str) -> float:
        return sum(self.clock.seconds(a, b) for a, b in self.intervals[name])

    def transformer_seconds(self) -> float:
        return sum(self.clock.seconds(c.start, c.end) for c in self.calls)

    def loop_seconds(self) -> float:
        if not self.calls or not self.step_marks:
            return 0.0
        return self.clock.seconds(self.calls[0].start, self.step_marks[-1])

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        # The wrappers are instance attributes; deleting them uncovers the class methods.
        del self._vae.encode
        del self._vae.decode


class Phases:
    """Wall-clock seconds of each phase of a run (import, build, warm-up, measure, ...), printed as
    each ends and kept for the JSON under the names bench/gpu_plan.py estimates."""

    def __init__(self, clock: Clock, on_record: Callable[[], None]) -> None:
        self.clock = clock
        self.records: list[dict[str, Any]] = []
        self._on_record = on_record

    def add(self, name: str, seconds: float) -> None:
        self.records.append({"name": name, "s": round(seconds, 3)})
        print(f"phase {name}: {seconds:.1f} s", file=sys.stderr, flush=True)
        self._on_record()

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.clock.sync()
        self.add(name, time.perf_counter() - started)
