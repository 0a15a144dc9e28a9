"""eflux.lib.group_commit: concurrent requests share one write; answers only after it; failures isolated."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError

from eflux.lib.group_commit import GroupCommit


def run(coro):
    # On a thread of its own: Playwright's sync API (browser tests in the same run) keeps a loop in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_concurrent_requests_share_one_write_and_wait_for_it():
    writes, done = [], []

    async def write(items):
        await asyncio.sleep(0.01)
        writes.append(list(items))

    async def main():
        gc = GroupCommit(write)

        async def one(i):
            await gc.submit(i)
            done.append((i, len(writes)))  # answered only after a write that contained it

        await asyncio.gather(*(one(i) for i in range(10)))

    run(main())
    assert sorted(i for batch in writes for i in batch) == list(range(10))
    assert len(writes) <= 2  # the first request alone, then everyone who queued meanwhile
    for i, writes_before_answer in done:
        assert any(i in batch for batch in writes[:writes_before_answer])


def test_a_bad_request_fails_alone():
    async def write(items):
        if "poison" in items:
            raise ValueError("bad message")

    async def main():
        gc = GroupCommit(write)
        return await asyncio.gather(*(gc.submit(x) for x in ("a", "poison", "b")), return_exceptions=True)

    results = run(main())
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], ValueError)


def test_database_down_fails_every_request_of_the_batch():
    calls = []

    async def write(items):
        calls.append(list(items))
        raise OperationalError("connection refused")

    async def main():
        gc = GroupCommit(write, fatal=(OperationalError,))
        return await asyncio.gather(*(gc.submit(x) for x in range(3)), return_exceptions=True)

    results = run(main())
    assert all(isinstance(r, OperationalError) for r in results)
    assert sum(len(c) for c in calls) == 3  # no per-item retries against a database that is down


def test_each_caller_gets_its_own_result():
    async def write(items):
        return [f"row-{i}" for i in items]

    async def main():
        gc = GroupCommit(write)
        return await asyncio.gather(*(gc.submit(i) for i in range(5)))

    assert run(main()) == [f"row-{i}" for i in range(5)]


def test_it_works_again_on_a_new_event_loop():
    writes = []

    async def write(items):
        writes.append(list(items))

    gc = GroupCommit(write)
    run(gc.submit(1))
    # A second loop (e.g. another test) must not wait on the first loop's state: bounded, it would hang.
    run(asyncio.wait_for(gc.submit(2), 10))
    assert writes == [[1], [2]]


@pytest.mark.parametrize("size", [1, 5])
def test_batches_respect_the_maximum(size):
    writes = []

    async def write(items):
        writes.append(len(items))
        await asyncio.sleep(0)

    async def main():
        gc = GroupCommit(write, max_batch=size)
        await asyncio.gather(*(gc.submit(i) for i in range(12)))

    run(main())
    assert max(writes) <= size and sum(writes) == 12
