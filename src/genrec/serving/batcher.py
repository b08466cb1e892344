"""Micro-batching: concurrent requests gathered on the event loop and handed to a synchronous
function in one call on a worker thread (decoding 64 users at once costs a fraction of 64
single decodes). The queue is bounded: a full one refuses at once (429) instead of letting
latency grow without bound, and closing answers every request already accepted (drain)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class QueueFull(Exception):
    """The batcher holds ``max_queue`` waiting requests already: try again later."""


class Closed(Exception):
    """The batcher is shutting down and takes no new requests."""


class MicroBatcher(Generic[T, R]):
    """Calls ``process(items) -> results`` (same length and order; a result may be an
    exception, raised to that caller alone) on ``executor`` with up to ``max_batch`` items:
    the first waiting item opens a batch and others join it for at most ``max_wait_ms``.
    ``on_batch(size)`` is told each batch's size (metrics)."""

    def __init__(
        self,
        process: Callable[[Sequence[T]], Sequence[R | Exception]],
        executor: Executor,
        *,
        max_batch: int,
        max_wait_ms: float,
        max_queue: int,
        on_batch: Callable[[int], None] = lambda size: None,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError(
                f"need max_batch >= 1, max_queue >= 1, max_wait_ms >= 0; got {max_batch}, "
                f"{max_queue}, {max_wait_ms}"
            )
        self.process = process
        self.executor = executor
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def depth(self) -> int:
        """Requests waiting for a batch (not counting the one being decoded)."""
        return 0 if self._queue is None else self._queue.qsize()

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done() and not self._closing

    def start(self) -> None:
        """Start gathering on the running event loop."""
        self._queue = asyncio.Queue(self.max_queue)
        self._closing = False
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, item: T) -> R:
        """``item``'s result once its batch is processed; raises QueueFull or Closed at once."""
        if self._queue is None or self._closing:
            raise Closed("the service is shutting down")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((item, future))
        except asyncio.QueueFull:
            raise QueueFull(f"{self.max_queue} requests are waiting already") from None
        return await future

    async def close(self) -> None:
        """Refuse new items, answer every accepted one, then stop."""
        self._closing = True
        if self._queue is not None:
            await self._queue.join()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._worker = None

    async def _gather(self) -> list[tuple[T, asyncio.Future[R]]]:
        """The next batch: waits for one item, then up to ``max_wait`` for more."""
        assert self._queue is not None
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except asyncio.TimeoutError:  # noqa: UP041 - a distinct class on Python 3.10
                break
        return batch

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            live = [(item, future) for item, future in batch if not future.done()]  # gone: skip
            try:
                if live:
                    self.on_batch(len(live))
                    items = [item for item, _ in live]
                    results = await loop.run_in_executor(self.executor, self.process, items)
                    for (_, future), result in zip(live, results, strict=True):
                        _settle(future, result)
            except Exception as exc:  # the whole call failed: every caller in it hears why
                for _, future in live:
                    _settle(future, exc)
            finally:
                for _ in batch:
                    self._queue.task_done()


def _settle(future: asyncio.Future[R], result: R | Exception) -> None:
    if future.done():  # the caller went away meanwhile
        return
    if isinstance(result, Exception):
        future.set_exception(result)
    else:
        future.set_result(result)
