"""The per-key limiter, with a short window so the tests run in about a second."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import SecretStr

from pipeline_common.aurora import RateLimiter, api_key_fingerprint

WINDOW = 0.4


def max_in_any_window(starts: list[float], ends: list[float], window: float) -> int:
    """Worst case for the server: a call counts from its start until `window` after its end."""
    worst = 0
    for t in starts:
        worst = max(worst, sum(1 for s, e in zip(starts, ends, strict=True) if s <= t < e + window))
    return worst


def test_fingerprint_is_stable_and_not_the_token() -> None:
    token = "sk_sand_abcdef123456"
    assert api_key_fingerprint(token) == api_key_fingerprint(SecretStr(token))
    assert token not in api_key_fingerprint(token)
    assert api_key_fingerprint(token) != api_key_fingerprint("sk_sand_other")


async def test_budget_holds_under_concurrency() -> None:
    limiter = RateLimiter(5, window_seconds=WINDOW)
    starts: list[float] = []
    ends: list[float] = []
    waits: list[float] = []

    async def call() -> None:
        async with limiter.slot("k") as slot:
            starts.append(time.monotonic())
            waits.append(slot.waited)
            await asyncio.sleep(0.01)
            ends.append(time.monotonic())

    began = time.monotonic()
    await asyncio.gather(*(call() for _ in range(12)))
    assert max_in_any_window(sorted(starts), sorted(ends), WINDOW) <= 5
    # 12 calls at 5 per window need two refills.
    assert time.monotonic() - began >= 2 * WINDOW
    assert sorted(waits)[:5] == [0.0] * 5
    assert max(waits) >= 2 * WINDOW * 0.9


async def test_waiters_are_served_in_arrival_order() -> None:
    limiter = RateLimiter(2, window_seconds=0.1)
    order: list[int] = []

    async def call(i: int) -> None:
        await asyncio.sleep(i * 0.001)  # deterministic arrival order
        async with limiter.slot("k"):
            order.append(i)

    await asyncio.gather(*(call(i) for i in range(8)))
    assert order == list(range(8))


async def test_keys_are_independent() -> None:
    limiter = RateLimiter(1, window_seconds=10)
    await limiter.acquire("a")
    limiter.release("a")
    started = time.monotonic()
    assert await limiter.acquire("b") == 0.0
    limiter.release("b")
    assert time.monotonic() - started < 0.05


async def test_slot_held_while_in_flight_and_one_window_after() -> None:
    limiter = RateLimiter(1, window_seconds=0.2)
    await limiter.acquire("k")
    waiter = asyncio.create_task(limiter.acquire("k"))
    await asyncio.sleep(0.3)
    assert not waiter.done(), "the only slot is still in flight"
    released = time.monotonic()
    limiter.release("k")
    waited = await waiter
    assert time.monotonic() - released >= 0.19
    assert waited >= 0.45
    limiter.release("k")


async def test_pause_holds_the_key() -> None:
    limiter = RateLimiter(100, window_seconds=60)
    limiter.pause("k", 0.3)
    assert limiter.paused_for("k") > 0.2
    waited = await limiter.acquire("k")
    limiter.release("k")
    assert waited >= 0.28
    assert await limiter.acquire("other") == 0.0


async def test_pause_extends_but_never_shortens() -> None:
    limiter = RateLimiter(10)
    limiter.pause("k", 5)
    limiter.pause("k", 0.1)
    assert limiter.paused_for("k") > 4


async def test_cancelled_waiter_does_not_block_the_queue() -> None:
    limiter = RateLimiter(1, window_seconds=0.2)
    await limiter.acquire("k")
    limiter.release("k")
    first = asyncio.create_task(limiter.acquire("k"))
    second = asyncio.create_task(limiter.acquire("k"))
    await asyncio.sleep(0.01)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1) >= 0.15
    limiter.release("k")
    assert limiter.usage("k") == 1


async def test_idle_keys_are_forgotten() -> None:
    limiter = RateLimiter(10, window_seconds=0.05)
    for i in range(1000):
        async with limiter.slot(f"key-{i}"):
            pass
    assert limiter.tracked_keys == 1000
    await asyncio.sleep(0.12)
    async with limiter.slot("fresh"):
        pass
    assert limiter.tracked_keys == 1


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RateLimiter(0)
