"""Reading events files (ACLED CSV exports) and the bundled fictional example events."""

from __future__ import annotations

import io
import os
from importlib import resources
from pathlib import Path
from typing import Final

from spillover.events import Event, parse_acled_csv
from spillover.exceptions import EventError

__all__ = ["example_events", "example_events_path", "read_events"]

_EXAMPLE_PACKAGE: Final = "spillover.events"
_EXAMPLE_NAME: Final = "example_events.csv"


def read_events(path: str | os.PathLike[str]) -> tuple[Event, ...]:
    """Read the events of an ACLED CSV export (UTF-8, comma-separated, with a header).

    Parameters
    ----------
    path : str or path-like
        The CSV file. See :func:`spillover.events.parse_acled_csv` for the columns and rules.

    Returns
    -------
    tuple of Event
        In file order.

    Raises
    ------
    spillover.exceptions.EventError
        If the file is missing, is a directory, cannot be read, is not UTF-8 text, or its
        content is malformed; the message names the path (and the lines at fault).
    """
    name = os.fspath(path)
    try:
        # newline="" hands line endings to the csv module, which needs them for quoted fields
        # spanning several lines.
        with Path(name).open(encoding="utf-8", newline="") as stream:
            return parse_acled_csv(stream, source=name)
    except FileNotFoundError:
        raise EventError(f"{name}: events file not found.") from None
    except IsADirectoryError:
        raise EventError(f"{name}: is a directory, expected an ACLED CSV file.") from None
    except UnicodeDecodeError as exc:
        raise EventError(
            f"{name}: not UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r} cannot be "
            "decoded); ACLED exports are UTF-8: re-save the file as UTF-8 CSV."
        ) from None
    except OSError as exc:
        raise EventError(f"{name}: cannot read events file: {exc.strerror or exc}.") from exc


def example_events() -> tuple[Event, ...]:
    """Return the bundled example events.

    Twenty-four clearly fictional events (invented countries, places and actors; each summary
    starts with ``[Fictional example]``), four of each of the six ACLED event types, in the
    full ACLED column layout. Use them for demos and tests; they describe nothing that happened.

    Returns
    -------
    tuple of Event
    """
    # Read through importlib.resources rather than a path, so that this also works when the
    # package is not unpacked on a filesystem.
    resource = resources.files(_EXAMPLE_PACKAGE).joinpath("data", _EXAMPLE_NAME)
    text = resource.read_text(encoding="utf-8")
    return parse_acled_csv(io.StringIO(text), source=_EXAMPLE_NAME)


def example_events_path() -> Path:
    """Return the filesystem path of the bundled example events CSV.

    Useful to pass the examples where a file is expected (``spillover simulate --events``) or
    to copy them as a template for one's own events file.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        If the package is installed in a form without real files (for example inside a zip);
        :func:`example_events` still works then.
    """
    resource = resources.files(_EXAMPLE_PACKAGE).joinpath("data", _EXAMPLE_NAME)
    if not isinstance(resource, Path) or not resource.is_file():
        raise FileNotFoundError(
            f"the example events are not available as a file ({resource!s}); "
            "use spillover.io.example_events() to read them."
        )
    return resource
