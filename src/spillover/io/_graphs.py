"""Reading and writing edge lists.

Formats, chosen by the file suffix:

``.csv``
    Comma-separated text, UTF-8. Either a header line naming the columns ``source`` and
    ``target`` (other columns are ignored), or no header and exactly two integer columns.
``.tsv``, ``.txt``, ``.edges``, ``.edgelist``
    The same, separated by tabs or spaces (the layout of SNAP and networkx edge lists).
``.parquet``, ``.pq``
    Integer columns ``source`` and ``target``; other columns are ignored.

In text files, blank lines and everything after a ``#`` are ignored. Each row is one undirected
edge; node ids are non-negative integers. Comment lines ``# n_nodes: N`` and ``# name: TEXT``
before the first row (Parquet: schema metadata ``spillover.n_nodes`` and ``spillover.name``)
record the number of nodes, which keeps isolated nodes, and the graph's name;
:func:`write_edge_list` writes them, so a graph survives a round trip unchanged.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from spillover._resources import check_edge_list_fits
from spillover.exceptions import GraphError
from spillover.graphs import MAX_NODES, Graph, OnDuplicate, check_count, first_duplicate

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["read_edge_list", "write_edge_list"]

IntArray = npt.NDArray[np.int64]

# Suffix -> field delimiter of text formats (None: runs of whitespace).
_TEXT_SUFFIXES: Final[dict[str, str | None]] = {
    ".csv": ",",
    ".tsv": None,
    ".txt": None,
    ".edges": None,
    ".edgelist": None,
}
_PARQUET_SUFFIXES: Final = frozenset({".parquet", ".pq"})
_COLUMNS: Final = ("source", "target")
_META_N_NODES: Final = "spillover.n_nodes"
_META_NAME: Final = "spillover.name"
_N_NODES_LINE: Final = re.compile(r"#\s*n_nodes\s*:\s*(\d+)\s*")
_NAME_LINE: Final = re.compile(r"#\s*name\s*:\s*(.*?)\s*")
_INT64_MAX: Final = np.iinfo(np.int64).max


def _suffix(func: str, path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _TEXT_SUFFIXES and suffix not in _PARQUET_SUFFIXES:
        known = ", ".join(sorted([*_TEXT_SUFFIXES, *_PARQUET_SUFFIXES]))
        raise GraphError(f"{func}: {path}: unknown edge-list format {suffix!r}; expected {known}")
    return suffix


def read_edge_list(
    path: str | os.PathLike[str],
    *,
    n_nodes: int | None = None,
    on_duplicate: OnDuplicate = "error",
) -> Graph:
    """Read an undirected graph from an edge-list file (CSV, whitespace-separated or Parquet).

    See the module documentation for the formats.

    Parameters
    ----------
    path
        The file; its suffix picks the format.
    n_nodes
        Number of nodes; must exceed every node id. Defaults to the number recorded in the file
        by :func:`write_edge_list`, else to the largest node id + 1.
    on_duplicate
        ``"error"`` (default) refuses an edge listed twice, in either direction; ``"drop"``
        keeps one copy (compare ``n_edges`` with the number of rows to see how many went).

    Returns
    -------
    Graph
        Named as recorded in the file, else ``"read_edge_list('<path>')"``.

    Raises
    ------
    GraphError
        With the path and the line (Parquet: the row, counted from 0) at fault, if the file is
        missing or unreadable, lacks the columns, holds a non-integer or negative node id, a
        self-loop, a repeated edge (unless ``on_duplicate="drop"``), or a node id not below
        ``n_nodes``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "g.csv"
    >>> _ = path.write_text("source,target\\n0,1\\n1,2\\n")
    >>> read_edge_list(path).summary()["n_edges"]
    2
    """
    func = "read_edge_list"
    path = Path(path)
    if n_nodes is not None:
        check_count(func, "n_nodes", n_nodes)
    if on_duplicate not in ("error", "drop"):
        raise GraphError(f"{func}: on_duplicate must be 'error' or 'drop'; got {on_duplicate!r}")
    suffix = _suffix(func, path)
    try:
        if suffix in _PARQUET_SUFFIXES:
            edges = _read_parquet(path)
        else:
            check_edge_list_fits(f"{func}: {path}", _estimate_text_rows(path), exact=False)
            edges = _read_text(path, _TEXT_SUFFIXES[suffix])
    except FileNotFoundError:
        raise GraphError(f"{func}: no such file: {path}") from None
    except IsADirectoryError:
        raise GraphError(f"{func}: {path} is a directory, not an edge-list file") from None
    except UnicodeDecodeError as exc:
        raise GraphError(f"{func}: {path} is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise GraphError(f"{func}: cannot read {path}: {exc.strerror or exc}") from None
    return edges.build(n_nodes, on_duplicate)


def _estimate_text_rows(path: Path, sample: int = 1 << 16) -> int:
    """Rows of a text edge list, estimated from its size and its first ``sample`` bytes."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(sample)
    lines = head.count(b"\n") or 1
    return int(size / max(len(head) / lines, 4.0)) + 1


