"""Tests of the Event value: validation, immutability and the dict round trip."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

import numpy as np
import pytest

from spillover.events import EVENT_TYPES, Event
from spillover.exceptions import ConfigError, EventError


def make_event(**changes: Any) -> Event:
    fields: dict[str, Any] = {
        "event_id": "VEL0001",
        "date": datetime.date(2024, 3, 5),
        "country": "Republic of Veloria",
        "event_type": "Battles",
        "sub_event_type": "Armed clash",
        "actors": ("Veloria Army", "Coastal Front"),
        "fatalities": 7,
        "summary": "[Fictional example] A clash.",
        "admin1": "Northern Reach",
        "location": "Marrow Ford",
    }
    fields.update(changes)
    return Event(**fields)


def test_valid_event_keeps_its_fields() -> None:
    event = make_event()
    assert event.event_id == "VEL0001"
    assert event.date == datetime.date(2024, 3, 5)
    assert event.actors == ("Veloria Army", "Coastal Front")
    assert event.fatalities == 7


def test_admin1_and_location_default_to_empty() -> None:
    event = Event(
        event_id="X1",
        date=datetime.date(2024, 1, 1),
        country="Veloria",
        event_type="Protests",
        sub_event_type="Peaceful protest",
        actors=("Protesters",),
        fatalities=0,
        summary="",
    )
    assert event.admin1 == ""
    assert event.location == ""


def test_event_is_frozen_and_hashable() -> None:
    event = make_event()
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.fatalities = 3  # type: ignore[misc]
    assert hash(event) == hash(make_event())
    assert event == make_event()
    assert len({event, make_event()}) == 1


def test_event_has_slots() -> None:
    assert not hasattr(make_event(), "__dict__")


def test_event_type_catalog_is_the_six_acled_types() -> None:
    assert EVENT_TYPES == (
        "Battles",
        "Violence against civilians",
        "Explosions/Remote violence",
        "Riots",
        "Protests",
        "Strategic developments",
    )


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("event_id", "", "a non-blank string"),
        ("event_id", "   ", "a non-blank string"),
        ("event_id", 17, "a non-blank string"),
        ("country", "", "a non-blank string"),
        ("event_type", "", "a non-blank string"),
        ("event_type", None, "a non-blank string"),
        ("sub_event_type", None, "a string"),
        ("summary", b"bytes", "a string"),
        ("admin1", 3, "a string"),
        ("location", None, "a string"),
        ("date", "2024-03-05", "a datetime.date (not a datetime)"),
        ("date", datetime.datetime(2024, 3, 5, 12, 0), "a datetime.date (not a datetime)"),
        ("actors", ["Veloria Army"], "a tuple of non-blank strings"),
        ("actors", ("Veloria Army", ""), "a tuple of non-blank strings"),
        ("actors", ("Veloria Army", 5), "a tuple of non-blank strings"),
        ("fatalities", -1, "an integer >= 0"),
        ("fatalities", 2.0, "an integer >= 0"),
        ("fatalities", "3", "an integer >= 0"),
        ("fatalities", True, "an integer >= 0"),
    ],
)
def test_invalid_field_names_field_rule_and_value(field: str, value: object, rule: str) -> None:
    with pytest.raises(EventError) as info:
        make_event(**{field: value})
    message = str(info.value)
    assert f"{field!r}" in message
    assert rule in message
    assert repr(value) in message


def test_event_error_is_a_config_error_and_value_error() -> None:
    with pytest.raises(ConfigError):
        make_event(fatalities=-5)
    with pytest.raises(ValueError, match="fatalities"):
        make_event(fatalities=-5)


def test_empty_actors_and_unknown_event_type_are_allowed() -> None:
    event = make_event(actors=(), event_type="Cyber attack")
    assert event.actors == ()
    assert event.event_type == "Cyber attack"


def test_numpy_integer_fatalities_are_stored_as_int() -> None:
    event = make_event(fatalities=np.int64(4))
    assert type(event.fatalities) is int
    assert event == make_event(fatalities=4)


def test_to_dict_is_json_serialisable_with_iso_date() -> None:
    data = make_event().to_dict()
    assert data["date"] == "2024-03-05"
    assert data["actors"] == ["Veloria Army", "Coastal Front"]
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {field.name for field in dataclasses.fields(Event)}


def test_from_dict_reverses_to_dict_through_json() -> None:
    event = make_event()
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event


def test_from_dict_defaults_optional_keys() -> None:
    data = make_event().to_dict()
    del data["admin1"], data["location"]
    event = Event.from_dict(data)
    assert (event.admin1, event.location) == ("", "")


def test_from_dict_reports_missing_and_unknown_keys() -> None:
    data = make_event().to_dict()
    del data["fatalities"], data["summary"]
    with pytest.raises(EventError, match="missing key\\(s\\) fatalities, summary"):
        Event.from_dict(data)
    with pytest.raises(EventError, match="unknown key\\(s\\) extra"):
        Event.from_dict({**make_event().to_dict(), "extra": 1})


def test_from_dict_rejects_non_iso_date() -> None:
    with pytest.raises(EventError, match=r"'date'.*ISO date.*'05 March 2024'"):
        Event.from_dict({**make_event().to_dict(), "date": "05 March 2024"})
