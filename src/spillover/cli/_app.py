"""The ``spillover`` command line (Typer)."""

from __future__ import annotations

import sys

import typer

from spillover._redact import redact
from spillover.cli._console import err_console
from spillover.exceptions import SpilloverError

__all__ = ["app", "main"]

app = typer.Typer(
    name="spillover",
    help="Simulate how news of offline events spreads through networks of LLM agents, "
    "and learn the dynamics of that spread.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app; errors become one line on stderr and exit code 2."""
    import spillover.cli._loop  # noqa: F401
    from spillover.cli import (  # noqa: F401
        _demo,
        _fit,
        _prompts,
        _query,
        _report,
        _simulate,
        _study,
        _sweep,
    )

    try:
        app(args=argv, prog_name="spillover")
    except SpilloverError as exc:
        err_console.print(f"error: {redact(str(exc))}", markup=False, soft_wrap=True)
        sys.exit(2)
    except OSError as exc:
        err_console.print(
            redact(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")),
            markup=False,
            soft_wrap=True,
        )
        sys.exit(2)
