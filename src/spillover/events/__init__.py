"""Offline events: the news items whose spread is simulated, read from ACLED-style records.

:class:`Event` is a frozen, validated value; :func:`parse_acled_csv` turns the text of an ACLED
CSV export into events and :func:`select_events` picks some of them; :func:`render_post` writes
the news post that seeds see and prompts carry. Reading files (and the bundled fictional
examples) lives in :mod:`spillover.io`: :func:`spillover.io.read_events`,
:func:`spillover.io.example_events`.
"""

from __future__ import annotations

from spillover.events._acled import (
    ACLED_COLUMNS,
    ACLED_REQUIRED_COLUMNS,
    parse_acled_csv,
    select_events,
)
from spillover.events._event import EVENT_TYPES, Event
from spillover.events._render import render_post

__all__ = [
    "ACLED_COLUMNS",
    "ACLED_REQUIRED_COLUMNS",
    "EVENT_TYPES",
    "Event",
    "parse_acled_csv",
    "render_post",
    "select_events",
]
