"""How long to wait before trying again, and when to stop: one rule for every retry in the pipeline.

Used by the stage runtime (Kafka retry topic), the fetcher's queue (jobs and backfill walks) and the Aurora
client (HTTP attempts). Each owner configures its own numbers through its settings (`STAGE_*` here,
`FETCHER_*` and `AURORA_*` in theirs); the formula and the "is this the last attempt?" rule live only here.

Attempts count from 1: attempt 1 is the first try, and `delay(n)` is the wait after try n failed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline_common.errors import PermanentError


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0
    # Consecutive failed messages after which a stage stops consuming (stage.py); unused by other owners.
    breaker_threshold: int = 50

    def ceiling(self, attempt: int) -> float:
        """The longest wait after try `attempt` failed: doubling from `base_delay`, capped at `max_delay`."""
        return min(self.max_delay, self.base_delay * 2.0 ** max(0, attempt - 1))

    def delay(self, attempt: int, jitter: Callable[[], float] = random.random) -> float:
        # Full jitter (a uniform share of the ceiling): retries of a burst that failed together spread out
        # instead of arriving together again, while the expected wait still doubles.
        return self.ceiling(attempt) * jitter()

    def exhausted(self, attempt: int) -> bool:
        """Try `attempt` was the last one allowed."""
        return attempt >= self.max_attempts

    def retries(self, exc: BaseException, attempt: int) -> bool:
        """Whether a failure of try `attempt` is tried again: anything not declared permanent is, until the
        attempts run out (a handler cannot list every transient failure)."""
        return not isinstance(exc, PermanentError) and not self.exhausted(attempt)


class StageRetrySettings(BaseSettings):
    """The stage runtime's policy: how a handler failure travels through `<topic>.retry`."""

    model_config = SettingsConfigDict(env_prefix="STAGE_", extra="ignore")

    max_attempts: int = Field(default=5, ge=1, description="Tries of a message before it is dead-lettered.")
    retry_base_delay: float = Field(default=0.5, ge=0)
    retry_max_delay: float = Field(default=60.0, ge=0)
    breaker_threshold: int = Field(default=50, ge=1, description="Consecutive failures that stop the stage.")

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            base_delay=self.retry_base_delay,
            max_delay=self.retry_max_delay,
            breaker_threshold=self.breaker_threshold,
        )
