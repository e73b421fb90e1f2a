"""How long and how hard each phase runs: the full run and `--quick`, every value written into the JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

PHASES = ("ingest", "relay", "latency", "throughput", "economy", "fairness", "backfill")


@dataclass(frozen=True)
class BenchSettings:
    quick: bool = False
    # 1. gateway ingest: wrk connections per step, seconds per step
    ingest_connections: tuple[int, ...] = (16, 64, 256)
    ingest_step_seconds: float = 20.0
    # 2. end-to-end latency at light load
    latency_rate: float = 10.0
    latency_seconds: float = 20.0
    # one import per company per second: light load for every company, not a queue behind one
    latency_companies: int = 10
    # 3. throughput: closed loop, at most `throughput_window` imports in flight
    throughput_seconds: float = 120.0
    throughput_companies: int = 20
    throughput_projects_per_company: int = 700
    throughput_window: int = 200
    throughput_senders: int = 32
    sample_seconds: float = 5.0
    # 4. bare relay
    relay_messages: int = 30_000
    relay_message_bytes: int = 600
    # 5. Aurora economy (real limit): companies x signed projects, each webhook delivered twice
    economy_companies: int = 4
    economy_projects: int = 5
    # 6. fairness (real limit)
    fairness_queue: int = 300
    fairness_samples: int = 3
    # 7. backfill (real limit)
    backfill_seconds: float = 120.0
    backfill_projects: int = 400
    # Aurora's real limit, and the one the unthrottled phases give the emulator and the fetcher
    aurora_limit_per_minute: int = 90
    raised_limit_per_minute: int = 1_000_000
    log_level: str = "WARNING"
    phase_limits: dict[str, float] = field(
        default_factory=lambda: {
            "ingest": 120.0,
            "relay": 75.0,
            "latency": 75.0,
            "throughput": 210.0,
            "economy": 90.0,
            "fairness": 120.0,
            "backfill": 170.0,
        }
    )
    total_limit_seconds: float = 590.0

    @classmethod
    def quick_run(cls) -> BenchSettings:
        return replace(
            cls(),
            quick=True,
            ingest_step_seconds=3.0,
            latency_seconds=3.0,
            throughput_seconds=15.0,
            throughput_companies=4,
            throughput_projects_per_company=300,
            throughput_window=200,
            sample_seconds=2.0,
            relay_messages=3_000,
            economy_companies=2,
            economy_projects=2,
            fairness_queue=30,
            fairness_samples=1,
            backfill_seconds=20.0,
            backfill_projects=100,
            phase_limits={
                "ingest": 40.0,
                "relay": 40.0,
                "latency": 40.0,
                "throughput": 60.0,
                "economy": 45.0,
                "fairness": 60.0,
                "backfill": 60.0,
            },
            total_limit_seconds=300.0,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
