"""``spillover.models`` is maths only: numpy, scipy and the standard library."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import spillover.models

ALLOWED_ROOTS = {"__future__", "collections", "dataclasses", "math", "types", "typing"}
ALLOWED_ROOTS |= {"numpy", "scipy"}
ALLOWED_SPILLOVER = {"spillover.exceptions", "spillover.models"}


def test_models_modules_import_only_numpy_scipy_and_the_error_tree() -> None:
    package = Path(spillover.models.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                if name.startswith("spillover"):
                    assert any(name.startswith(a) for a in ALLOWED_SPILLOVER), (path.name, name)
                else:
                    assert name.split(".")[0] in ALLOWED_ROOTS, (path.name, name)


def test_importing_models_loads_no_plotting_or_dataframes() -> None:
    forbidden = ("matplotlib", "pandas", "httpx", "openai", "EoN", "networkx.drawing")
    code = (
        "import sys, json, spillover.models; "
        f"print(json.dumps([m for m in {forbidden!r} if m in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == []


def test_public_names_are_exported() -> None:
    for name in spillover.models.__all__:
        assert hasattr(spillover.models, name), name
