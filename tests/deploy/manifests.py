"""The Kubernetes manifests as the cluster would receive them: `kubectl kustomize` of each overlay."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")


@cache
def build(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl (its embedded kustomize builds deploy/k8s) is not installed", pytrace=False)
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize overlays/{overlay} failed:\n{result.stderr}", pytrace=False)
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def generated(docs: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any] | None:
    """A generated ConfigMap/Secret (its name carries kustomize's hash suffix)."""
    for d in docs:
        if d["kind"] == kind and (d["metadata"]["name"] == name or d["metadata"]["name"].startswith(name + "-")):
            return d
    return None
