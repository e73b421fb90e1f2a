import time
from datetime import UTC, datetime, timedelta

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


class Clock:
    """Wall clock with an adjustable offset, so tests can make signed URLs expire without waiting 15 min."""

    def __init__(self) -> None:
        self.offset_seconds = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_seconds)

    def epoch(self) -> float:
        return time.time() + self.offset_seconds

    def advance(self, seconds: float) -> None:
        self.offset_seconds += seconds


def fmt(value: datetime | None) -> str | None:
    return value.strftime(TIMESTAMP_FORMAT) if value is not None else None
