"""Liveness and readiness for every service.

Liveness means "made progress recently": a consumer that has work but has not finished a message for
`stall_seconds` is not live (arroyo's signal). Readiness means the broker and the database answer.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pipeline_common.metrics import LAST_PROGRESS


@dataclass
class Progress:
    stage: str
    stall_seconds: float = 120.0
    last_progress: float = field(default_factory=time.monotonic)
    in_flight: int = 0
    stopped_reason: str | None = None

    def started(self) -> None:
        self.in_flight += 1

    def finished(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        self.last_progress = time.monotonic()
        LAST_PROGRESS.labels(self.stage).set_to_current_time()

    def live(self) -> tuple[bool, str]:
        if self.stopped_reason:
            return False, self.stopped_reason
        idle_with_work = self.in_flight > 0 and time.monotonic() - self.last_progress > self.stall_seconds
        if idle_with_work:
            return False, f"no message finished for {self.stall_seconds:.0f}s while {self.in_flight} in flight"
        return True, "ok"


ReadinessCheck = Callable[[], Awaitable[None]]


async def run_checks(checks: dict[str, ReadinessCheck]) -> dict[str, str]:
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await check()
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"failed: {type(exc).__name__}"
    return results