class _Edges:
    """Edges as read from a file, with what is needed to point at the file when they are bad."""

    def __init__(
        self,
        path: Path,
        u: IntArray,
        v: IntArray,
        where: Callable[[int], str],
        stored_n_nodes: int | None,
        stored_name: str | None,
    ) -> None:
        self.path, self.u, self.v, self.where = path, u, v, where
        self.stored_n_nodes, self.stored_name = stored_n_nodes, stored_name

    def fail(self, row: int, message: str) -> GraphError:
        return GraphError(f"read_edge_list: {self.path} {self.where(row)}: {message}")

    def build(self, n_nodes: int | None, on_duplicate: OnDuplicate) -> Graph:
        u, v = self.u, self.v
        negative = (u < 0) | (v < 0)
        if negative.any():
            row = int(np.argmax(negative))
            raise self.fail(
                row,
                "node ids must be non-negative integers; "
                f"got source={int(u[row])}, target={int(v[row])}",
            )
        loops = u == v
        if loops.any():
            row = int(np.argmax(loops))
            raise self.fail(row, f"self-loops are not allowed; got source=target={int(u[row])}")
        top = np.maximum(u, v)
        max_row = int(np.argmax(top)) if top.size else -1
        needed = int(top[max_row]) + 1 if top.size else 0
        if needed > MAX_NODES:
            raise self.fail(max_row, f"node id {needed - 1} is too large (at most {MAX_NODES})")
        if n_nodes is None:
            if self.stored_n_nodes is not None and self.stored_n_nodes < needed:
                raise self.fail(
                    max_row,
                    f"node id {needed - 1} is not below the n_nodes={self.stored_n_nodes} "
                    "recorded in the file",
                )
            n = needed if self.stored_n_nodes is None else self.stored_n_nodes
        elif n_nodes < needed:
            raise self.fail(
                max_row, f"node id {needed - 1} is not below the n_nodes={int(n_nodes)} given"
            )
        else:
            n = int(n_nodes)
        name = self.stored_name or f"read_edge_list({str(self.path)!r})"
        graph = Graph.from_edges(n, np.column_stack((u, v)), name=name, on_duplicate="drop")
        if on_duplicate == "error" and graph.n_edges < u.size:
            found = first_duplicate(u, v)
            assert found is not None
            row, earlier = found
            raise self.fail(
                row,
                f"each edge must be listed once (pass on_duplicate='drop' to keep one copy); "
                f"got ({int(u[row])}, {int(v[row])}) repeating {self.where(earlier)}",
            )
        return graph


# -- text ------------------------------------------------------------------------------------


def _fields(content: str, delimiter: str | None) -> list[str]:
    return [field.strip().strip('"').strip() for field in content.split(delimiter)]


def _content_lines(handle: IO[str], start: int) -> Iterator[tuple[int, str]]:
    """``(line number, text without comment)`` of each non-blank line after line ``start``."""
    for lineno, raw in enumerate(handle, 1):
        if lineno <= start:
            continue
        content = raw.split("#", 1)[0].strip()
        if content:
            yield lineno, content


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


_BOM = "\ufeff".encode()


def _is_ascii_file(path: Path, chunk: int = 1 << 20) -> bool:
    """Whether every byte of ``path`` after an optional byte-order mark is ASCII."""
    with path.open("rb") as handle:
        block = handle.read(chunk).removeprefix(_BOM)
        while block:
            if not block.isascii():
                return False
            block = handle.read(chunk)
    return True


def _refuse_non_ascii_rows(path: Path, header_lines: int) -> None:
    with path.open(encoding="utf-8-sig") as handle:
        for lineno, content in _content_lines(handle, header_lines):
            if not content.isascii():
                raise GraphError(
                    f"read_edge_list: {path} line {lineno}: node ids must be integers; "
                    f"got {content[:60]!r}"
                )


def _ascii_lines(path: Path, header_lines: int) -> Iterator[str]:
    """The lines of ``path`` with the header lines blanked and comments dropped.

    Line numbers are kept, so ``skiprows`` and the messages that name a line stay right.
    """
    with path.open(encoding="utf-8-sig") as handle:
        for lineno, raw in enumerate(handle, 1):
            yield "\n" if lineno <= header_lines else raw.split("#", 1)[0].rstrip("\r\n") + "\n"


