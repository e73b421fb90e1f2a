import math
import time
from collections import deque

WINDOW_SECONDS = 60.0


class SlidingWindowLimiter:
    """Per-key sliding 60 s window. Rejected requests do not occupy a slot, so a polite client recovers."""

    def __init__(self) -> None:
        self._windows: dict[str, deque[float]] = {}

    def hit(self, key: str, limit: int) -> int | None:
        """Records a request; returns None when allowed, else the integer seconds until a slot frees."""
        now = time.monotonic()
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = deque()
        cutoff = now - WINDOW_SECONDS
        while window and window[0] <= cutoff:
            window.popleft()
        if len(window) >= limit:
            return max(1, math.ceil(window[0] + WINDOW_SECONDS - now))
        window.append(now)
        return None

    def clear(self) -> None:
        self._windows.clear()
