"""The caller's identity and credit."""

from __future__ import annotations

from fastapi import APIRouter

from pixelrun.api.deps import CurrentAuth, ServicesDep
from pixelrun.api.wire import BalanceOut, ErrorOut, MeOut

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
    return BalanceOut(balance_cents=None if budget is None else budget - spent, spent_cents=spent)