def _read_text(path: Path, delimiter: str | None) -> _Edges:
    func = "read_edge_list"
    stored_n: int | None = None
    stored_name: str | None = None
    first: tuple[int, str] | None = None
    # utf-8-sig: spreadsheets often prepend a byte-order mark, which would corrupt the header.
    with path.open(encoding="utf-8-sig") as handle:
        for lineno, raw in enumerate(handle, 1):
            text = raw.strip()
            if not text:
                continue
            if text.startswith("#"):
                if match := _N_NODES_LINE.fullmatch(text):
                    stored_n = int(match.group(1))
                elif match := _NAME_LINE.fullmatch(text):
                    stored_name = match.group(1) or None
                continue
            first = (lineno, text.split("#", 1)[0].strip())
            break
    if first is None:
        empty = np.empty(0, dtype=np.int64)
        return _Edges(path, empty, empty, lambda row: f"row {row}", stored_n, stored_name)
    lineno, content = first
    fields = _fields(content, delimiter)
    if all(_is_int(field) for field in fields):
        if len(fields) != 2:
            raise GraphError(
                f"{func}: {path} line {lineno}: expected 2 columns (source, target) or a header "
                f"naming 'source' and 'target'; got {len(fields)} fields"
            )
        header_lines, columns = lineno - 1, (0, 1)
    else:
        names = [field.lower() for field in fields]
        missing = [name for name in _COLUMNS if name not in names]
        if missing:
            raise GraphError(
                f"{func}: {path} line {lineno}: the header must name the columns 'source' and "
                f"'target'; got {fields}"
            )
        header_lines, columns = lineno, (names.index("source"), names.index("target"))
    n_fields = len(fields)

    def where(row: int) -> str:
        with path.open(encoding="utf-8-sig") as handle:
            for index, (line, _) in enumerate(_content_lines(handle, header_lines)):
                if index == row:
                    return f"line {line}"
        return f"row {row}"

    # numpy's loadtxt can crash the interpreter (a segmentation fault, numpy 2.4) while it
    # reports a field it cannot convert that mixes two- and four-byte UTF-8 characters, so
    # it is only ever given ASCII: node ids are integers, and anything else in a data row is
    # an error named here.
    source: Path | Iterator[str] = path
    if not _is_ascii_file(path):
        _refuse_non_ascii_rows(path, header_lines)
        source = _ascii_lines(path, header_lines)
    try:
        with warnings.catch_warnings():
            # A file with a header and no rows is an empty graph, not a reason to warn.
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data")
            table = np.loadtxt(
                source,
                dtype=np.int64,
                delimiter=delimiter,
                comments="#",
                skiprows=header_lines,
                # Reading exactly two columns keeps loadtxt's check that every row has both.
                usecols=columns if n_fields > 2 else None,
                quotechar='"',
                ndmin=2,
                encoding="utf-8-sig",
            )
    except ValueError as exc:
        raise _explain_text_error(path, delimiter, header_lines, n_fields, columns, exc) from None
    if table.shape[0] == 0:
        # loadtxt cannot tell the width of a table without rows.
        table = np.empty((0, 2), dtype=np.int64)
    elif table.shape[1] != 2:
        # Rows of one width, but not two (loadtxt takes any width when no columns are named).
        raise _explain_text_error(
            path, delimiter, header_lines, 2, columns, ValueError(f"{table.shape[1]} columns")
        )
    u, v = (
        (table[:, 0], table[:, 1])
        if n_fields > 2
        else (table[:, columns[0]], table[:, 1 - columns[0]])
    )
    return _Edges(
        path, np.ascontiguousarray(u), np.ascontiguousarray(v), where, stored_n, stored_name
    )


def _explain_text_error(
    path: Path,
    delimiter: str | None,
    header_lines: int,
    n_fields: int,
    columns: tuple[int, int],
    exc: ValueError,
) -> GraphError:
    """The first bad line of a text edge list, found again line by line after a fast read failed."""
    func = "read_edge_list"
    with path.open(encoding="utf-8-sig") as handle:
        for lineno, content in _content_lines(handle, header_lines):
            fields = _fields(content, delimiter)
            if len(fields) < max(columns) + 1 or (n_fields == 2 and len(fields) != 2):
                return GraphError(
                    f"{func}: {path} line {lineno}: expected {n_fields} fields; "
                    f"got {len(fields)} in {content!r}"
                )
            for column, label in zip(columns, _COLUMNS, strict=True):
                text = fields[column]
                if not _is_int(text):
                    return GraphError(
                        f"{func}: {path} line {lineno}: node ids must be integers; "
                        f"got {label}={text!r}"
                    )
                if abs(int(text)) > _INT64_MAX:
                    return GraphError(
                        f"{func}: {path} line {lineno}: node id out of range; got {label}={text}"
                    )
    return GraphError(f"{func}: {path}: cannot parse the edge list ({exc})")


