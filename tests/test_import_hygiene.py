"""``import spillover`` must stay light: no plotting, dataframes, HTTP or LLM clients."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("matplotlib", "pandas", "httpx", "openai", "pydantic", "pyarrow", "rich", "typer")


def test_import_spillover_loads_no_heavy_modules() -> None:
    code = (
        "import sys, json, spillover, spillover.engine, spillover.fit, spillover.policies, "
        "spillover.graphs, spillover.events, spillover.personas, spillover.trajectories; "
        f"print(json.dumps([m for m in {FORBIDDEN!r} if m in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == []


def test_import_spillover_and_the_command_line_load_what_they_use_only() -> None:
    # Public names load from their modules on first use; the command line registers its
    # commands without loading the fits (scipy.stats) or the engine (numba).
    code = (
        "import sys, json, spillover; "
        "before = [m for m in ('numba', 'scipy') if m in sys.modules]; "
        "from spillover.cli import _demo, _fit, _loop, _prompts, _query, _report, _serve, "
        "_simulate, _study, _sweep; "
        "after = [m for m in ('numba', 'scipy.stats', 'spillover.fit') if m in sys.modules]; "
        "print(json.dumps([before, after, spillover.SI2Estimator.__name__]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == [[], [], "SI2Estimator"]


def test_layers_only_look_downstream() -> None:
    # io writes and reads files for every layer above it, and imports none of them.
    import ast
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "spillover"
    upstream = ("spillover.pipeline", "spillover.cli", "spillover.report", "spillover.sweeps")
    found = []
    for path in sorted((src / "io").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(upstream):
                found.append(f"{path.name}: {node.module}")
    assert found == []
