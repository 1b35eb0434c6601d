"""One registry entry: a model id, how the API shows, checks and prices it, and what serves it.

Torch-free: the API reads every field but `load_engine`, which imports the engine's
package (and torch) only when a worker calls it (docs/adding-a-model.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from pixelrun.config import Settings
    from pixelrun.engines.engine import Engine, RunInput

#: Loads the engine for the given served model ids (all served by it). Raises
#: `WeightsUnavailable` with one line a person can act on when it cannot.
EngineLoader = Callable[["Settings", Sequence[str]], "Engine"]


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    description: str
    #: The run `input` (a `RunInput`): the API validates creates with it, the worker runs with it.
    input_model: type[BaseModel]
    #: The `output` of a succeeded run, as `/v1/models` publishes it.
    output_model: type[BaseModel]
    #: Upper bound of a run's cost in micro-dollars from its validated input (the credit check).
    estimate_micros: Callable[[Any], int]
    #: The same loader for model ids one engine serves together (one worker loads it once).
    load_engine: EngineLoader

    def validate_input(self, raw: Any) -> RunInput:
        """The validated `input` of a run of this model; raises pydantic's `ValidationError`."""
        return self.input_model.model_validate(raw)  # type: ignore[return-value]
