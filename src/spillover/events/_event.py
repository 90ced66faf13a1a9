"""The :class:`Event` value: one offline event whose news spreads through the network."""

from __future__ import annotations

import datetime
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from spillover.events._dates import parse_iso_date
from spillover.exceptions import EventError

__all__ = ["EVENT_TYPES", "Event"]

#: The six ACLED event types, in the order of the ACLED codebook.
EVENT_TYPES: Final[tuple[str, ...]] = (
    "Battles",
    "Violence against civilians",
    "Explosions/Remote violence",
    "Riots",
    "Protests",
    "Strategic developments",
)

# Fields that must hold text with at least one non-blank character; the other text fields may be
# empty (an event need not have a known sub-type, district or place name).
_NON_BLANK_TEXT: Final[tuple[str, ...]] = ("event_id", "country", "event_type")
_TEXT: Final[tuple[str, ...]] = ("sub_event_type", "summary", "admin1", "location")


def _invalid(field: str, rule: str, value: object) -> EventError:
    return EventError(
        f"Event field {field!r} must be {rule}; got {value!r} ({type(value).__name__})."
    )


@dataclass(frozen=True, slots=True)
class Event:
    """One offline event (an armed clash, a protest, an attack...) as a frozen, validated value.

    Parameters
    ----------
    event_id : str
        Unique identifier (ACLED's ``event_id_cnty``); not blank.
    date : datetime.date
        Day the event happened. A :class:`datetime.datetime` is refused, so that two events of
        the same day always compare equal on this field.
    country : str
        Country the event happened in; not blank.
    event_type : str
        Kind of event; not blank. ACLED records use one of :data:`EVENT_TYPES`, but other labels
        are accepted so that researchers can describe events ACLED does not code.
    sub_event_type : str
        Finer kind of event (ACLED's ``sub_event_type``); may be empty.
    actors : tuple of str
        Named parties to the event, main actor first; each is non-blank. May be empty.
    fatalities : int
        Reported number of deaths, ``>= 0``. Integer-like values (such as numpy integers) are
        stored as :class:`int`; booleans and floats are refused.
    summary : str
        Free-text description (ACLED's ``notes``); may be empty.
    admin1 : str, default ""
        First-level administrative region (province, state).
    location : str, default ""
        Town or place name.

    Raises
    ------
    spillover.exceptions.EventError
        If a field breaks its rule; the message names the field, the rule and the value.
    """

    event_id: str
    date: datetime.date
    country: str
    event_type: str
    sub_event_type: str
    actors: tuple[str, ...]
    fatalities: int
    summary: str
    admin1: str = ""
    location: str = ""

    def __post_init__(self) -> None:
        for name in _NON_BLANK_TEXT:
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise _invalid(name, "a non-blank string", value)
        for name in _TEXT:
            value = getattr(self, name)
            if not isinstance(value, str):
                raise _invalid(name, "a string", value)
        if not isinstance(self.date, datetime.date) or isinstance(self.date, datetime.datetime):
            raise _invalid("date", "a datetime.date (not a datetime)", self.date)
        # A list would make the event unhashable and mutable through the back door.
        if not isinstance(self.actors, tuple):
            raise _invalid("actors", "a tuple of non-blank strings", self.actors)
        for actor in self.actors:
            if not isinstance(actor, str) or not actor.strip():
                raise _invalid("actors", "a tuple of non-blank strings", self.actors)
        self._check_fatalities()

    def _check_fatalities(self) -> None:
        value: Any = self.fatalities
        # bool is an int subclass, but True fatalities is surely a mistake.
        if isinstance(value, bool):
            raise _invalid("fatalities", "an integer >= 0", value)
        try:
            count = operator.index(value)
        except TypeError:
            raise _invalid("fatalities", "an integer >= 0", value) from None
        if count < 0:
            raise _invalid("fatalities", "an integer >= 0", value)
        if type(value) is not int:
            # Store a plain int so that equality, hashing and JSON output do not depend on
            # whether the caller passed a numpy integer.
            object.__setattr__(self, "fatalities", count)

    def to_dict(self) -> dict[str, Any]:
        """Return the event as a JSON-serialisable dict.

        Returns
        -------
        dict
            One key per field; ``date`` is an ISO 8601 string (``"2024-03-05"``) and ``actors``
            a list. :meth:`from_dict` reverses it.
        """
        return {
            "event_id": self.event_id,
            "date": self.date.isoformat(),
            "country": self.country,
            "event_type": self.event_type,
            "sub_event_type": self.sub_event_type,
            "actors": list(self.actors),
            "fatalities": self.fatalities,
            "summary": self.summary,
            "admin1": self.admin1,
            "location": self.location,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Build an event from the output of :meth:`to_dict` (for example read back from JSON).

        Parameters
        ----------
        data : mapping
            Keys as written by :meth:`to_dict`; ``admin1`` and ``location`` may be absent.

        Returns
        -------
        Event

        Raises
        ------
        spillover.exceptions.EventError
            If a key is missing or unknown, or a value breaks its field's rule.
        """
        required = (
            "event_id",
            "date",
            "country",
            "event_type",
            "sub_event_type",
            "actors",
            "fatalities",
            "summary",
        )
        missing = [key for key in required if key not in data]
        if missing:
            raise EventError(f"Event.from_dict: missing key(s) {', '.join(missing)}.")
        unknown = sorted(set(data) - {*required, "admin1", "location"})
        if unknown:
            raise EventError(f"Event.from_dict: unknown key(s) {', '.join(unknown)}.")
        day = data["date"]
        if isinstance(day, str):
            day = parse_iso_date(data["date"])
            if day is None:
                raise _invalid("date", "an ISO date 'YYYY-MM-DD'", data["date"])
        actors = data["actors"]
        if isinstance(actors, list):
            actors = tuple(actors)
        return cls(
            event_id=data["event_id"],
            date=day,
            country=data["country"],
            event_type=data["event_type"],
            sub_event_type=data["sub_event_type"],
            actors=actors,
            fatalities=data["fatalities"],
            summary=data["summary"],
            admin1=data.get("admin1", ""),
            location=data.get("location", ""),
        )