# -- parquet ---------------------------------------------------------------------------------


def _read_parquet(path: Path) -> _Edges:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    func = "read_edge_list"
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, pa.ArrowIOError) as exc:
        if path.is_dir():
            raise IsADirectoryError(path) from None
        raise GraphError(f"{func}: {path} is not a readable Parquet file ({exc})") from None
    check_edge_list_fits(f"{func}: {path}", parquet.metadata.num_rows, exact=True)
    schema = parquet.schema_arrow
    missing = [name for name in _COLUMNS if name not in schema.names]
    if missing:
        raise GraphError(
            f"{func}: {path}: the table must have the columns 'source' and 'target'; "
            f"got columns {schema.names}"
        )
    for name in _COLUMNS:
        kind = schema.field(name).type
        if not pa.types.is_integer(kind):
            raise GraphError(
                f"{func}: {path}: column {name!r} must hold integer node ids; got type {kind}"
            )
    table = parquet.read(columns=list(_COLUMNS))
    arrays: list[IntArray] = []
    for name in _COLUMNS:
        column = table.column(name)
        if column.null_count:
            row = int(np.argmax(pc.is_null(column).to_numpy(zero_copy_only=False)))
            raise GraphError(
                f"{func}: {path} row {row} (counting from 0): {name} is missing (null)"
            )
        values = column.to_numpy()
        if values.dtype == np.uint64 and values.size and values.max() > _INT64_MAX:
            row = int(np.argmax(values > _INT64_MAX))
            raise GraphError(
                f"{func}: {path} row {row} (counting from 0): node id out of range; "
                f"got {name}={int(values[row])}"
            )
        arrays.append(values.astype(np.int64, copy=False))
    metadata = {key.decode(): value.decode() for key, value in (schema.metadata or {}).items()}
    stored_n: int | None = None
    if _META_N_NODES in metadata:
        text = metadata[_META_N_NODES]
        if not text.isdigit():
            raise GraphError(
                f"{func}: {path}: metadata {_META_N_NODES!r} must be a non-negative integer; "
                f"got {text!r}"
            )
        stored_n = int(text)
    return _Edges(
        path,
        arrays[0],
        arrays[1],
        lambda row: f"row {row} (counting from 0)",
        stored_n,
        metadata.get(_META_NAME) or None,
    )


# -- writing ---------------------------------------------------------------------------------


def write_edge_list(graph: Graph, path: str | os.PathLike[str]) -> None:
    """Write ``graph`` as an edge list, in the format its suffix names.

    Each edge is written once as ``(source, target)`` with ``source < target``, sorted. The
    number of nodes and the name are recorded (text: ``# n_nodes:`` and ``# name:`` comment
    lines; Parquet: schema metadata), so that :func:`read_edge_list` gives back an equal graph.
    The file is written under a temporary name and renamed into place, so it is never seen
    half-written; an existing file is replaced.

    Parameters
    ----------
    graph
        The graph to write.
    path
        Destination; suffix ``.csv``, ``.tsv``, ``.txt``, ``.edges``, ``.edgelist``,
        ``.parquet`` or ``.pq``. The directory must exist.

    Raises
    ------
    GraphError
        If the suffix is unknown or the file cannot be written.
    """
    import pyarrow as pa

    func = "write_edge_list"
    path = Path(path)
    suffix = _suffix(func, path)
    if not isinstance(graph, Graph):
        raise GraphError(f"{func}: graph must be a Graph; got {type(graph).__name__}")
    edges = graph.edges()
    table = pa.table({"source": edges[:, 0], "target": edges[:, 1]})
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if suffix in _PARQUET_SUFFIXES:
            _write_parquet(table, graph, temporary)
        else:
            _write_text(table, graph, temporary, _TEXT_SUFFIXES[suffix] or "\t")
        temporary.replace(path)
    except OSError as exc:
        raise GraphError(f"{func}: cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def _write_text(table: pa.Table, graph: Graph, path: Path, delimiter: str) -> None:
    import pyarrow.csv as pacsv

    header = (
        "# spillover edge list: one undirected edge per row\n"
        f"# name: {_one_line(graph.name)}\n"
        f"# n_nodes: {graph.n_nodes}\n"
        f"source{delimiter}target\n"
    )
    options = pacsv.WriteOptions(include_header=False, delimiter=delimiter)
    with path.open("wb") as handle:
        handle.write(header.encode())
        pacsv.write_csv(table, handle, write_options=options)


def _write_parquet(table: pa.Table, graph: Graph, path: Path) -> None:
    import pyarrow.parquet as pq

    metadata = {_META_N_NODES: str(graph.n_nodes), _META_NAME: graph.name}
    pq.write_table(table.replace_schema_metadata(metadata), path)
