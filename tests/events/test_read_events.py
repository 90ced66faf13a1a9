"""Tests of reading events files and the bundled fictional examples (spillover.io)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from spillover import io as spillover_io
from spillover.events import ACLED_COLUMNS, EVENT_TYPES, render_post, select_events
from spillover.exceptions import EventError
from spillover.io import example_events, example_events_path, read_events


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(ACLED_COLUMNS), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def row(event_id: str, **changes: str) -> dict[str, str]:
    values = {
        "event_id_cnty": event_id,
        "event_date": "05 March 2024",
        "event_type": "Protests",
        "sub_event_type": "Peaceful protest",
        "actor1": "Protesters (Veloria)",
        "country": "Republic of Veloria",
        "notes": "[Fictional example] A march.",
        "fatalities": "0",
    }
    values.update(changes)
    return values


def test_reexported_from_spillover_io() -> None:
    assert spillover_io.read_events is read_events
    assert spillover_io.example_events is example_events


def test_reads_a_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "events.csv", [row("V1"), row("V2", fatalities="3")])
    events = read_events(path)
    assert [(e.event_id, e.fatalities) for e in events] == [("V1", 0), ("V2", 3)]
    assert read_events(str(path)) == events


def test_reads_a_file_with_bom_and_crlf(tmp_path: Path) -> None:
    plain = write_csv(tmp_path / "plain.csv", [row("V1", notes="two\nlines")])
    text = plain.read_text(encoding="utf-8").replace("\n", "\r\n")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(text.encode("utf-8-sig"))
    assert read_events(bom) == read_events(plain)


def test_errors_name_the_path_and_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [row("V1"), row("V2", event_date="soon")])
    with pytest.raises(EventError) as info:
        read_events(path)
    message = str(info.value)
    assert message.startswith(f"{os.fspath(path)}: 1 malformed row(s)")
    assert "line 3: event_date 'soon' is not a date" in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(EventError, match="not found") as info:
        read_events(path)
    assert str(path) in str(info.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(EventError) as info:
        read_events(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_csv(tmp_path / "locked.csv", [row("V1")])

    # chmod would not stop root (CI containers), so simulate the refusal instead.
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(EventError, match="cannot read events file: Permission denied") as info:
        read_events(path)
    assert str(path) in str(info.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "latin.csv", [row("V1", location="Sainte-Hélène")])
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    with pytest.raises(EventError, match="not UTF-8") as info:
        read_events(path)
    assert str(path) in str(info.value)


def test_example_path_is_a_packaged_file() -> None:
    path = example_events_path()
    assert path.is_file()
    assert path.name == "example_events.csv"
    assert read_events(path) == example_events()


def test_example_file_has_the_full_acled_header() -> None:
    with example_events_path().open(encoding="utf-8", newline="") as stream:
        header = next(csv.reader(stream))
    assert tuple(header) == ACLED_COLUMNS


def test_examples_cover_every_event_type_and_are_fictional() -> None:
    events = example_events()
    assert len(events) == 24
    assert {e.event_type for e in events} == set(EVENT_TYPES)
    for event_type in EVENT_TYPES:  # enough of each type for a study with per_type up to 4
        assert sum(e.event_type == event_type for e in events) == 4
    assert len({e.event_id for e in events}) == len(events)
    for event in events:
        assert event.summary.startswith("[Fictional example]")
        assert event.actors
        assert event.location and event.admin1
        assert render_post(event).splitlines()[-1].startswith("[Fictional example]")


def test_the_first_twelve_examples_stay_first_and_unchanged() -> None:
    """Events were added at the end, so runs of the first event (the default) and of any
    event picked by id give the outputs they gave before."""
    events = example_events()
    assert [e.event_id for e in events[:12]] == [
        "VEL0001", "SOL0001", "ARV0001", "VEL0002", "VEL0003", "ARV0002",
        "ARV0003", "SOL0002", "VEL0004", "ARV0004", "SOL0003", "VEL0005",
    ]  # fmt: skip
    assert events[0].summary.startswith("[Fictional example] On 5 March 2024, the Veloria army")


def test_examples_can_be_selected() -> None:
    battles = select_events(example_events(), event_type="Battles")
    assert len(battles) == 4
    veloria = select_events(example_events(), country="Republic of Veloria")
    assert veloria
