"""Run statuses, failure stages and the legal transitions between statuses."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    DISPATCHING = "dispatching"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


class FailureStage(StrEnum):
    VALIDATION = "validation"
    INPUT_FETCH = "input_fetch"
    INFERENCE = "inference"
    SAFETY = "safety"
    STORAGE = "storage"
    TIMEOUT = "timeout"
    INTERNAL = "internal"


TERMINAL_STATUSES: frozenset[RunStatus] = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED}
)

# Statuses in which a worker holds the run under a lease.
LEASED_STATUSES: frozenset[RunStatus] = frozenset({RunStatus.DISPATCHING, RunStatus.RUNNING})

STATUS_DESCRIPTIONS: dict[RunStatus, str] = {
    RunStatus.QUEUED: "Waiting for a worker that serves the model.",
    RunStatus.DISPATCHING: "A worker claimed the run and is fetching and checking the inputs.",
    RunStatus.RUNNING: "The model is computing the outputs.",
    RunStatus.SUCCEEDED: "Finished; the outputs are in `output`.",
    RunStatus.FAILED: "Finished without outputs; see failure_code, failure_message and failure_stage_code.",
    RunStatus.CANCELED: "Canceled on request; not billed.",
}

_ALLOWED: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.DISPATCHING, RunStatus.CANCELED, RunStatus.FAILED}),
    # A leased run may go back to queued: graceful shutdown or an expired lease.
    RunStatus.DISPATCHING: frozenset({RunStatus.RUNNING, RunStatus.QUEUED}) | TERMINAL_STATUSES,
    RunStatus.RUNNING: frozenset({RunStatus.QUEUED}) | TERMINAL_STATUSES,
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELED: frozenset(),
}


def can_transition(old: RunStatus | str, new: RunStatus | str) -> bool:
    """Whether a run may move from `old` to `new` (unknown strings are never legal)."""
    try:
        return RunStatus(new) in _ALLOWED[RunStatus(old)]
    except ValueError:
        return False
