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


def _private_cross_package_imports() -> list[tuple[str, int, str]]:
    """(importer, line, module) of every import of another package's private module or name.

    Every ``import`` and ``from ... import`` counts, function-local and ``TYPE_CHECKING`` ones
    too. A package is a top-level subpackage (``spillover.io``); a module directly under
    ``spillover/`` (``pipeline.py``) belongs to none, and ``spillover._rng`` and the other
    private modules of the root are shared by all.
    """
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    src = root / "src" / "spillover"
    found = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src)
        own = rel.parts[0] if len(rel.parts) > 1 else None
        here = ["spillover", *rel.with_suffix("").parts]
        if here[-1] == "__init__":
            here.pop()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolve against the importing module's package
                    base = here[: len(here) - node.level + (rel.name == "__init__.py")]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                # ``from spillover.io import _owned`` reaches a private name as surely as
                # ``from spillover.io._owned import ...`` does.
                names = [f"{module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] != "spillover" or len(parts) < 3 or parts[1] == own:
                    continue
                private = [i for i, part in enumerate(parts) if i >= 2 and part.startswith("_")]
                if private:  # named up to its first private part: spillover.io._owned
                    shown = ".".join(parts[: private[0] + 1])
                    found.append((path.relative_to(root).as_posix(), node.lineno, shown))
                    break
    return found


def test_packages_import_each_other_through_public_names() -> None:
    # A package uses another only through the names its __init__ exports, never through its
    # underscore modules or names, so that each package is free to rearrange its insides.
    found = [
        f"{importer}:{line}: {module}"
        for importer, line, module in _private_cross_package_imports()
    ]
    assert found == []
