"""The caller's identity and credit."""

from __future__ import annotations

from fastapi import APIRouter

from pixelrun.api.deps import CurrentAuth, ServicesDep
from pixelrun.api.wire import BalanceOut, ErrorOut, MeOut
from pixelrun.runs import micros_to_cents, micros_to_usd

router = APIRouter(
    tags=["account"],
    responses={401: {"model": ErrorOut, "description": "Missing or invalid API key"}},
)


@router.get("/auth/me", response_model=MeOut, summary="The caller's owner and key")
def me(auth: CurrentAuth) -> MeOut:
    return MeOut.from_auth(auth)


@router.get("/billing/balance", response_model=BalanceOut, summary="Credit left and money spent")
def balance(auth: CurrentAuth, services: ServicesDep) -> BalanceOut:
    budget, spent = services.store.owners.balance(auth.owner_id)
    # Micro-dollars in the store: the balance is exactly budget minus the runs' costs (docs/api.md#billing).
    left = None if budget is None else budget - spent
    return BalanceOut(
        balance_usd=None if left is None else micros_to_usd(left),
        spent_usd=micros_to_usd(spent),
        balance_cents=None if left is None else micros_to_cents(left),
        spent_cents=micros_to_cents(spent),
    )
