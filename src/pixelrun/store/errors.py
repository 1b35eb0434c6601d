"""Errors raised by the store."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the store's errors."""


class InsufficientCredit(StoreError):
    """The owner's remaining budget cannot cover the run's estimated cost."""

    def __init__(self, owner_id: str, available_micros: int, required_micros: int) -> None:
        super().__init__(
            f"owner {owner_id} has {available_micros} micro-dollars of credit left; "
            f"the run needs {required_micros}"
        )
        self.owner_id = owner_id
        self.available_micros = available_micros
        self.required_micros = required_micros


class RunNotFound(StoreError):
    """No such run, or it belongs to another owner."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} not found")
        self.run_id = run_id


class OwnerNotFound(StoreError):
    def __init__(self, owner_id: str) -> None:
        super().__init__(f"owner {owner_id} not found")
        self.owner_id = owner_id


class InvalidCursor(StoreError, ValueError):
    """A pagination cursor that this store did not produce."""


class IllegalTransition(StoreError, ValueError):
    """A status change that the run domain forbids."""


class DeliveryInFlight(StoreError):
    """A redelivery was asked while a delivery of the same run is still pending."""

    def __init__(self, run_id: str, delivery_id: str) -> None:
        super().__init__(f"a callback delivery of run {run_id} is still pending ({delivery_id})")
        self.run_id = run_id
        self.delivery_id = delivery_id


class RedeliveryNotAllowed(StoreError):
    """The run has nothing to deliver: it is not terminal yet, or has no callback_url."""

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__(f"run {run_id}: {reason}")
        self.run_id = run_id
        self.reason = reason


class IdempotencyConflict(StoreError):
    """An `Idempotency-Key` of this owner was used within its lifetime for another request."""

    def __init__(self, key: str, run_id: str) -> None:
        super().__init__(f"idempotency key {key!r} was used for another request (run {run_id})")
        self.key = key
        self.run_id = run_id


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached now (worth retrying later).

    PostgreSQL down, restarting, or the connection cut: the driver's OperationalError or
    InterfaceError (SQLAlchemy marks a cut connection `connection_invalidated`). On
    SQLite only a lock held past the busy timeout or a file that cannot be opened count:
    its other OperationalErrors (e.g. a missing table) are bugs, not outages.
    """
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        module = type(exc.orig).__module__ if exc.orig is not None else ""
        if module.startswith("sqlite3"):
            text = str(exc.orig).lower()
            return "locked" in text or "unable to open" in text or "disk i/o" in text
        return True
    # A pool that cannot hand out a connection in time is an outage for the caller too.
    return isinstance(exc, sa_exc.TimeoutError)
