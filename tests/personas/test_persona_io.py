from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spillover.exceptions import PersonaError
from spillover.io import read_persona_assignment
from spillover.personas import PERSONAS, assign_balanced


def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _expect(path: Path, n: int, *patterns: str) -> str:
    with pytest.raises(PersonaError) as info:
        read_persona_assignment(path, n)
    message = str(info.value)
    assert str(path) in message
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)
    return message


# --- CSV -------------------------------------------------------------------------------------


def test_csv_round_trip_with_indices(tmp_path: Path) -> None:
    expected = assign_balanced(100, rng=0)
    order = np.random.default_rng(1).permutation(100)
    lines = ["node,persona"] + [f"{v},{expected[v]}" for v in order]
    path = _write_csv(tmp_path / "a.csv", "\n".join(lines) + "\n")
    out = read_persona_assignment(path, 100)
    assert out.dtype == np.int8
    assert out.shape == (100,)
    assert not out.flags.writeable
    assert np.array_equal(out, expected)
    assert np.array_equal(read_persona_assignment(str(path), 100), expected)


def test_csv_round_trip_with_codes_extra_columns_and_padding(tmp_path: Path) -> None:
    expected = assign_balanced(40, rng=2)
    lines = ["label, persona ,node"]
    for v in range(40):
        value = PERSONAS[expected[v]].code if v % 2 else str(int(expected[v]))
        lines.append(f"x{v}, {value.lower() if v % 3 == 0 else value} ,{v}")
        if v == 10:
            lines.append("")
            lines.append(" , , ")
    # A spreadsheet's byte-order mark must not spoil the first column name.
    path = tmp_path / "codes.csv"
    path.write_text("\ufeff" + "\r\n".join(lines) + "\r\n", encoding="utf-8")
    assert np.array_equal(read_persona_assignment(path, 40), expected)


def test_csv_header_only_with_zero_nodes(tmp_path: Path) -> None:
    out = read_persona_assignment(_write_csv(tmp_path / "e.csv", "node,persona\n"), 0)
    assert out.shape == (0,)


def test_csv_empty_file(tmp_path: Path) -> None:
    _expect(_write_csv(tmp_path / "e.csv", ""), 3, r"the file is empty; expected a header line")


def test_csv_missing_column(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "m.csv", "node,profile\n0,1\n")
    _expect(path, 1, r"missing column\(s\) \['persona'\]", r"got \['node', 'profile'\]")


def test_csv_duplicate_column(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "d.csv", "node,persona,node\n0,1,0\n")
    _expect(path, 1, r"column 'node' appears twice")


def test_csv_bad_values_name_their_lines(tmp_path: Path) -> None:
    text = "node,persona\n0,1\nx,2\n2,32\n3,O+C+E+A\n9,4\n4\n"
    message = _expect(
        _write_csv(tmp_path / "b.csv", text),
        5,
        r"5 bad value\(s\)",
        r"line 3: node 'x' is not an integer",
        r"line 4: persona '32' is neither an index 0\.\.31 nor a code",
        r"line 5: persona 'O\+C\+E\+A' is neither",
        r"line 6: node 9 is outside 0\.\.4",
        r"line 7: expected 2 fields, got 1",
    )
    assert "line 2" not in message


def test_csv_many_bad_values_are_summarised(tmp_path: Path) -> None:
    lines = ["node,persona"] + [f"{v},-1" for v in range(12)]
    path = _write_csv(tmp_path / "many.csv", "\n".join(lines))
    message = _expect(path, 12, r"12 bad value\(s\)", r"line 6: persona '-1'", r"and 7 more$")
    assert "line 7" not in message


def test_csv_duplicates_name_node_and_lines(tmp_path: Path) -> None:
    text = "node,persona\n0,1\n1,2\n0,3\n2,4\n1,5\n"
    _expect(
        _write_csv(tmp_path / "dup.csv", text),
        3,
        r"every node 0\.\.2 must appear exactly once",
        r"2 node\(s\) appear more than once \(node 0 at lines 2, 4; node 1 at lines 3, 6\)",
    )


def test_csv_missing_nodes_count_and_first_few(tmp_path: Path) -> None:
    lines = ["node,persona"] + [f"{v},0" for v in range(0, 20, 2)]
    message = _expect(
        _write_csv(tmp_path / "miss.csv", "\n".join(lines)),
        20,
        r"10 of 20 node\(s\) are missing \(first: 1, 3, 5, 7, 9, \.\.\.\)",
    )
    assert "more than once" not in message


def test_csv_duplicates_and_missing_reported_together(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "both.csv", "node,persona\n0,1\n0,1\n")
    _expect(path, 2, r"node 0 at lines 2, 3", r"1 of 2 node\(s\) are missing \(first: 1\)")


def test_csv_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("node,persona\n0,1\n1,caf\xe9\n".encode("latin-1"))
    _expect(path, 2, r"not UTF-8 text")


def test_csv_malformed(tmp_path: Path) -> None:
    # The csv module refuses fields beyond its size limit (128 KiB by default).
    path = _write_csv(tmp_path / "huge.csv", 'node,persona\n0,"' + "x" * 200_000 + '"\n')
    _expect(path, 1, r"malformed CSV \(field larger than field limit")


# --- Parquet ---------------------------------------------------------------------------------


