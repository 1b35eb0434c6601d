"""Helpers shared by the dispatcher tests (a module, not conftest: test files cannot
import a conftest reliably when several directories have one)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pixelrun.callbacks import CallbackDispatcher
from pixelrun.store import RunRecord

MODEL = "alibaba/qwen-image-edit-2511"
STORED_OUTPUT = {
    "outputs": [
        {"key": "runs/r/0.png", "type": "image", "content_type": "image/png", "width": 8, "height": 8}
    ],
    "seed": 7,
}


def url_for(key: str) -> str:
    return f"http://files.test/v1/files/{key}?expires=1&signature=abc"


FinishRun = Callable[..., RunRecord]
MakeDispatcher = Callable[..., CallbackDispatcher]


async def drive(
    dispatchers: list[CallbackDispatcher], until: Callable[[], bool], timeout: float = 15.0
) -> None:
    """Run the dispatchers until `until()` holds (checked in a thread: it may query the store)."""
    tasks = [asyncio.create_task(d.run()) for d in dispatchers]
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await asyncio.to_thread(until):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not reached in time")
            for task in tasks:
                if task.done():
                    task.result()  # a crashed dispatcher fails the test with its error
            await asyncio.sleep(0.02)
    finally:
        for d in dispatchers:
            d.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
