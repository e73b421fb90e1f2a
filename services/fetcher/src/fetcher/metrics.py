"""The fetcher's own Prometheus metrics (the shared ones, e.g. `aurora_calls_total`, are in pipeline_common)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FETCH_QUEUE_JOBS = Gauge("fetcher_queue_jobs", "Jobs in the fetch queue by state (all copies)", ["state"])
FETCH_JOBS = Counter("fetcher_jobs_total", "Fetch jobs finished by this copy, by outcome", ["outcome"])
FETCH_ENQUEUED = Counter("fetcher_enqueued_total", "ImportRequested events taken from Kafka, by result", ["result"])
FETCH_SECONDS = Histogram(
    "fetcher_fetch_seconds",
    "Time to read one project's state from Aurora (includes waiting for the key's rate limit)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
FETCH_QUEUE_WAIT = Histogram(
    "fetcher_queue_wait_seconds",
    "Time a job waited in the queue before a worker claimed it",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800),
)
FETCH_LEASES_HELD = Gauge("fetcher_leases_held", "Companies whose Aurora key this copy currently owns")
FETCH_LEASE_TAKEOVERS = Counter("fetcher_lease_takeovers_total", "Leases taken over after another copy's expired")
