from __future__ import annotations

import itertools

import pytest

from pixelrun.runs import STATUS_DESCRIPTIONS, TERMINAL_STATUSES, FailureStage, RunStatus, can_transition

Q, D, R = RunStatus.QUEUED, RunStatus.DISPATCHING, RunStatus.RUNNING
S, F, C = RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED

LEGAL = {
    (Q, D), (Q, C), (Q, F),
    (D, R), (D, Q), (D, S), (D, F), (D, C),
    (R, Q), (R, S), (R, F), (R, C),
}  # fmt: skip


def test_values_match_the_wire() -> None:
    assert [s.value for s in RunStatus] == [
        "queued", "dispatching", "running", "succeeded", "failed", "canceled",
    ]  # fmt: skip
    assert [s.value for s in FailureStage] == [
        "validation", "input_fetch", "inference", "safety", "storage", "timeout", "internal",
    ]  # fmt: skip


def test_terminal_statuses() -> None:
    assert {S, F, C} == TERMINAL_STATUSES
    assert all(s.is_terminal == (s in TERMINAL_STATUSES) for s in RunStatus)


def test_every_status_has_one_line_of_description() -> None:
    assert set(STATUS_DESCRIPTIONS) == set(RunStatus)
    assert all(d and "\n" not in d for d in STATUS_DESCRIPTIONS.values())


@pytest.mark.parametrize(("old", "new"), list(itertools.product(RunStatus, RunStatus)))
def test_can_transition_matches_the_table(old: RunStatus, new: RunStatus) -> None:
    assert can_transition(old, new) == ((old, new) in LEGAL)


def test_can_transition_takes_strings_and_refuses_unknown() -> None:
    assert can_transition("queued", "dispatching")
    assert not can_transition("queued", "bogus")
    assert not can_transition("bogus", "queued")
