"""MicroBatcher: gathering, per-item failures, a bounded queue and draining on close."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from genrec.serving.batcher import Closed, MicroBatcher, QueueFull


def doubled(items):
    return [ValueError(f"bad {i}") if i < 0 else 2 * i for i in items]


def run(coroutine):
    return asyncio.run(coroutine)


def test_concurrent_items_share_batches_up_to_max_batch():
    sizes = []

    async def main():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(
                doubled, pool, max_batch=4, max_wait_ms=50, max_queue=100, on_batch=sizes.append
            )
            batcher.start()
            results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
            await batcher.close()
        return results

    assert run(main()) == [2 * i for i in range(10)]
    assert sizes == [4, 4, 2]


def test_an_items_exception_reaches_only_its_caller():
    async def main():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(doubled, pool, max_batch=8, max_wait_ms=20, max_queue=8)
            batcher.start()
            results = await asyncio.gather(
                *(batcher.submit(i) for i in (1, -1, 3)), return_exceptions=True
            )
            await batcher.close()
        return results

    one, bad, three = run(main())
    assert (one, three) == (2, 6) and isinstance(bad, ValueError) and str(bad) == "bad -1"


def test_a_full_queue_refuses_at_once_and_close_drains_what_was_accepted():
    release = threading.Event()

    def slow(items):
        release.wait(10)
        return doubled(items)

    async def main():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(slow, pool, max_batch=1, max_wait_ms=0, max_queue=2)
            batcher.start()
            accepted = [asyncio.ensure_future(batcher.submit(0))]
            await asyncio.sleep(0.05)  # 0 is decoding
            accepted += [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
            await asyncio.sleep(0.05)  # two waiting: the queue is full
            assert batcher.depth == 2
            with pytest.raises(QueueFull):
                await batcher.submit(99)
            closing = asyncio.ensure_future(batcher.close())
            await asyncio.sleep(0.05)
            with pytest.raises(Closed):
                await batcher.submit(5)
            assert not batcher.running and not closing.done()
            release.set()
            await closing
            return [f.result() for f in accepted]

    assert run(main()) == [0, 2, 4]


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="max_batch >= 1"):
        MicroBatcher(doubled, ThreadPoolExecutor(1), max_batch=0, max_wait_ms=1, max_queue=1)
