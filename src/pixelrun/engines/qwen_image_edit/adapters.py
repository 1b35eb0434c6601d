"""LoRA adapters in the transformer: loaded once, active for one call, off again after it.

diffusers' LoRA loader (PEFT) wraps the targeted linear layers. With the adapters disabled
a wrapped layer computes exactly its base layer, so a run without LoRAs after a run with
them is the base model bit for bit. Adapters are never fused into the weights: fusing and
unfusing rounds the base weights (see docs/performance.md for the measurement).

Loaded adapters are kept by name (derived from the file's content hash); beyond
`capacity` the least recently used one is deleted. Pinned adapters (the Lightning LoRA)
never count and are never deleted.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence

from diffusers import QwenImageEditPlusPipeline
from safetensors import SafetensorError
from safetensors.torch import load_file

from pixelrun.engines.engine import LoraFile
from pixelrun.engines.errors import AdapterError

log = logging.getLogger(__name__)


class LoraError(AdapterError):
    """A LoRA file that does not fit the model; the message names the file and the problem."""

    def __init__(self, label: str, problem: str) -> None:
        super().__init__(f"LoRA {label}: {problem}")
        self.label = label
        self.problem = problem


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # PyTorch's "Error(s) in loading state_dict" puts the useful part on the 2nd line.
    if len(lines) > 1 and lines[0].lower().startswith("error(s) in loading"):
        return lines[1][:300]
    return lines[0][:300]


@contextlib.contextmanager
def _quiet_peft() -> Iterator[None]:
    # PEFT warns when a model with adapters gets another one, or loses the active one:
    # both are what this class does on purpose.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Already found a `peft_config`")
        warnings.filterwarnings("ignore", message="Adapter .* was active which is now deleted")
        yield


class AdapterSet:
    def __init__(self, pipeline: QwenImageEditPlusPipeline, capacity: int = 4) -> None:
        self.pipeline = pipeline
        self.capacity = max(0, capacity)
        self._loaded: OrderedDict[str, None] = OrderedDict()
        self._pinned: set[str] = set()

    @property
    def loaded(self) -> list[str]:
        """Names of the user adapters in memory, least recently used first."""
        return list(self._loaded)

    def _in_model(self, name: str) -> bool:
        return name in getattr(self.pipeline.transformer, "peft_config", {})

    def load(self, lora: LoraFile, *, name: str | None = None, pinned: bool = False) -> str:
        """Load `lora` unless it is in memory already; returns its adapter name. Raises `LoraError`."""
        name = name or lora.adapter_name
        if self._in_model(name):
            if name in self._loaded:
                self._loaded.move_to_end(name)
            return name
        try:
            state_dict = load_file(str(lora.path))
        except (SafetensorError, OSError, ValueError) as error:
            raise LoraError(lora.label, f"not a readable .safetensors file ({_first_line(error)})") from error
        if not state_dict:
            raise LoraError(lora.label, "the file holds no tensors")
        try:
            with _quiet_peft():
                self.pipeline.load_lora_weights(state_dict, adapter_name=name)
        except Exception as error:
            self._forget(name)
            raise LoraError(lora.label, f"does not fit this model: {_first_line(error)}") from error
        finally:
            self._all_off()
        if not self._in_model(name):
            raise LoraError(
                lora.label,
                f"none of its {len(state_dict)} tensors matches a layer of this model's transformer "
                "(a LoRA for another architecture?)",
            )
        log.info("LoRA %s loaded as %s", lora.label, name)
        if pinned:
            self._pinned.add(name)
        else:
            self._loaded[name] = None
        return name

    def evict(self, keep: Sequence[str] = ()) -> None:
        """Delete least recently used adapters beyond `capacity`, never one in `keep`."""
        for name in list(self._loaded):
            if len(self._loaded) <= self.capacity:
                return
            if name not in keep:
                self._forget(name)
                log.info("LoRA adapter %s unloaded (cache of %d)", name, self.capacity)

    def _forget(self, name: str) -> None:
        self._loaded.pop(name, None)
        if self._in_model(name):
            with _quiet_peft():
                self.pipeline.delete_adapters(name)

    def _all_off(self) -> None:
        if getattr(self.pipeline.transformer, "peft_config", None):
            self.pipeline.transformer.disable_lora()

    @contextlib.contextmanager
    def active(self, adapters: Sequence[tuple[str, float]]) -> Iterator[None]:
        """Adapters (name, scale) on for the duration; all off afterwards, even on error.

        Scale 0 leaves an adapter out entirely, so such a run is the base model exactly.
        """
        wanted = [(name, scale) for name, scale in adapters if scale != 0]
        if not wanted:
            self._all_off()
            yield
            return
        transformer = self.pipeline.transformer
        try:
            transformer.enable_lora()
            transformer.set_adapters([name for name, _ in wanted], [scale for _, scale in wanted])
            yield
        finally:
            self._all_off()
            self.evict(keep=[name for name, _ in adapters])
