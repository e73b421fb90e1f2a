"""Runs the phases in an order that keeps them from disturbing each other, each under a hard time limit.

1. ingest: the gateway alone, on topics of its own.
2. relay: bare relay processes, nothing else running.
3. latency, throughput: the whole pipeline with Aurora's limit raised (emulator tenants and fetcher limiter).
4. economy, fairness, backfill: a fresh pipeline (its own emulator, database, topics and groups, so nothing
   left in flight by the throughput phase competes) with Aurora's real 90/min.
Each stack is removed as soon as its phases are done.
Whatever happens (a failed phase, Ctrl-C, SIGTERM), every process is stopped, the run's topics deleted and
its database dropped; the figures measured so far are still printed and written.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from pipeline_common.settings import DatabaseSettings, KafkaSettings
from pipeline_devtools.bench import backfill, economy, fairness, ingest, latency, machine, relay, report, throughput
from pipeline_devtools.bench.settings import PHASES, BenchSettings
from pipeline_devtools.bench.stack import BenchStack, Run, http_client, new_run_id, say

ROOT = machine.ROOT
UNTHROTTLED = ("latency", "throughput")
REAL_LIMIT = ("economy", "fairness", "backfill")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make bench",
        description="Measures the pipeline on this machine with every component running (Kafka, PostgreSQL, the "
        "Aurora emulator, every service): gateway ingest, end-to-end latency, throughput, a bare-relay "
        "baseline, Aurora call economy, fairness and backfill speed under Aurora's 90/min limit. Prints a "
        "table with each figure beside its target and writes the same figures as JSON.",
        epilog="Phases: " + ", ".join(PHASES) + ". Needs Kafka and PostgreSQL (`make infra`); everything else "
        "is started on free loopback ports with the run's own topics, consumer groups and database, and "
        "stopped at the end.",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=PHASES,
        metavar="PHASE",
        help="run only this phase (repeatable): " + ", ".join(PHASES),
    )
    parser.add_argument("--quick", action="store_true", help="short phases, a smoke run (about 3 minutes in all)")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=ROOT / "bench-results",
        help="where the JSON goes (default: bench-results/)",
    )
    parser.add_argument(
        "--log-level", default=None, help="LOG_LEVEL of the services (default WARNING: per-event INFO lines cost CPU)"
    )
    return parser.parse_args(argv)


class Phases:
    def __init__(self, settings: BenchSettings, started: float) -> None:
        self.settings = settings
        self.deadline = started + settings.total_limit_seconds
        self.results: dict[str, dict[str, Any]] = {}

    async def run(self, name: str, phase: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        limit = min(self.settings.phase_limits[name], self.deadline - time.monotonic())
        say(f"phase {name} (at most {limit:.0f} s)")
        started = time.monotonic()
        try:
            if limit <= 5:
                raise TimeoutError
            result = await asyncio.wait_for(phase(), timeout=limit)
        except TimeoutError:
            result = {"status": "timed out", "error": f"over its {limit:.0f} s limit"}
        except asyncio.CancelledError:
            self.results[name] = {"status": "interrupted"}
            raise
        except Exception as exc:
            result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}
        result["seconds"] = round(time.monotonic() - started, 1)
        say(f"phase {name}: {result.get('status', 'ok')} in {result['seconds']} s")
        self.results[name] = result
        return result


async def bench(args: argparse.Namespace) -> int:
    settings = BenchSettings.quick_run() if args.quick else BenchSettings()
    if args.log_level:
        settings = type(settings)(**{**settings.as_dict(), "log_level": args.log_level})
    wanted = [p for p in PHASES if not args.only or p in args.only]
    started_wall, started = time.time(), time.monotonic()
    run = Run(
        run_id=new_run_id(),
        kafka_bootstrap=KafkaSettings().bootstrap_servers,
        admin_database_url=DatabaseSettings().database_url.get_secret_value(),
        log_dir=ROOT / ".local" / "bench-logs",
        log_level=settings.log_level,
    )
    run.log_dir = run.log_dir / run.run_id
    run.log_dir.mkdir(parents=True, exist_ok=True)
    say(f"run {run.run_id}: phases {', '.join(wanted)}{' (quick)' if args.quick else ''}; logs in {run.log_dir}")
    phases = Phases(settings, started)
    stacks: list[BenchStack] = []
    interrupted = False
    try:
        async with http_client() as client:

            async def stack_for(
                label: str, limit: int, names: list[str] | None, extra: tuple[str, ...] = ()
            ) -> BenchStack:
                stack = BenchStack(run, label, aurora_limit_per_minute=limit)
                stacks.append(stack)
                await stack.open(extra)
                if names is None or names:
                    say(f"starting {', '.join(names) if names else 'the emulator and every service'} ({label}) …")
                    await stack.start(names)
                return stack

            if "ingest" in wanted:
                gateway = await stack_for("ingest", settings.aurora_limit_per_minute, ["gateway"])
                await phases.run("ingest", lambda: ingest.run(gateway, settings))
                await gateway.close()
            if "relay" in wanted:
                bare = await stack_for("relay", settings.aurora_limit_per_minute, [], relay.HOPS)
                await phases.run("relay", lambda: relay.run(bare, settings))
                await bare.close()
            if any(p in wanted for p in UNTHROTTLED):
                fast = await stack_for("unthrottled", settings.raised_limit_per_minute, None)
                if "latency" in wanted:
                    await phases.run("latency", lambda: latency.run(fast, settings, client))
                if "throughput" in wanted:
                    await phases.run("throughput", lambda: throughput.run(fast, settings, client))
                # The throughput phase leaves imports in flight: a new stack keeps them out of what follows.
                await fast.close()
            if any(p in wanted for p in REAL_LIMIT):
                real = await stack_for("limited", settings.aurora_limit_per_minute, None)
                real_tenants: dict[str, list[str]] = {p: [] for p in REAL_LIMIT}
                real_phases = {"economy": economy.run, "fairness": fairness.run, "backfill": backfill.run}
                for name, phase in real_phases.items():
                    if name in wanted:
                        await phases.run(name, partial(phase, real, settings, client, real_tenants[name]))
                with contextlib.suppress(Exception):
                    by_phase = {
                        p: await economy.count_429s(real, client, tenants)
                        for p, tenants in real_tenants.items()
                        if tenants
                    }
                    phases.results["summary"] = {
                        "aurora_429s_under_real_limit": sum(by_phase.values()),
                        "aurora_429s_by_phase": by_phase,
                    }
    except asyncio.CancelledError:
        interrupted = True
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()  # the cancellation was the signal; the clean-up below must still run
        say("interrupted: stopping everything …")
    except Exception as exc:
        say(f"the run failed: {type(exc).__name__}: {exc}")
        phases.results.setdefault("run", {})["error"] = f"{type(exc).__name__}: {exc}"[:500]
    finally:
        await _clean_up(stacks)

    results = phases.results
    summary = results.setdefault("summary", {})
    pipeline_rate = results.get("throughput", {}).get("sustained_per_second")
    relay_rate = results.get("relay", {}).get("per_second")
    if pipeline_rate is not None and relay_rate:
        summary["pipeline_to_relay"] = round(pipeline_rate / relay_rate, 4)
    if interrupted:
        summary["interrupted"] = True
    rows = report.figures(results)
    print()
    print(report.table(rows), flush=True)
    path = report.write_json(
        args.results_dir,
        commit=machine.commit(),
        machine=machine.describe(),
        settings={**settings.as_dict(), "phases_run": wanted, "run_id": run.run_id},
        results=results,
        started=started_wall,
        finished=time.time(),
        rows=rows,
    )
    say(f"figures written to {path} ({time.monotonic() - started:.0f} s in all)")
    return 130 if interrupted else 0


async def _clean_up(stacks: list[BenchStack]) -> None:
    for stack in stacks:
        await stack.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # aiokafka's retry warnings (a new topic's leader election) would bury the progress lines.
    logging.basicConfig(level=logging.ERROR)

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        return await bench(args)

    return asyncio.run(guarded())
