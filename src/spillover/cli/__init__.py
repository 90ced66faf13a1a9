"""The command line: ``spillover demo``, ``spillover simulate``, ``spillover fit``...

:func:`main` is the ``spillover`` script. Without the ``cli`` extra (Typer and Rich) it says so
in one line and exits with code 2 instead of failing on an import.
"""

from __future__ import annotations

import sys

from spillover._extras import require_extra
from spillover.exceptions import MissingExtraError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Run the ``spillover`` command line on ``argv`` (default: ``sys.argv[1:]``)."""
    try:
        require_extra("cli")
    except MissingExtraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    from spillover.cli._app import main as run

    run(argv)
