"""The ``spillover`` command line (Typer)."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import typer

# Typer ships its own copy of click; its usage errors are only importable from there.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread: every cleanup that runs for Ctrl-C runs for it too
    (staging folders removed, the sweep recorded as interrupted, worker processes stopped)."""


_terminated = threading.Event()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _terminated.set()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends at once
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app; errors become one line on stderr and exit code 2.

    SIGINT exits with code 130 and SIGTERM with 143, both after the same cleanup.
    """
    import spillover.cli._loop  # noqa: F401
    from spillover.cli import (  # noqa: F401
        _demo,
        _fit,
        _prompts,
        _query,
        _report,
        _serve,
        _simulate,
        _study,
        _sweep,
    )

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    _terminated.clear()
    try:
        _run_app(argv)
    except (SystemExit, KeyboardInterrupt):
        if _terminated.is_set():
            err_console.print("spillover: terminated (SIGTERM)", markup=False)
            sys.exit(143)
        raise
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)


def _run_app(argv: list[str] | None) -> None:
    try:
        # standalone_mode=False: click's usage errors reach us instead of its boxed help text,
        # so a bad option value is one error line like every other bad input.
        code = app(args=argv, prog_name="spillover", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()  # no arguments at all: the help text is the answer
        sys.exit(2)
    except UsageError as exc:
        err_console.print(_usage_line(exc), markup=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        err_console.print("error: aborted", markup=False)
        sys.exit(1)
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
    # As in click's standalone mode, a command ends with SystemExit (0 on success).
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)


def _usage_line(exc: UsageError) -> str:
    """One line for a command-line usage error: the problem, then where the flags are listed."""
    message = " ".join(redact(exc.format_message()).split())
    command = exc.ctx.command_path if exc.ctx is not None else "spillover"
    return f"error: {message} (see '{command} --help')"
