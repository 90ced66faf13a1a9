"""Tests of ACLED CSV parsing and event selection."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Sequence

import pytest

from spillover.events import (
    ACLED_COLUMNS,
    ACLED_REQUIRED_COLUMNS,
    EVENT_TYPES,
    Event,
    parse_acled_csv,
    select_events,
)
from spillover.exceptions import EventError


def acled_row(event_id: str = "VEL0001", **changes: str) -> dict[str, str]:
    row = dict.fromkeys(ACLED_COLUMNS, "")
    row.update(
        event_id_cnty=event_id,
        event_date="2024-03-05",
        year="2024",
        event_type="Battles",
        sub_event_type="Armed clash",
        actor1="Veloria Army",
        actor2="Coastal Front",
        country="Republic of Veloria",
        admin1="Northern Reach",
        location="Marrow Ford",
        notes="[Fictional example] A clash, with commas.",
        fatalities="7",
    )
    row.update(changes)
    return row


def acled_text(rows: Sequence[dict[str, str]], columns: Sequence[str] = ACLED_COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def parse(text: str, source: str = "events.csv") -> tuple[Event, ...]:
    return parse_acled_csv(io.StringIO(text), source=source)


def parse_error(text: str, source: str = "events.csv") -> str:
    with pytest.raises(EventError) as info:
        parse(text, source)
    return str(info.value)


def test_parses_a_full_acled_row() -> None:
    (event,) = parse(acled_text([acled_row()]))
    assert event == Event(
        event_id="VEL0001",
        date=datetime.date(2024, 3, 5),
        country="Republic of Veloria",
        event_type="Battles",
        sub_event_type="Armed clash",
        actors=("Veloria Army", "Coastal Front"),
        fatalities=7,
        summary="[Fictional example] A clash, with commas.",
        admin1="Northern Reach",
        location="Marrow Ford",
    )


def test_rows_keep_file_order() -> None:
    rows = [acled_row(f"VEL{i:04d}") for i in (3, 1, 2)]
    assert [e.event_id for e in parse(acled_text(rows))] == ["VEL0003", "VEL0001", "VEL0002"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05", datetime.date(2024, 3, 5)),
        ("05 March 2024", datetime.date(2024, 3, 5)),
        ("5 march 2024", datetime.date(2024, 3, 5)),
        ("29 February 2024", datetime.date(2024, 2, 29)),
        ("05 Mar 2024", datetime.date(2024, 3, 5)),
        ("  12 December 2023 ", datetime.date(2023, 12, 12)),
    ],
)
def test_accepts_iso_and_day_month_year_dates(text: str, expected: datetime.date) -> None:
    (event,) = parse(acled_text([acled_row(event_date=text)]))
    assert event.date == expected


def test_mixed_date_formats_in_one_file() -> None:
    rows = [acled_row("A1", event_date="2024-03-05"), acled_row("A2", event_date="06 March 2024")]
    assert [e.date.day for e in parse(acled_text(rows))] == [5, 6]


def test_only_required_columns_are_enough() -> None:
    text = acled_text([acled_row()], columns=ACLED_REQUIRED_COLUMNS)
    (event,) = parse(text)
    assert event.actors == ("Veloria Army",)
    assert (event.admin1, event.location) == ("", "")


def test_extra_columns_are_ignored_and_order_does_not_matter() -> None:
    columns = ["my_flag", *reversed(ACLED_COLUMNS), "analyst_comment"]
    row = {**acled_row(), "my_flag": "x", "analyst_comment": "seen, checked"}
    (event,) = parse(acled_text([row], columns=columns))
    assert event.event_id == "VEL0001"
    assert event.fatalities == 7


def test_header_names_are_matched_ignoring_case_and_blanks() -> None:
    text = acled_text([acled_row()])
    header, rest = text.split("\n", 1)
    header = ",".join(f" {name.upper()} " for name in header.split(","))
    (event,) = parse(f"{header}\n{rest}")
    assert event.country == "Republic of Veloria"


def test_values_are_stripped_and_blank_actor2_is_dropped() -> None:
    row = acled_row(actor1="  Protesters (Veloria) ", actor2="   ", country=" Veloria ")
    (event,) = parse(acled_text([row]))
    assert event.actors == ("Protesters (Veloria)",)
    assert event.country == "Veloria"


def test_utf8_bom_before_header_is_ignored() -> None:
    (event,) = parse("\ufeff" + acled_text([acled_row()]))
    assert event.event_id == "VEL0001"


def test_accepts_a_list_of_lines_and_blank_lines() -> None:
    lines = acled_text([acled_row("A1"), acled_row("A2")]).splitlines()
    lines.insert(2, "")
    events = parse_acled_csv(lines)
    assert [e.event_id for e in events] == ["A1", "A2"]


def test_quoted_notes_spanning_lines_are_one_field() -> None:
    text = acled_text([acled_row("A1", notes="first line\nsecond line"), acled_row("A2")])
    events = parse(text)
    assert events[0].summary == "first line\nsecond line"
    assert len(events) == 2


def test_crlf_line_endings() -> None:
    events = parse(acled_text([acled_row("A1"), acled_row("A2")]).replace("\n", "\r\n"))
    assert [e.event_id for e in events] == ["A1", "A2"]


def test_a_bare_string_is_refused_with_a_hint() -> None:
    with pytest.raises(TypeError, match=r"io\.StringIO"):
        parse_acled_csv(acled_text([acled_row()]))


def test_empty_input_is_an_error() -> None:
    message = parse_error("")
    assert message.startswith("events.csv: empty input")
    assert "event_id_cnty" in message


def test_header_without_rows_is_no_events() -> None:
    message = parse_error(acled_text([]))
    assert message.startswith("events.csv: no events")


def test_missing_required_columns_are_all_listed_in_one_error() -> None:
    columns = [c for c in ACLED_COLUMNS if c not in {"event_date", "actor1", "notes"}]
    message = parse_error(acled_text([acled_row()], columns=columns))
    assert "missing required ACLED column(s): event_date, actor1, notes" in message
    assert message.startswith("events.csv:")


def test_semicolon_separated_file_gets_a_delimiter_hint() -> None:
    text = ";".join(ACLED_COLUMNS) + "\n" + ";".join(acled_row().values()) + "\n"
    message = parse_error(text)
    assert "missing required ACLED column(s)" in message
    assert "';'" in message


def test_repeated_known_column_is_an_error() -> None:
    text = acled_text([acled_row()]).replace("notes", "country", 1)
    message = parse_error(text)
    assert "country" in message
    assert "more than once" in message


def test_bad_date_names_source_line_and_value() -> None:
    rows = [acled_row("A1"), acled_row("A2", event_date="2024-02-30")]
    message = parse_error(acled_text(rows), source="data/acled.csv")
    assert "data/acled.csv" in message
    assert "line 3: event_date '2024-02-30' is not a date" in message


@pytest.mark.parametrize("bad", ["31/12/2024", "20240305", "05 Marchember 2024", "yesterday"])
def test_unparseable_dates_are_rejected(bad: str) -> None:
    message = parse_error(acled_text([acled_row(event_date=bad)]))
    assert f"line 2: event_date {bad!r} is not a date" in message


@pytest.mark.parametrize("bad", ["3.0", "three", "1e2", "٣"])
def test_non_integer_fatalities(bad: str) -> None:
    message = parse_error(acled_text([acled_row(fatalities=bad)]))
    assert f"line 2: fatalities {bad!r} is not an integer" in message


def test_negative_fatalities() -> None:
    message = parse_error(acled_text([acled_row(fatalities="-2")]))
    assert "line 2: fatalities '-2' is negative" in message


def test_blank_required_values_are_listed_by_column() -> None:
    message = parse_error(acled_text([acled_row(actor1="", notes="  ")]))
    assert "line 2: blank required value(s) in column(s) actor1, notes" in message


def test_wrong_number_of_fields() -> None:
    text = acled_text([acled_row("A1")]) + "A2,2024-03-05,too,few\n"
    message = parse_error(text)
    assert f"line 3: expected {len(ACLED_COLUMNS)} fields as in the header, found 4" in message


def test_duplicate_event_ids_name_both_lines() -> None:
    rows = [acled_row("A1"), acled_row("A2"), acled_row("A1")]
    message = parse_error(acled_text(rows))
    assert "line 4: duplicate event_id_cnty 'A1' (first seen on line 2)" in message


def test_all_row_problems_are_reported_together() -> None:
    rows = [
        acled_row("A1", event_date="never"),
        acled_row("A2"),
        acled_row("A3", fatalities="-1", event_type=""),
    ]
    message = parse_error(acled_text(rows))
    assert message.startswith("events.csv: 2 malformed row(s)")
    assert "line 2: event_date 'never'" in message
    assert "line 4: blank required value(s) in column(s) event_type; fatalities '-1'" in message


def test_line_numbers_count_physical_lines() -> None:
    # A two-line quoted note and a blank line shift the physical line of the bad row.
    rows = [acled_row("A1", notes="one\ntwo"), acled_row("A2", fatalities="x")]
    text = acled_text(rows)
    header, rest = text.split("\n", 1)
    message = parse_error(f"{header}\n\n{rest}")
    assert "line 5: fatalities 'x'" in message


def test_many_problems_show_the_first_ten_and_a_count() -> None:
    rows = [acled_row(f"A{i}", fatalities="bad") for i in range(25)]
    message = parse_error(acled_text(rows))
    assert message.startswith("events.csv: 25 malformed row(s)")
    assert "line 11:" in message
    assert "line 12:" not in message
    assert "... and 15 more malformed row(s)" in message


def test_broken_quoting_is_reported_with_its_line() -> None:
    text = acled_text([acled_row("A1")]) + 'A2,"unterminated\n'
    message = parse_error(text)
    assert "line 3: malformed CSV" in message


def test_select_without_filters_returns_everything() -> None:
    events = parse(acled_text([acled_row("A1"), acled_row("A2")]))
    assert select_events(events) == events
    assert select_events(iter(events)) == events


def select_fixture() -> tuple[Event, ...]:
    rows = [
        acled_row("V1", country="Veloria", event_type="Battles"),
        acled_row("V2", country="Veloria", event_type="Protests"),
        acled_row("A1", country="Arvenmark", event_type="Protests"),
        acled_row("A2", country="Arvenmark", event_type="Riots"),
    ]
    return parse(acled_text(rows))


def test_select_combines_filters() -> None:
    events = select_fixture()
    assert [e.event_id for e in select_events(events, event_type="Protests")] == ["V2", "A1"]
    chosen = select_events(events, event_type="Protests", country="Arvenmark")
    assert [e.event_id for e in chosen] == ["A1"]
    assert [e.event_id for e in select_events(events, event_id="V1")] == ["V1"]


def test_select_no_match_names_filter_and_lists_values() -> None:
    with pytest.raises(EventError) as info:
        select_events(select_fixture(), event_type="Protest")
    message = str(info.value)
    assert "event_type='Protest'" in message
    assert "'Battles', 'Protests', 'Riots'" in message


def test_select_names_the_filter_that_emptied_the_selection() -> None:
    with pytest.raises(EventError) as info:
        select_events(select_fixture(), event_type="Riots", country="Veloria")
    message = str(info.value)
    assert "country='Veloria' among events with event_type='Riots'" in message
    assert "available country values: 'Arvenmark'" in message


def test_select_lists_only_a_few_values() -> None:
    events = parse(acled_text([acled_row(f"E{i:02d}") for i in range(30)]))
    with pytest.raises(EventError, match=r"\.\.\. \(20 more\)") as info:
        select_events(events, event_id="nope")
    assert "'E00'" in str(info.value)
    assert "'E29'" not in str(info.value)


def test_select_from_nothing() -> None:
    with pytest.raises(EventError, match="no events to select"):
        select_events((), country="Veloria")


def test_event_types_are_the_acled_ones_used_in_rows() -> None:
    rows = [acled_row(f"E{i}", event_type=kind) for i, kind in enumerate(EVENT_TYPES)]
    assert tuple(e.event_type for e in parse(acled_text(rows))) == EVENT_TYPES
