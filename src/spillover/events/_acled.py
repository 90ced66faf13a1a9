"""Parsing ACLED-style conflict records (CSV exports) into :class:`Event` values, and selecting.

Only text is parsed here; opening files is the job of :func:`spillover.io.read_events`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from typing import Final, TextIO

from spillover.events._dates import parse_acled_date
from spillover.events._event import Event
from spillover.exceptions import EventError

__all__ = ["ACLED_COLUMNS", "ACLED_REQUIRED_COLUMNS", "parse_acled_csv", "select_events"]

#: The columns of an ACLED export, in the order ACLED writes them.
ACLED_COLUMNS: Final[tuple[str, ...]] = (
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "disorder_type",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "inter1",
    "actor2",
    "assoc_actor_2",
    "inter2",
    "interaction",
    "civilian_targeting",
    "iso",
    "region",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "source_scale",
    "notes",
    "fatalities",
    "tags",
    "timestamp",
)

#: The columns :func:`parse_acled_csv` needs; each must be present and non-blank in every row.
ACLED_REQUIRED_COLUMNS: Final[tuple[str, ...]] = (
    "event_id_cnty",
    "event_date",
    "event_type",
    "sub_event_type",
    "actor1",
    "country",
    "fatalities",
    "notes",
)

# Event fields copied from a required column as they stand: field -> column.
_AS_GIVEN: Final[dict[str, str]] = {
    "event_id": "event_id_cnty",
    "country": "country",
    "event_type": "event_type",
    "sub_event_type": "sub_event_type",
    "summary": "notes",
}

# Optional columns that feed an Event field when present.
_OPTIONAL_USED: Final[tuple[str, ...]] = ("actor2", "admin1", "location")

# Enough to show the pattern of a broken file without burying the first lines of the message.
_MAX_REPORTED_ROWS: Final = 10
_MAX_LISTED_VALUES: Final = 10

_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
_BOM: Final = "\ufeff"


def parse_acled_csv(
    stream: TextIO | Iterable[str], *, source: str = "<string>"
) -> tuple[Event, ...]:
    """Parse an ACLED CSV export into events.

    The header names the columns (see :data:`ACLED_COLUMNS`); their order does not matter,
    names are matched ignoring case and surrounding blanks, and columns other than the ACLED
    ones are ignored. The columns in :data:`ACLED_REQUIRED_COLUMNS` must be present; ``actor2``,
    ``admin1`` and ``location`` are used when present. Fields map to :class:`Event` as follows:
    ``event_id_cnty`` -> ``event_id``, ``event_date`` -> ``date`` (``2024-03-05`` or
    ``05 March 2024``), ``actor1`` and a non-blank ``actor2`` -> ``actors``, ``notes`` ->
    ``summary``; values are stripped of surrounding blanks. Blank lines are skipped and a UTF-8
    byte-order mark before the header is ignored.

    Parameters
    ----------
    stream : text file or iterable of str
        The CSV text, one physical line per item (an open text file, ideally opened with
        ``newline=""``, or ``text.splitlines()``). A bare ``str`` is refused, because iterating
        it would yield characters, not lines; wrap text in :class:`io.StringIO`.
    source : str, default "<string>"
        Name of the input used in error messages, for example the file path.

    Returns
    -------
    tuple of Event
        In the order of the rows.

    Raises
    ------
    spillover.exceptions.EventError
        If the input is empty, required columns are missing (all are listed), there are no data
        rows, or any row is malformed: wrong number of fields, blank required value, a date in
        neither format, fatalities not a non-negative integer, an event id seen before, broken
        CSV quoting. Row problems are collected and reported together, each with ``source`` and
        its line number (1-based physical line, the header being line 1).
    TypeError
        If ``stream`` is a ``str`` or ``bytes`` rather than a stream of lines.
    """
    if isinstance(stream, str | bytes | bytearray):
        raise TypeError(
            "parse_acled_csv expects a text stream or an iterable of lines, not "
            f"{type(stream).__name__}; wrap CSV text in io.StringIO(...), or use "
            "spillover.io.read_events(path) to read a file."
        )
    rows = _numbered_rows(stream)
    header_line, header = _first_row(rows, source)
    position = _column_positions(header, header_line, source)

    events: list[Event] = []
    problems: list[str] = []
    n_bad_rows = 0
    first_line_of_id: dict[str, int] = {}
    try:
        for line, row in rows:
            row_problems: list[str] = []
            event = _event_from_row(row, position, len(header), row_problems)
            event_id = (
                event.event_id if event is not None else _cell(row, position, "event_id_cnty")
            )
            if event_id and len(row) == len(header):
                first = first_line_of_id.setdefault(event_id, line)
                if first != line:
                    row_problems.append(
                        f"duplicate event_id_cnty {event_id!r} (first seen on line {first})"
                    )
            if row_problems:
                n_bad_rows += 1
                if len(problems) < _MAX_REPORTED_ROWS:
                    problems.append(f"line {line}: {'; '.join(row_problems)}")
            elif event is not None:
                events.append(event)
    except _CsvSyntaxError as exc:
        # The csv module cannot resume after a syntax error, so this ends the scan.
        n_bad_rows += 1
        problems.append(str(exc))

    if problems:
        more = n_bad_rows - len(problems)
        lines = [f"{source}: {n_bad_rows} malformed row(s) in ACLED CSV:"]
        lines += [f"  {problem}" for problem in problems]
        if more > 0:
            lines.append(f"  ... and {more} more malformed row(s)")
        raise EventError("\n".join(lines))
    if not events:
        raise EventError(f"{source}: no events: the header (line {header_line}) has no data rows.")
    return tuple(events)


class _CsvSyntaxError(Exception):
    """Internal: broken CSV syntax; the message already names the line."""


def _numbered_rows(stream: TextIO | Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """Yield (first physical line, row) for each non-blank row."""
    reader = csv.reader(stream, strict=True)
    while True:
        # line_num counts the lines consumed so far; a quoted field may span several lines, so a
        # record starts one line after the previous one ended.
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _CsvSyntaxError(f"line {start}: malformed CSV ({exc})") from None
        if row:
            yield start, row


def _first_row(rows: Iterator[tuple[int, list[str]]], source: str) -> tuple[int, list[str]]:
    try:
        first = next(rows, None)
    except _CsvSyntaxError as exc:
        raise EventError(f"{source}: cannot read the header: {exc}") from None
    if first is None:
        raise EventError(
            f"{source}: empty input: expected an ACLED CSV export whose header includes "
            f"{', '.join(ACLED_REQUIRED_COLUMNS)}."
        )
    line, header = first
    if header and header[0].startswith(_BOM):
        header = [header[0].removeprefix(_BOM), *header[1:]]
    return line, header


def _column_positions(header: list[str], header_line: int, source: str) -> dict[str, int]:
    """Map each known ACLED column to its position in the header."""
    position: dict[str, int] = {}
    repeated: list[str] = []
    known = frozenset(ACLED_COLUMNS)
    for index, raw_name in enumerate(header):
        name = raw_name.strip().lower()
        if name not in known:
            continue
        if name in position:
            repeated.append(name)
        else:
            position[name] = index
    if repeated:
        raise EventError(
            f"{source}: line {header_line}: column(s) {', '.join(sorted(set(repeated)))} "
            "appear more than once in the header."
        )
    missing = [name for name in ACLED_REQUIRED_COLUMNS if name not in position]
    if missing:
        found = ", ".join(name.strip() for name in header[:_MAX_LISTED_VALUES])
        if len(header) > _MAX_LISTED_VALUES:
            found += f", ... ({len(header) - _MAX_LISTED_VALUES} more)"
        hint = ""
        if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
            hint = " The header has one column: is the file separated by ';' or tabs? ACLED "
            hint += "exports are comma-separated."
        raise EventError(
            f"{source}: missing required ACLED column(s): {', '.join(missing)} "
            f"(header on line {header_line} has: {found}).{hint}"
        )
    return position


def _cell(row: list[str], position: dict[str, int], column: str) -> str:
    index = position.get(column)
    if index is None or index >= len(row):
        return ""
    value = row[index].strip()
    if "\r" in value:
        # A quoted multi-line note keeps the file's line endings; normalise them so that the
        # same export gives equal events whether it was saved on Windows or elsewhere.
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def _event_from_row(
    row: list[str], position: dict[str, int], n_columns: int, problems: list[str]
) -> Event | None:
    """Build the event of one row, or append what is wrong with it to ``problems``."""
    if len(row) != n_columns:
        # Values would land in the wrong columns, so nothing else in the row can be trusted.
        problems.append(f"expected {n_columns} fields as in the header, found {len(row)}")
        return None
    value = {column: _cell(row, position, column) for column in position}
    blank = [column for column in ACLED_REQUIRED_COLUMNS if not value[column]]
    if blank:
        problems.append(f"blank required value(s) in column(s) {', '.join(blank)}")

    date = None
    if value["event_date"]:
        date = parse_acled_date(value["event_date"])
        if date is None:
            problems.append(
                f"event_date {value['event_date']!r} is not a date "
                "(expected YYYY-MM-DD or DD Month YYYY)"
            )
    fatalities = None
    raw_fatalities = value["fatalities"]
    if raw_fatalities:
        if _INTEGER.fullmatch(raw_fatalities) is None:
            problems.append(f"fatalities {raw_fatalities!r} is not an integer")
        elif (fatalities := int(raw_fatalities)) < 0:
            problems.append(f"fatalities {raw_fatalities!r} is negative")
    if problems or date is None or fatalities is None:
        return None

    actors: tuple[str, ...] = (value["actor1"],)
    if value.get("actor2"):
        actors += (value["actor2"],)
    try:
        return Event(
            **{field: value[column] for field, column in _AS_GIVEN.items()},
            date=date,
            actors=actors,
            fatalities=fatalities,
            admin1=value.get("admin1", ""),
            location=value.get("location", ""),
        )
    except EventError as exc:
        # Checked above already; kept so a future Event rule shows up as a row problem.
        problems.append(str(exc))
        return None


def select_events(
    events: Iterable[Event],
    *,
    event_id: str | None = None,
    event_type: str | None = None,
    country: str | None = None,
) -> tuple[Event, ...]:
    """Keep the events matching every given filter (exact, case-sensitive comparison).

    Parameters
    ----------
    events : iterable of Event
    event_id, event_type, country : str, optional
        Keep only events whose field equals this value; None means no filter on that field.

    Returns
    -------
    tuple of Event
        The matching events, in their original order (all of them when no filter is given).

    Raises
    ------
    spillover.exceptions.EventError
        If no event matches. The message names the filter that emptied the selection
        (filters apply in the order event_id, event_type, country) and lists the values
        that field takes among the events still selected at that point.
    """
    selected = tuple(events)
    applied: list[str] = []
    for name, wanted in (("event_id", event_id), ("event_type", event_type), ("country", country)):
        if wanted is None:
            continue
        matches = tuple(event for event in selected if getattr(event, name) == wanted)
        if not matches:
            raise EventError(_no_match_message(name, wanted, selected, applied))
        selected = matches
        applied.append(f"{name}={wanted!r}")
    return selected


def _no_match_message(name: str, wanted: str, pool: tuple[Event, ...], applied: list[str]) -> str:
    among = f" among events with {' and '.join(applied)}" if applied else ""
    if not pool:
        return f"select_events: no event has {name}={wanted!r}: there are no events to select."
    values = sorted({str(getattr(event, name)) for event in pool})
    listed = ", ".join(repr(value) for value in values[:_MAX_LISTED_VALUES])
    if len(values) > _MAX_LISTED_VALUES:
        listed += f", ... ({len(values) - _MAX_LISTED_VALUES} more)"
    return (
        f"select_events: no event has {name}={wanted!r}{among}; available {name} values: {listed}."
    )
