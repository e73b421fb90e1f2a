"""The one retry rule (pipeline_common.retry) and the settings that configure it for each owner."""

from __future__ import annotations

import pytest

from fetcher.settings import FetcherSettings
from pipeline_common.aurora import AuroraSettings
from pipeline_common.errors import PermanentError, TransientError
from pipeline_common.retry import RetryPolicy, StageRetrySettings


def test_the_ceiling_doubles_from_the_base_and_stops_at_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=3.0)
    assert [policy.ceiling(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_the_delay_is_a_jittered_share_of_the_ceiling() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=100.0)
    assert policy.delay(3, lambda: 1.0) == 4.0
    assert policy.delay(3, lambda: 0.25) == 1.0
    assert policy.delay(3, lambda: 0.0) == 0.0
    for _ in range(200):
        assert 0.0 <= policy.delay(4) <= 8.0


@pytest.mark.parametrize(
    ("exc", "attempt", "retried"),
    [
        (TransientError("Aurora 503"), 1, True),
        (TransientError("Aurora 503"), 2, True),
        (TransientError("Aurora 503"), 3, False),
        (RuntimeError("a bug or a dependency we did not classify"), 2, True),
        (OSError("connection refused"), 3, False),
        (PermanentError("bad data"), 1, False),
    ],
)
def test_what_is_tried_again(exc: BaseException, attempt: int, retried: bool) -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.retries(exc, attempt) is retried
    assert policy.exhausted(attempt) is (attempt >= 3)


def test_each_owner_configures_the_policy_through_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGE_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("STAGE_RETRY_BASE_DELAY", "0.25")
    monkeypatch.setenv("STAGE_BREAKER_THRESHOLD", "9")
    monkeypatch.setenv("FETCHER_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("FETCHER_RETRY_MAX_DELAY", "12")
    assert StageRetrySettings().policy() == RetryPolicy(
        max_attempts=7, base_delay=0.25, max_delay=60.0, breaker_threshold=9
    )
    fetcher = FetcherSettings().retry_policy()
    assert (fetcher.max_attempts, fetcher.base_delay, fetcher.max_delay) == (4, 1.0, 12.0)
    # Aurora's setting counts retries after the first try; the policy counts tries.
    aurora = AuroraSettings(max_retries=2).retry_policy()
    assert aurora.max_attempts == 3
    assert not aurora.exhausted(2)
    assert aurora.exhausted(3)
