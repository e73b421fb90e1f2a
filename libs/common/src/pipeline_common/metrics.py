"""Prometheus metrics shared by every service, so dashboards use one set of names."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_IN = Counter("pipeline_events_in_total", "Messages a stage received", ["stage"])
EVENTS_OUT = Counter("pipeline_events_out_total", "Messages a stage published", ["stage", "topic"])
EVENTS_FAILED = Counter("pipeline_events_failed_total", "Messages a stage failed on", ["stage", "error"])
EVENTS_SKIPPED = Counter(
    "pipeline_events_skipped_total", "Messages a stage decided not to pass on", ["stage", "reason"]
)
RETRIES = Counter("pipeline_retries_total", "Messages sent to a retry topic", ["stage"])
DEAD_LETTERS = Counter("pipeline_dead_letters_total", "Messages sent to a dead-letter topic", ["stage"])
STAGE_SECONDS = Histogram(
    "pipeline_stage_seconds",
    "Time a stage spent on one message",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBHOOKS = Counter("gateway_webhooks_total", "Webhooks answered by the gateway", ["outcome"])
AURORA_CALLS = Counter("aurora_calls_total", "Aurora API calls", ["endpoint", "status"])
AURORA_LIMITER_WAIT = Histogram(
    "aurora_rate_limiter_wait_seconds",
    "Time a call waited for its API key's budget",
    buckets=(0, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60),
)
OUTBOX_BACKLOG = Gauge("importer_outbox_backlog", "Outbox rows not yet published")
CONSUMER_LAG = Gauge(
    "pipeline_consumer_lag",
    "Messages behind the partition's end, per partition this process consumes",
    ["stage", "topic", "partition"],
)
LAST_PROGRESS = Gauge("pipeline_last_progress_timestamp_seconds", "When the stage last finished a message", ["stage"])
