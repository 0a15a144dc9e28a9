"""The one way a test waits for something to happen in another thread or process.

    wait_for(lambda: OcppCall.objects.get(pk=pk).is_final, message="the call to finish")
    await await_for(lambda: not Station.objects.get(pk=pk).is_connected, message="the station offline")

Both poll `predicate` until it returns something truthy and return that value, so a test can wait for a row
and use it. A predicate may raise to give up early (a process that exited, a simulator that crashed). The
timeout only bounds how long a test waits; it is never an assertion on speed. `message` (a string, or a
function called only on failure, e.g. to show a log) says what was waited for.

A negative check ("X did not happen") never sleeps: wait for a positive event that must come after X would
have happened (the next message in order), then check X is absent."""

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

TIMEOUT = 30.0
INTERVAL = 0.05

Message = str | Callable[[], str] | None


def _timed_out(message: Message, timeout: float) -> AssertionError:
    text = message() if callable(message) else message
    return AssertionError(f"not reached within {timeout:g} s: {text or 'condition'}")


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float = TIMEOUT,
    interval: float = INTERVAL,
    message: Message = None,
) -> Any:
    """Poll `predicate` until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise _timed_out(message, timeout)
        time.sleep(interval)


async def await_for(
    predicate: Callable[[], Any],
    *,
    timeout: float = TIMEOUT,
    interval: float = INTERVAL,
    message: Message = None,
) -> Any:
    """The same inside a coroutine. A plain function runs on a worker thread (so it may use the ORM); a
    coroutine function is awaited on the running loop."""
    deadline = time.monotonic() + timeout
    while True:
        if inspect.iscoroutinefunction(predicate):
            result = await predicate()
        else:
            result = await asyncio.to_thread(predicate)
        if result:
            return result
        if time.monotonic() >= deadline:
            raise _timed_out(message, timeout)
        await asyncio.sleep(interval)
