"""The Kafka side of the fetch queue: requests from concurrent handlers are inserted in micro-batches.

Each handler call waits until its request is durable (the batch's transaction committed), so an offset is
committed only after its job is in Postgres; one commit serves every request that arrived while the previous
batch was being written. One batch is written at a time.
"""

from __future__ import annotations

import asyncio
import contextlib

from fetcher.queue import Enqueued, FetchQueue
from pipeline_common.events import CURRENT_TRACEPARENT, ImportRequested


class Intake:
    def __init__(self, queue: FetchQueue, *, max_batch: int = 200) -> None:
        self.queue = queue
        self.max_batch = max_batch
        self._waiting: list[tuple[ImportRequested, str | None, bool, asyncio.Future[tuple[Enqueued, int]]]] = []
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="fetch-intake")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for *_, future in self._waiting:
            if not future.done():
                future.set_exception(RuntimeError("fetcher stopping; the request was not queued"))
        self._waiting.clear()

    async def submit(self, request: ImportRequested, *, replay: bool = False) -> tuple[Enqueued, int]:
        """`replay`: an operator sent a dead letter back (FetchQueue.enqueue)."""
        future: asyncio.Future[tuple[Enqueued, int]] = asyncio.get_running_loop().create_future()
        # The handler's trace context is captured here: the batch runs later, in this intake's own task.
        self._waiting.append((request, CURRENT_TRACEPARENT.get(), replay, future))
        self._kick.set()
        return await future

    async def _loop(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            while self._waiting:
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                try:
                    results = await self.queue.enqueue_many(
                        [r for r, *_ in batch], traces=[t for _, t, _, _ in batch], replays=[p for _, _, p, _ in batch]
                    )
                except Exception as exc:
                    # The handlers see the failure and the stage runtime retries those messages.
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (*_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
