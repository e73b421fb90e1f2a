"""What the runtime may import: services and pipeline_common never reach for the tools package.

The tools (dev stack, bench, ops CLI) know the services' names and ports and pull in typer/rich/psutil;
a service image must run without them (deploy/Dockerfile's `service` target does not install them).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = [ROOT / "libs" / "common" / "src", *sorted((ROOT / "services").glob("*/src"))]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_runtime_module_imports_the_tools() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for src in RUNTIME
        for path in src.rglob("*.py")
        if "pipeline_devtools" in _imports(path)
    ]
    assert len(RUNTIME) > 5  # the glob found the services
    assert offenders == []


def test_the_runtime_library_does_not_declare_the_tools_dependencies() -> None:
    pyproject = (ROOT / "libs" / "common" / "pyproject.toml").read_text()
    assert '"rich"' not in pyproject
    assert "pipeline_devtools" not in pyproject
