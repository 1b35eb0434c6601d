"""The errors a worker catches from any engine (docs/adding-a-model.md).

An engine raises its own subclasses (with fields of its own); the worker knows only these.
"""

from __future__ import annotations


class UnsupportedInput(ValueError):
    """An input the engine cannot take: the run fails at input fetch; the message says why."""


class AdapterError(ValueError):
    """A LoRA (or other per-run adapter) that does not fit the model; the message names it."""


class Canceled(Exception):
    """The run stopped before producing anything: the step callback said stop, or the run
    was no longer this worker's to run. Nothing is written for it."""
