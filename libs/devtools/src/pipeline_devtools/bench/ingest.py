"""1. Gateway ingest: webhooks/s the gateway alone acknowledges (each 2xx only after Kafka's acks=all).

Only the gateway runs in this phase, on topics of its own, so the figure is the gateway's and no consumer
competes for the two cores. The load comes from `wrk` (C, keep-alive) at increasing concurrency; a Lua
`done` hook prints the summary as JSON so nothing is parsed from human-readable text.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import orjson

from pipeline_common import webhooks
from pipeline_devtools.bench.settings import BenchSettings
from pipeline_devtools.bench.stack import BenchStack, say

_DONE_HOOK = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"non_2xx":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


async def _wrk(url: str, header: str, connections: int, seconds: float, script: Path) -> dict[str, Any]:
    threads = min(2, connections)
    process = await asyncio.create_subprocess_exec(
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        "-H",
        header,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout=seconds + 30)
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("BENCH_JSON "):
            raw: dict[str, Any] = orjson.loads(line.removeprefix("BENCH_JSON "))
            errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "non_2xx", "timeouts"))
            return {
                "connections": connections,
                "seconds": round(raw["duration_us"] / 1e6, 2),
                "requests": raw["requests"],
                "per_second": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
                "p50_ms": round(raw["p50_us"] / 1000, 2),
                "p90_ms": round(raw["p90_us"] / 1000, 2),
                "p99_ms": round(raw["p99_us"] / 1000, 2),
                "max_ms": round(raw["max_us"] / 1000, 2),
                "errors": errors,
                "error_detail": {k: raw[k] for k in raw if k.endswith("errors") or k in ("non_2xx", "timeouts")},
            }
    raise RuntimeError(f"wrk printed no summary: {out.decode(errors='replace')[-500:]}")


async def run(stack: BenchStack, settings: BenchSettings) -> dict[str, Any]:
    if wrk_path() is None:
        return {"status": "not measured", "error": "wrk is not installed (apt-get install -y wrk)"}
    # An integration the gateway has not loaded is authenticated by the HMAC alone, as a new one would be.
    integration_id = str(uuid.uuid4())
    secret = webhooks.secret_header_value(1, stack.signer.secret_for(integration_id, 1))
    query = (
        f"event=agreement_status_changed&project_id={uuid.uuid4()}&agreement_id={uuid.uuid4()}"
        f"&status=signed&design_id={uuid.uuid4()}"
    )
    url = f"{stack.url('gateway')}{webhooks.webhook_path(integration_id)}?{query}"
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "done.lua"
        script.write_text(_DONE_HOOK)
        # A short warm-up so connection setup and the producer's first metadata fetch are not measured.
        await _wrk(url, f"{webhooks.SECRET_HEADER}: {secret}", 8, 1, script)
        for connections in settings.ingest_connections:
            step = await _wrk(
                url, f"{webhooks.SECRET_HEADER}: {secret}", connections, settings.ingest_step_seconds, script
            )
            say(
                f"  ingest c={connections}: {step['per_second']:.0f}/s, p50 {step['p50_ms']} ms, "
                f"p99 {step['p99_ms']} ms, errors {step['errors']}"
            )
            steps.append(step)
    # The best step without errors, when there is one: a rate bought with failed webhooks is not ingest.
    clean = [s for s in steps if s["errors"] == 0] or steps
    best = max(clean, key=lambda s: s["per_second"])
    return {
        "status": "ok",
        "steps": steps,
        "best": {k: best[k] for k in ("connections", "per_second", "p50_ms", "p99_ms", "errors")},
        "total_seconds": round(sum(s["seconds"] for s in steps), 1),
    }
