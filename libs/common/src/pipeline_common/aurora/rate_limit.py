"""Per-key rate limiting, so the pipeline stays under Aurora's budget instead of learning it from 429s.

Aurora counts requests per API key in a sliding 60 s window. The limiter keeps, per key, the number of calls
in flight plus the completion times of recent calls. A slot is occupied from the moment a call is granted
until one window after it *completed*: the server saw the request no later than the client saw the answer,
so this bound holds whatever the network or connection-pool delays were. Waiters on one key are served
strictly in arrival order. State exists only for keys with recent activity and is swept once per window.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from pydantic import SecretStr


def api_key_fingerprint(token: str | SecretStr) -> str:
    """A stable, non-reversible label for a key: used as limiter key and in logs instead of the token."""
    raw = token.get_secret_value() if isinstance(token, SecretStr) else token
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass(slots=True)
class _KeyState:
    in_flight: int = 0
    completed: deque[float] = field(default_factory=deque)
    paused_until: float = 0.0
    waiters: deque[asyncio.Event] = field(default_factory=deque)


@dataclass(frozen=True, slots=True)
class Slot:
    """A granted call; `waited` is how long the caller queued for it (seconds)."""

    key: str
    waited: float


class RateLimiter:
    def __init__(
        self,
        requests_per_minute: int = 90,
        *,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_minute < 1:
            raise ValueError("requests_per_minute must be at least 1")
        self.limit = requests_per_minute
        self.window = window_seconds
        self._clock = clock
        self._states: dict[str, _KeyState] = {}
        self._last_sweep = clock()

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[Slot]:
        """Hold one request's worth of budget for `key` for the duration of the block."""
        waited = await self.acquire(key)
        try:
            yield Slot(key=key, waited=waited)
        finally:
            self.release(key)

    async def acquire(self, key: str) -> float:
        """Wait for a slot (FIFO per key) and return how long that took. Pair with `release`."""
        self._maybe_sweep()
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _KeyState()
        started = self._clock()
        if not state.waiters and self._delay(state, started) == 0.0:
            state.in_flight += 1
            return 0.0

        wake = asyncio.Event()
        state.waiters.append(wake)
        try:
            while True:
                if state.waiters[0] is wake:
                    delay = self._delay(state, self._clock())
                    if delay == 0.0:
                        break
                    wake.clear()
                    try:
                        # None: every slot is held by a call in flight; its release will wake us.
                        async with asyncio.timeout(delay):
                            await wake.wait()
                    except TimeoutError:
                        pass
                else:
                    wake.clear()
                    await wake.wait()
        except BaseException:
            was_head = bool(state.waiters) and state.waiters[0] is wake
            state.waiters.remove(wake)
            if was_head:
                self._wake_head(state)
            raise
        state.waiters.popleft()
        state.in_flight += 1
        # The next waiter may be grantable too (budget freed by several expiries at once).
        self._wake_head(state)
        return self._clock() - started

    def release(self, key: str) -> None:
        state = self._states.get(key)
        if state is None or state.in_flight == 0:
            return
        state.in_flight -= 1
        state.completed.append(self._clock())
        # The head may have been waiting on in-flight calls only; it can now compute a finite wait.
        self._wake_head(state)

    def pause(self, key: str, seconds: float) -> None:
        """Aurora said 429: hold every call on `key` until `seconds` from now."""
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _KeyState()
        state.paused_until = max(state.paused_until, self._clock() + max(0.0, seconds))
        self._wake_head(state)

    def paused_for(self, key: str) -> float:
        state = self._states.get(key)
        return max(0.0, state.paused_until - self._clock()) if state else 0.0

    def usage(self, key: str) -> int:
        """Budget currently held for `key` (in flight + completed within the window)."""
        state = self._states.get(key)
        if state is None:
            return 0
        self._expire(state, self._clock())
        return state.in_flight + len(state.completed)

    @property
    def tracked_keys(self) -> int:
        return len(self._states)

    def _expire(self, state: _KeyState, now: float) -> None:
        horizon = now - self.window
        completed = state.completed
        while completed and completed[0] <= horizon:
            completed.popleft()

    def _delay(self, state: _KeyState, now: float) -> float | None:
        """0.0 when a call may start now, else seconds until it might, or None if only a release can help."""
        if state.paused_until > now:
            return state.paused_until - now
        self._expire(state, now)
        if state.in_flight + len(state.completed) < self.limit:
            return 0.0
        if state.completed:
            return max(state.completed[0] + self.window - now, 1e-3)
        return None

    @staticmethod
    def _wake_head(state: _KeyState) -> None:
        if state.waiters:
            state.waiters[0].set()

    def _maybe_sweep(self) -> None:
        now = self._clock()
        if now - self._last_sweep < self.window:
            return
        self._last_sweep = now
        idle = []
        for key, state in self._states.items():
            self._expire(state, now)
            if not state.in_flight and not state.completed and not state.waiters and state.paused_until <= now:
                idle.append(key)
        for key in idle:
            del self._states[key]
