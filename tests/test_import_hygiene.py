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
