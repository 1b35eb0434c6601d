"""`WeightsUnavailable`: the model cannot be loaded, for a reason a person can fix.

Torch-free, so the CLI, the worker and the supervisor can raise, catch and show it
without importing the engine.
"""

from __future__ import annotations

from typing import Literal

#: Why weights cannot be loaded; stored with a failed worker and shown by readiness.
Reason = Literal[
    "not_found",  # a path that does not exist
    "not_a_directory",  # a path that is a file
    "incomplete",  # a directory that is not a complete checkpoint
    "no_hub_access",  # a Hugging Face id, not cached, and the Hub cannot be reached
    "unknown_model",  # a Hugging Face id the Hub does not know (or that needs a token)
    "gpu_memory",  # the model does not fit on the GPU
    "wrong_device",  # the device asked for does not exist here
    "load_error",  # anything else the loader refused (corrupt file, wrong architecture)
    "crashed",  # the worker process died while loading (recorded by `pixelrun serve`)
]

#: Exit status of a process stopped by `WeightsUnavailable` (`pixelrun worker` marks itself
#: failed in the store first; `pixelrun serve` counts these towards its restart limit).
EXIT_WEIGHTS_UNAVAILABLE = 3

REASONS: frozenset[str] = frozenset(Reason.__args__)  # type: ignore[attr-defined]


class WeightsUnavailable(Exception):
    """One line for a person: what was tried and what to do. `reason` is for machines."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message
