"""With LOG_FORMAT=json every line a service writes to stdout is one JSON object, the libraries' too."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_stage_that_cannot_reach_kafka_says_so_in_json_lines_only(database_url: str) -> None:
    # Kafka unreachable: aiokafka, FastStream and uvicorn each log through the standard library on the
    # way down, which is exactly where plain-text lines used to slip in.
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
        "DATABASE_URL": database_url,
        "TRIGGER_FILTER_PORT": str(closed_port()),
        "LOG_FORMAT": "json",
    }
    result = subprocess.run(
        [str(ROOT / ".venv/bin/aurora-trigger-filter")], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0, "the stage started without Kafka"
    lines = result.stdout.splitlines()
    assert lines, f"nothing on stdout; stderr: {result.stderr[-2000:]}"
    records = []
    for line in lines:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise AssertionError(f"not JSON: {line!r}") from None
        assert isinstance(record, dict), line
        records.append(record)
    loggers = {str(r.get("logger", "")).split(".")[0] for r in records}
    assert {"aiokafka", "uvicorn"} <= loggers, loggers
    assert all(r["service"] == "trigger_filter" and "level" in r and "timestamp" in r for r in records)
