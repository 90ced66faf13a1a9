"""Reading persona assignment files.

An assignment file is a table with one row per node and (at least) the columns

``node``
    Integer node id in ``0..n_nodes-1``; every node exactly once, in any order.
``persona``
    The node's persona: a catalog index ``0..31`` or a code such as ``"O+C-E+A-N+"``.

as CSV (``.csv``, a header line first, UTF-8) or Parquet (``.parquet`` or ``.pq``). Other columns
are ignored.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from spillover.exceptions import PersonaError
from spillover.personas import N_PERSONAS, PERSONAS

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["read_persona_assignment"]

_CSV_SUFFIXES: Final = frozenset({".csv"})
_PARQUET_SUFFIXES: Final = frozenset({".parquet", ".pq"})
_COLUMNS: Final = ("node", "persona")
_INDEX_OF_CODE: Final[dict[str, int]] = {p.code: p.index for p in PERSONAS}
# How many offending entries an error message quotes before it summarises.
_SHOW: Final = 5


def _parse_persona(text: str) -> int | None:
    """The catalog index named by ``text`` (an index or a code), or None if it names none."""
    text = text.strip()
    try:
        value = int(text)
    except ValueError:
        return _INDEX_OF_CODE.get(text.upper())
    return value if 0 <= value < N_PERSONAS else None


def _bad_persona(value: object) -> str:
    return (
        f"persona {value!r} is neither an index 0..{N_PERSONAS - 1} nor a code such as 'O+C-E+A-N+'"
    )


def _raise_bad_values(path: Path, bad: list[tuple[int, str]], unit: str) -> None:
    if bad:
        bad = sorted(bad, key=lambda item: item[0])
        shown = "; ".join(f"{unit} {where}: {msg}" for where, msg in bad[:_SHOW])
        more = f"; and {len(bad) - _SHOW} more" if len(bad) > _SHOW else ""
        raise PersonaError(f"persona assignment {path}: {len(bad)} bad value(s): {shown}{more}")


def _read_csv(
    path: Path, n_nodes: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8], npt.NDArray[np.int64]]:
    nodes: list[int] = []
    personas: list[int] = []
    lines: list[int] = []
    bad: list[tuple[int, str]] = []
    # utf-8-sig: spreadsheets often prepend a byte-order mark, which would corrupt the first name.
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise PersonaError(
                f"persona assignment {path}: the file is empty; expected a header line "
                "with columns 'node' and 'persona'"
            )
        names = [h.strip() for h in header]
        missing = [c for c in _COLUMNS if c not in names]
        if missing:
            raise PersonaError(
                f"persona assignment {path}: missing column(s) {missing}; the header must "
                f"name 'node' and 'persona'; got {names}"
            )
        for c in _COLUMNS:
            if names.count(c) > 1:
                raise PersonaError(f"persona assignment {path}: column {c!r} appears twice")
        i_node, i_persona = names.index("node"), names.index("persona")
        width = max(i_node, i_persona) + 1
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            line = reader.line_num
            if len(row) < width:
                bad.append((line, f"expected {len(names)} fields, got {len(row)}"))
                continue
            node_text, persona_text = row[i_node].strip(), row[i_persona]
            try:
                node = int(node_text)
            except ValueError:
                bad.append((line, f"node {node_text!r} is not an integer"))
                continue
            if not 0 <= node < n_nodes:
                bad.append((line, f"node {node} is outside 0..{n_nodes - 1}"))
                continue
            index = _parse_persona(persona_text)
            if index is None:
                bad.append((line, _bad_persona(persona_text.strip())))
                continue
            nodes.append(node)
            personas.append(index)
            lines.append(line)
    _raise_bad_values(path, bad, "line")
    return (
        np.array(nodes, dtype=np.int64),
        np.array(personas, dtype=np.int8),
        np.array(lines, dtype=np.int64),
    )


def _null_rows(column: pa.ChunkedArray[Any]) -> npt.NDArray[np.intp]:
    import pyarrow.compute as pc

    return np.flatnonzero(np.asarray(pc.is_null(column).to_numpy(zero_copy_only=False)))


def _read_parquet(
    path: Path, n_nodes: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8], npt.NDArray[np.int64]]:
    # Imported here so that reading CSV, and `import spillover.io`, never pay for pyarrow.
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise PersonaError(f"persona assignment {path}: cannot be read as Parquet ({exc})") from exc
    missing = [c for c in _COLUMNS if c not in schema.names]
    if missing:
        raise PersonaError(
            f"persona assignment {path}: missing column(s) {missing}; the table must have "
            f"columns 'node' and 'persona'; got {schema.names}"
        )
    node_type, persona_type = schema.field("node").type, schema.field("persona").type
    if not pa.types.is_integer(node_type):
        raise PersonaError(
            f"persona assignment {path}: column 'node' must have an integer type; got {node_type}"
        )
    persona_is_text = (
        pa.types.is_string(persona_type)
        or pa.types.is_large_string(persona_type)
        or (pa.types.is_dictionary(persona_type) and pa.types.is_string(persona_type.value_type))
    )
    if not (pa.types.is_integer(persona_type) or persona_is_text):
        raise PersonaError(
            f"persona assignment {path}: column 'persona' must hold integers 0..{N_PERSONAS - 1} "
            f"or codes such as 'O+C-E+A-N+'; got type {persona_type}"
        )
    try:
        table = pq.read_table(path, columns=list(_COLUMNS))
    except (pa.ArrowException, OSError) as exc:
        raise PersonaError(f"persona assignment {path}: cannot be read as Parquet ({exc})") from exc

    bad: list[tuple[int, str]] = []
    for name in _COLUMNS:
        null = _null_rows(table.column(name))
        bad.extend((int(r), f"{name} is missing (null)") for r in null)
    _raise_bad_values(path, bad, "row index")

    nodes = np.asarray(table.column("node").to_numpy(), dtype=np.int64)
    bad.extend(
        (int(r), f"node {int(nodes[r])} is outside 0..{n_nodes - 1}")
        for r in np.flatnonzero((nodes < 0) | (nodes >= n_nodes))
    )
    column = table.column("persona")
    personas = np.zeros(len(nodes), dtype=np.int8)
    if persona_is_text:
        # Match codes in Arrow (a Python loop costs about a second per million rows); only
        # the rare cells that are not codes, such as indices written as text, go through Python.
        text = pc.utf8_upper(pc.utf8_trim_whitespace(column.cast(pa.string())))
        found = pc.index_in(text, value_set=pa.array(list(_INDEX_OF_CODE), pa.string()))
        codes = np.array(list(_INDEX_OF_CODE.values()), dtype=np.int8)
        position = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.float64)
        matched = ~np.isnan(position)
        personas[matched] = codes[position[matched].astype(np.intp)]
        for r in np.flatnonzero(~matched):
            value = column[int(r)].as_py()
            index = _parse_persona(str(value))
            if index is None:
                bad.append((int(r), _bad_persona(value)))
            else:
                personas[r] = index
    else:
        raw = np.asarray(column.to_numpy(), dtype=np.int64)
        bad.extend(
            (int(r), _bad_persona(int(raw[r])))
            for r in np.flatnonzero((raw < 0) | (raw >= N_PERSONAS))
        )
        if not bad:
            personas = raw.astype(np.int8)
    _raise_bad_values(path, bad, "row index")
    return nodes, personas, np.arange(len(nodes), dtype=np.int64)


def _assemble(
    path: Path,
    n_nodes: int,
    nodes: npt.NDArray[np.int64],
    personas: npt.NDArray[np.int8],
    where: npt.NDArray[np.int64],
    units: str,
) -> npt.NDArray[np.int8]:
    problems: list[str] = []
    counts = np.bincount(nodes, minlength=n_nodes)
    repeated = np.flatnonzero(counts > 1)
    if repeated.size:
        listed = "; ".join(
            f"node {int(v)} at {units} " + ", ".join(str(int(x)) for x in where[nodes == v])
            for v in repeated[:_SHOW]
        )
        more = f"; and {repeated.size - _SHOW} more" if repeated.size > _SHOW else ""
        problems.append(f"{repeated.size} node(s) appear more than once ({listed}{more})")
    absent = np.flatnonzero(counts == 0)
    if absent.size:
        first = ", ".join(str(int(v)) for v in absent[:_SHOW])
        more = ", ..." if absent.size > _SHOW else ""
        problems.append(f"{absent.size} of {n_nodes} node(s) are missing (first: {first}{more})")
    if problems:
        raise PersonaError(
            f"persona assignment {path}: every node 0..{n_nodes - 1} must appear exactly once; "
            + "; ".join(problems)
        )
    out = np.empty(n_nodes, dtype=np.int8)
    out[nodes] = personas
    out.flags.writeable = False
    return out


def read_persona_assignment(path: str | os.PathLike[str], n_nodes: int) -> npt.NDArray[np.int8]:
    """Read which persona each node has from a CSV or Parquet file.

    Parameters
    ----------
    path
        A ``.csv`` file (header line first) or a ``.parquet``/``.pq`` file with columns ``node``
        (integer node id) and ``persona`` (catalog index 0-31 or a code such as
        ``"O+C-E+A-N+"``). Other columns are ignored; rows may come in any order.
    n_nodes
        The number of nodes of the graph: every node ``0..n_nodes-1`` must appear exactly once.

    Returns
    -------
    numpy.ndarray
        ``persona_of_node``, shape (n_nodes,), int8, read-only.

    Raises
    ------
    PersonaError
        If the file is missing, unreadable or of another format, lacks a column, holds a bad
        node or persona value (CSV: with its line number; Parquet: with its 0-based row index),
        repeats a node or leaves one out. The message names the path.
    """
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int | np.integer) or n_nodes < 0:
        raise PersonaError(f"n_nodes must be a non-negative integer; got {n_nodes!r}")
    n = int(n_nodes)
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _CSV_SUFFIXES | _PARQUET_SUFFIXES:
        raise PersonaError(
            f"persona assignment {p}: the file name must end in .csv, .parquet or .pq; "
            f"got {suffix or 'no suffix'!r}"
        )
    if p.is_dir():
        raise PersonaError(f"persona assignment {p}: is a directory, not a file")
    if not p.is_file():
        raise PersonaError(f"persona assignment {p}: no such file")
    if suffix in _CSV_SUFFIXES:
        try:
            nodes, personas, where = _read_csv(p, n)
        except UnicodeDecodeError as exc:
            raise PersonaError(f"persona assignment {p}: not UTF-8 text ({exc})") from exc
        except csv.Error as exc:
            raise PersonaError(f"persona assignment {p}: malformed CSV ({exc})") from exc
        except OSError as exc:
            raise PersonaError(f"persona assignment {p}: cannot be read ({exc})") from exc
        return _assemble(p, n, nodes, personas, where, "lines")
    nodes, personas, where = _read_parquet(p, n)
    return _assemble(p, n, nodes, personas, where, "row indices")
