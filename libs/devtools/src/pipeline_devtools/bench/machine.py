"""What a run is comparable with: the commit, the machine and the versions of what it ran on."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[5]


def _run(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False, cwd=ROOT)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout + done.stderr).strip()


def commit() -> dict[str, Any]:
    short = _run(["git", "rev-parse", "--short", "HEAD"]) or "unknown"
    dirty = bool(_run(["git", "status", "--porcelain", "--untracked-files=no"]))
    return {"commit": short if re.fullmatch(r"[0-9a-f]{4,40}", short) else "unknown", "dirty": dirty}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def kafka_version() -> str | None:
    try:
        pom = (ROOT / "deploy/local/kafka/pom.xml").read_text()
    except OSError:
        return None
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    return found.group(1) if found else None


def jdk_version() -> str | None:
    java = shutil.which("java")
    if not java:
        return None
    first = _run([java, "-version"]).splitlines()
    return first[0] if first else None


def wrk_version() -> str | None:
    if not shutil.which("wrk"):
        return None
    lines = _run(["wrk", "--version"]).splitlines()
    return lines[0] if lines else None


def describe() -> dict[str, Any]:
    return {
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "kafka": kafka_version(),
        "jdk": jdk_version(),
        "wrk": wrk_version(),
    }
