"""The table printed at the end and the JSON file: the same figures, each beside its target."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

Results = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Figure:
    number: int
    measurement: str
    measured: str
    target: str
    met: bool | None  # None: not measured, or informational

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "—"}[self.met]

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "measurement": self.measurement,
            "measured": self.measured,
            "target": self.target,
            "met": self.met,
        }


def _get(results: Results, phase: str, *path: str) -> Any:
    node: Any = results.get(phase, {})
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def _why_not(results: Results, phase: str) -> str:
    status = _get(results, phase, "status")
    if status is None:
        return "not run"
    error = _get(results, phase, "error")
    return f"not measured ({status}{': ' + str(error)[:60] if error else ''})"


def figures(results: Results) -> list[Figure]:
    out: list[Figure] = []

    steps = _get(results, "ingest", "steps") or []
    best = _get(results, "ingest", "best")
    if best:
        good = [s for s in steps if s["per_second"] >= 3000 and s["p99_ms"] <= 50 and s["errors"] == 0]
        measured = (
            f"{best['per_second']:,.0f}/s at c={best['connections']}, p99 {best['p99_ms']} ms, {best['errors']} errors"
        )
        out.append(Figure(1, "gateway ingest (best step)", measured, "≥ 3,000/s with p99 ≤ 50 ms", bool(good)))
    else:
        out.append(Figure(1, "gateway ingest", _why_not(results, "ingest"), "≥ 3,000/s with p99 ≤ 50 ms", None))

    e2e = _get(results, "latency", "end_to_end")
    if e2e and e2e.get("p50_ms") is not None:
        out.append(Figure(2, "e2e latency p50 @10/s", _fmt(e2e["p50_ms"], " ms"), "≤ 30 ms", e2e["p50_ms"] <= 30))
        out.append(
            Figure(
                2,
                "e2e latency p99 @10/s",
                f"{_fmt(e2e['p99_ms'], ' ms')} (p95 {e2e['p95_ms']}, max {e2e['max_ms']})",
                "≤ 150 ms",
                e2e["p99_ms"] <= 150,
            )
        )
    else:
        out.append(Figure(2, "e2e latency @10/s", _why_not(results, "latency"), "p50 ≤ 30 ms, p99 ≤ 150 ms", None))

    rate = _get(results, "throughput", "sustained_per_second")
    if rate is not None:
        out.append(Figure(3, "throughput, sustained imports/s", _fmt(rate, "/s"), "≥ 500/s", rate >= 500))
        bounded = _get(results, "throughput", "backlog_bounded")
        peak = _get(results, "throughput", "backlog_peak")
        out.append(Figure(3, "throughput, backlog (lag) bounded", f"peak {peak} messages/jobs", "bounded", bounded))
    else:
        out.append(Figure(3, "throughput", _why_not(results, "throughput"), "≥ 500/s, lag bounded", None))

    relay = _get(results, "relay", "per_second")
    ratio = results.get("summary", {}).get("pipeline_to_relay")
    relay_text = f"relay {_fmt(relay, '/s')}"
    if ratio is not None:
        out.append(Figure(4, "pipeline / bare relay", f"{ratio:.4f} ({relay_text})", "≥ 0.5", ratio >= 0.5))
    else:
        out.append(Figure(4, "pipeline / bare relay", f"not measured ({relay_text})", "≥ 0.5", None))

    per_import = _get(results, "economy", "calls_per_import")
    if per_import is not None:
        saved = _get(results, "economy", "calls_saved")
        out.append(Figure(5, "Aurora calls per imported project", _fmt(per_import, "", 2), "(reported)", None))
        out.append(
            Figure(
                5,
                "Aurora calls saved (duplicates dropped/coalesced)",
                f"{saved} ({_get(results, 'economy', 'duplicates_dropped')} dropped, "
                f"{_get(results, 'economy', 'coalesced')} coalesced)",
                "(reported)",
                None,
            )
        )
    else:
        out.append(Figure(5, "Aurora calls per import", _why_not(results, "economy"), "(reported)", None))
    throttled = results.get("summary", {}).get("aurora_429s_under_real_limit")
    where = results.get("summary", {}).get("aurora_429s_by_phase") or {}
    detail = f" ({', '.join(f'{p} {n}' for p, n in where.items())})" if throttled else ""
    out.append(
        Figure(
            5,
            "429s received under 90/min",
            _fmt(throttled) + detail,
            "0",
            None if throttled is None else throttled == 0,
        )
    )

    alone = _get(results, "fairness", "b_alone_ms")
    loaded = _get(results, "fairness", "b_behind_a_ms")
    if alone and loaded:
        queued = _get(results, "fairness", "a_queued")
        out.append(
            Figure(
                6,
                f"fairness: B behind A's {queued} queued",
                f"B {max(loaded):,.0f} ms vs alone {max(alone):,.0f} ms",
                "≤ B alone + 1,000 ms",
                max(loaded) <= max(alone) + 1000,
            )
        )
    else:
        out.append(Figure(6, "fairness", _why_not(results, "fairness"), "≤ B alone + 1 s", None))

    share = _get(results, "backfill", "share_of_max")
    if share is not None:
        out.append(
            Figure(
                7,
                "backfill speed, share of the 90/min maximum",
                f"{share:.0%} ({_fmt(_get(results, 'backfill', 'imports_per_minute'))}/min of "
                f"{_fmt(_get(results, 'backfill', 'theoretical_per_minute'))}/min)",
                "≥ 90 %",
                share >= 0.9,
            )
        )
    else:
        out.append(Figure(7, "backfill speed", _why_not(results, "backfill"), "≥ 90 %", None))
    return out


def table(rows: list[Figure]) -> str:
    headers = ("#", "measurement", "measured", "target", "")
    cells = [(str(r.number), r.measurement, r.measured, r.target, r.verdict) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*headers), line, *(fmt.format(*c) for c in cells)])


def write_json(
    directory: Path,
    *,
    commit: dict[str, Any],
    machine: dict[str, Any],
    settings: dict[str, Any],
    results: Results,
    started: float,
    finished: float,
    rows: list[Figure],
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    path = directory / f"{stamp}-{commit['commit']}.json"
    document = {
        "schema": 1,
        **commit,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_seconds": round(finished - started, 1),
        "machine": machine,
        "settings": settings,
        "figures": [r.as_dict() for r in rows],
        "phases": {k: v for k, v in results.items() if k != "summary"},
        "summary": results.get("summary", {}),
    }
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return path
