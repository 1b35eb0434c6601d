"""Periodic work on the store and file storage, the same code in API processes and workers.

    housekeeping.py  lease reaping, `Cancel-After` deadlines, the idempotency-key purge
    unserved.py      failing queued runs of models without a live worker
    retention.py     the retention janitor: stream rows, logs, files, assets, deliveries,
                     attempts, dead worker rows, old rate-limit windows
    deletion.py      deleting an asset (retention and `DELETE /v1/assets/{id}`)
    schedule.py      when passes run: on an event loop, or between a worker's runs

API processes start `for_api` housekeeping and the janitor in their lifespan
(api/background.py); workers run `for_worker` housekeeping in their loop (worker/loop.py).
Torch-free: the API imports it.
"""

from pixelrun.maintenance.deletion import delete_asset
from pixelrun.maintenance.housekeeping import (
    Housekeeping,
    expire_deadlines,
    for_api,
    for_worker,
    purge_idempotency_keys,
    reap_leases,
)
from pixelrun.maintenance.retention import Janitor, JanitorReport
from pixelrun.maintenance.unserved import UnservedModels

__all__ = [
    "Housekeeping",
    "Janitor",
    "JanitorReport",
    "UnservedModels",
    "delete_asset",
    "expire_deadlines",
    "for_api",
    "for_worker",
    "purge_idempotency_keys",
    "reap_leases",
]