def _write_parquet(path: Path, **columns: pa.Array) -> Path:  # type: ignore[type-arg]
    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize("int_type", [pa.int8(), pa.int16(), pa.int64(), pa.uint8()])
def test_parquet_round_trip_with_indices(tmp_path: Path, int_type: pa.DataType) -> None:
    expected = assign_balanced(300, rng=5)
    order = np.random.default_rng(6).permutation(300)
    path = _write_parquet(
        tmp_path / "a.parquet",
        node=pa.array(order, pa.int32()),
        persona=pa.array(expected[order].astype(np.int64), int_type),
        weight=pa.array(np.ones(300)),
    )
    out = read_persona_assignment(path, 300)
    assert out.dtype == np.int8
    assert not out.flags.writeable
    assert np.array_equal(out, expected)


def test_parquet_round_trip_with_codes(tmp_path: Path) -> None:
    expected = assign_balanced(64, rng=8)
    codes = [PERSONAS[i].code for i in expected]
    for name, column in [
        ("s.parquet", pa.array(codes, pa.string())),
        ("l.pq", pa.array(codes, pa.large_string())),
        ("d.parquet", pa.array(codes).dictionary_encode()),
    ]:
        path = _write_parquet(tmp_path / name, persona=column, node=pa.array(range(64)))
        assert np.array_equal(read_persona_assignment(path, 64), expected), name


def test_parquet_text_may_hold_indices_and_loose_codes(tmp_path: Path) -> None:
    path = _write_parquet(
        tmp_path / "t.parquet",
        node=pa.array([2, 0, 1]),
        persona=pa.array(["5", " o+c+e+a+n+ ", "O-C-E-A-N+"]),
    )
    assert read_persona_assignment(path, 3).tolist() == [31, 1, 5]


def test_parquet_not_parquet(tmp_path: Path) -> None:
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"this is not a parquet file")
    _expect(path, 1, r"cannot be read as Parquet")


def test_parquet_missing_column(tmp_path: Path) -> None:
    path = _write_parquet(tmp_path / "m.parquet", node=pa.array([0]))
    _expect(path, 1, r"missing column\(s\) \['persona'\]", r"got \['node'\]")


def test_parquet_float_node_column(tmp_path: Path) -> None:
    path = _write_parquet(tmp_path / "f.parquet", node=pa.array([0.0]), persona=pa.array([1]))
    _expect(path, 1, r"column 'node' must have an integer type; got double")


def test_parquet_float_persona_column(tmp_path: Path) -> None:
    path = _write_parquet(tmp_path / "f.parquet", node=pa.array([0]), persona=pa.array([1.0]))
    _expect(path, 1, r"column 'persona' must hold integers 0\.\.31 or codes .*got type double")


def test_parquet_nulls(tmp_path: Path) -> None:
    path = _write_parquet(
        tmp_path / "n.parquet",
        node=pa.array([0, None, 2], pa.int64()),
        persona=pa.array([None, 1, 2], pa.int64()),
    )
    _expect(
        path,
        3,
        r"2 bad value\(s\)",
        r"row index 0: persona is missing \(null\); row index 1: node is missing \(null\)",
    )


def test_parquet_bad_values_name_their_rows(tmp_path: Path) -> None:
    path = _write_parquet(
        tmp_path / "b.parquet",
        node=pa.array([0, 7, 2, 3]),
        persona=pa.array([1, 2, 40, -2]),
    )
    _expect(
        path,
        4,
        r"3 bad value\(s\)",
        r"row index 1: node 7 is outside 0\.\.3; row index 2: persona 40 is neither .*"
        r"row index 3: persona -2 is neither",
    )


def test_parquet_bad_codes(tmp_path: Path) -> None:
    path = _write_parquet(
        tmp_path / "c.parquet",
        node=pa.array([0, 1]),
        persona=pa.array(["O+C+E+A+N+", "nice"]),
    )
    _expect(path, 2, r"row index 1: persona 'nice' is neither")


def test_parquet_duplicates_and_missing(tmp_path: Path) -> None:
    path = _write_parquet(
        tmp_path / "d.parquet",
        node=pa.array([0, 2, 0]),
        persona=pa.array([1, 2, 3]),
    )
    _expect(
        path,
        4,
        r"node 0 at row indices 0, 2",
        r"2 of 4 node\(s\) are missing \(first: 1, 3\)",
    )


# --- arguments -------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    _expect(tmp_path / "nope.csv", 3, r"no such file")


def test_wrong_suffix(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "a.txt", "node,persona\n0,1\n")
    _expect(path, 1, r"must end in \.csv, \.parquet or \.pq; got '\.txt'")
    _expect(tmp_path / "noext", 1, r"got 'no suffix'")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    _expect(folder, 1, r"is a directory, not a file")


@pytest.mark.parametrize("bad", [-1, 2.0, True, None])
def test_bad_n_nodes(tmp_path: Path, bad: object) -> None:
    path = _write_csv(tmp_path / "a.csv", "node,persona\n0,1\n")
    with pytest.raises(PersonaError, match=r"n_nodes must be a non-negative integer; got"):
        read_persona_assignment(path, bad)  # type: ignore[arg-type]


def test_unreadable_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_csv(tmp_path / "locked.csv", "node,persona\n0,1\n")

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    _expect(path, 1, r"cannot be read \(permission denied\)")
