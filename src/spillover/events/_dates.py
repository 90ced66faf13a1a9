"""Reading and writing the date formats found in ACLED exports, independent of the locale.

``time.strptime("%B")`` and ``strftime("%B")`` follow the process locale, so a German or French
locale would reject or produce other month names; the English names are spelled out here instead.
"""

from __future__ import annotations

import datetime
import re
from typing import Final

__all__ = ["format_news_date", "parse_acled_date", "parse_iso_date"]

MONTH_NAMES: Final[tuple[str, ...]] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_MONTH_BY_NAME: Final[dict[str, int]] = {
    **{name.lower(): number for number, name in enumerate(MONTH_NAMES, start=1)},
    **{name[:3].lower(): number for number, name in enumerate(MONTH_NAMES, start=1)},
    "sept": 9,
}

# Explicit ASCII classes: ``\d`` would also match other scripts' digits.
_ISO: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DAY_MONTH_YEAR: Final = re.compile(r"([0-9]{1,2})\s+([A-Za-z]+)\.?\s+([0-9]{4})")


def parse_iso_date(text: str) -> datetime.date | None:
    """Parse ``YYYY-MM-DD``; return None if ``text`` is not such a date.

    :meth:`datetime.date.fromisoformat` alone would also accept ``20240305`` and week dates,
    which no ACLED export uses and which more likely signal a wrong column.
    """
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day = (int(part) for part in match.groups())
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def parse_acled_date(text: str) -> datetime.date | None:
    """Parse an ACLED ``event_date``: ``2024-03-05`` or ``05 March 2024``.

    Month names are English, case-insensitive, full or abbreviated to three letters.

    Returns
    -------
    datetime.date or None
        None if ``text`` is in neither format or names a day that does not exist.
    """
    text = text.strip()
    iso = parse_iso_date(text)
    if iso is not None:
        return iso
    match = _DAY_MONTH_YEAR.fullmatch(text)
    if match is None:
        return None
    day_text, month_text, year_text = match.groups()
    month = _MONTH_BY_NAME.get(month_text.lower())
    if month is None:
        return None
    try:
        return datetime.date(int(year_text), month, int(day_text))
    except ValueError:
        return None


def format_news_date(day: datetime.date) -> str:
    """Format a date as newspapers do in English, e.g. ``5 March 2024``."""
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"
