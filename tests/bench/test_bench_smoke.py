"""`make bench` end to end on the smallest run: the real stack, the table and the JSON file.

Checks the shape of what a run reports, never its timings (those belong to the bench itself).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.infra import Infra

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]


def test_quick_latency_run_writes_the_table_and_the_json(infra: Infra, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "DATABASE_URL": infra.database_admin_url,
    }
    # The bench names its own topics and groups; the test session's prefix must not be stacked on them.
    env.pop("KAFKA_TOPIC_PREFIX", None)
    env.pop("KAFKA_GROUP_PREFIX", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline_devtools.bench",
            "--quick",
            "--only",
            "latency",
            "--results-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "e2e latency p50 @10/s" in done.stdout
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1, done.stdout[-2000:]
    result = json.loads(files[0].read_text())

    assert {"commit", "dirty", "started_at", "duration_seconds", "machine", "settings", "figures", "phases"} <= set(
        result
    )
    assert {"cores_logical", "memory_gb", "cpu_model", "python", "kafka", "jdk"} <= set(result["machine"])
    assert result["settings"]["quick"] is True
    assert result["settings"]["phases_run"] == ["latency"]
    latency = result["phases"]["latency"]
    assert latency["status"] == "ok", latency
    assert {"count", "p50_ms", "p95_ms", "p99_ms", "max_ms"} <= set(latency["end_to_end"])
    assert latency["end_to_end"]["count"] > 0
    assert {"gateway", "trigger_filter", "fetcher", "importer", "kafka_to_fetcher"} <= set(latency["stages"])
    numbers = {f["number"] for f in result["figures"]}
    assert numbers == {1, 2, 3, 4, 5, 6, 7}
    for figure in result["figures"]:
        assert {"measurement", "measured", "target", "met"} <= set(figure)
    assert all(f["met"] in (True, False) for f in result["figures"] if f["number"] == 2)
