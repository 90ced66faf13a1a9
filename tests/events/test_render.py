"""Tests of render_post, the news text seeds see and prompts carry."""

from __future__ import annotations

import datetime
import locale
from typing import Any

import pytest

from spillover.events import Event, render_post


def make_event(**changes: Any) -> Event:
    fields: dict[str, Any] = {
        "event_id": "VEL0001",
        "date": datetime.date(2024, 3, 5),
        "country": "Republic of Veloria",
        "event_type": "Battles",
        "sub_event_type": "Armed clash",
        "actors": ("Veloria Army", "Coastal Front"),
        "fatalities": 7,
        "summary": "[Fictional example] Fighters clashed near the ford.",
        "admin1": "Northern Reach",
        "location": "Marrow Ford",
    }
    fields.update(changes)
    return Event(**fields)


def test_full_post() -> None:
    assert render_post(make_event()) == (
        "Battles (Armed clash) in Marrow Ford, Northern Reach, Republic of Veloria"
        " on 5 March 2024\n"
        "Actors involved: Veloria Army and Coastal Front. Reported fatalities: 7.\n"
        "[Fictional example] Fighters clashed near the ford."
    )


def test_headline_carries_type_place_and_date() -> None:
    headline = render_post(make_event()).splitlines()[0]
    for part in ("Battles", "Marrow Ford", "Northern Reach", "Republic of Veloria", "2024"):
        assert part in headline


def test_zero_fatalities_are_not_mentioned() -> None:
    post = render_post(make_event(fatalities=0))
    assert "fatalit" not in post.lower()
    assert "Actors involved: Veloria Army and Coastal Front." in post


def test_no_actors_and_no_fatalities_drop_the_line() -> None:
    post = render_post(make_event(actors=(), fatalities=0))
    assert post.splitlines()[1] == "[Fictional example] Fighters clashed near the ford."


def test_fatalities_without_actors() -> None:
    assert render_post(make_event(actors=(), fatalities=1)).splitlines()[1] == (
        "Reported fatalities: 1."
    )


def test_actor_lists() -> None:
    assert "Actors involved: A." in render_post(make_event(actors=("A",)))
    assert "Actors involved: A, B and C." in render_post(make_event(actors=("A", "B", "C")))


def test_place_skips_blanks_and_repeats() -> None:
    event = make_event(location="Aurelin", admin1="aurelin", country="Veloria")
    assert render_post(event).startswith("Battles (Armed clash) in Aurelin, Veloria on ")
    bare = make_event(location="", admin1="", country="Veloria")
    assert render_post(bare).startswith("Battles (Armed clash) in Veloria on 5 March 2024")


def test_sub_type_omitted_when_empty_or_same_as_type() -> None:
    assert render_post(make_event(sub_event_type="")).startswith("Battles in ")
    assert render_post(make_event(sub_event_type="battles")).startswith("Battles in ")


def test_empty_summary_is_left_out_and_whitespace_is_collapsed() -> None:
    assert len(render_post(make_event(summary="")).splitlines()) == 2
    post = render_post(make_event(summary="  two\n  lines\tof notes "))
    assert post.endswith("\ntwo lines of notes")


def test_post_is_plain_deterministic_text() -> None:
    event = make_event()
    post = render_post(event)
    assert post == render_post(make_event())
    assert not post.endswith("\n")
    assert all(line.isprintable() for line in post.splitlines())


def test_date_does_not_depend_on_the_locale() -> None:
    before = render_post(make_event())
    saved = locale.setlocale(locale.LC_TIME)
    try:
        for name in ("de_DE.UTF-8", "fr_FR.UTF-8"):
            try:
                locale.setlocale(locale.LC_TIME, name)
            except locale.Error:
                continue
            assert render_post(make_event()) == before
    finally:
        locale.setlocale(locale.LC_TIME, saved)


@pytest.mark.parametrize("month", range(1, 13))
def test_every_month_is_spelled_in_english(month: int) -> None:
    names = "January February March April May June July August September October November December"
    post = render_post(make_event(date=datetime.date(2023, month, 9)))
    assert f" on 9 {names.split()[month - 1]} 2023" in post
