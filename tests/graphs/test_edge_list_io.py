"""Reading and writing edge lists (spillover.io._graphs), kept beside the graph tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spillover.exceptions import GraphError
from spillover.graphs import Graph, random_regular
from spillover.io import read_edge_list, write_edge_list


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".txt", ".edgelist", ".parquet", ".pq"])
def test_round_trip_keeps_isolated_nodes_and_name(tmp_path: Path, suffix: str) -> None:
    g = Graph.from_edges(7, [(0, 1), (4, 2), (1, 2)], name="three edges, 7 nodes")
    path = tmp_path / f"g{suffix}"
    write_edge_list(g, path)
    assert read_edge_list(path) == g
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_of_a_large_regular_graph(tmp_path: Path, suffix: str) -> None:
    g = random_regular(20_000, 8, rng=0)
    path = tmp_path / f"g{suffix}"
    write_edge_list(g, str(path))
    assert read_edge_list(str(path)) == g


def test_written_csv_layout(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    write_edge_list(Graph.from_edges(3, [(2, 0)], name="multi\nline"), path)
    assert path.read_text().splitlines() == [
        "# spillover edge list: one undirected edge per row",
        "# name: multi line",
        "# n_nodes: 3",
        "source,target",
        "0,2",
    ]


def test_written_parquet_layout(tmp_path: Path) -> None:
    path = tmp_path / "g.parquet"
    write_edge_list(Graph.from_edges(3, [(2, 0)], name="g"), path)
    table = pq.read_table(path)
    assert table.column_names == ["source", "target"]
    assert table.to_pydict() == {"source": [0], "target": [2]}
    assert table.schema.metadata[b"spillover.n_nodes"] == b"3"


def test_write_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("old")
    write_edge_list(Graph.from_edges(2, [(0, 1)]), path)
    assert read_edge_list(path).n_edges == 1


def test_csv_variants(tmp_path: Path) -> None:
    cases = {
        "plain.csv": "0,1\n1,2\n",
        "header.csv": "source,target\n0,1\n1,2\n",
        "reordered.csv": "weight,target,source\n0.5,1,0\n1e3,2,1\n",
        "quoted.csv": '"source","target"\n"0","1"\n1,2\n',
        "commented.csv": "# a comment\n\nsource,target\n0,1 # inline\n\n# more\n1,2\n",
        "bom.csv": "\ufeffsource,target\r\n0,1\r\n1,2\r\n",
        "upper.csv": "Source,TARGET\n0,1\n2,1\n",
        "spaces.txt": "# SNAP style\n0\t1\n1 2\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        g = read_edge_list(path)
        assert g.edges().tolist() == [[0, 1], [1, 2]], name
        assert g.name == f"read_edge_list({str(path)!r})"


def test_n_nodes_defaults_to_max_id_plus_one_and_can_be_raised(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("source,target\n0,5\n")
    assert read_edge_list(path).n_nodes == 6
    assert read_edge_list(path, n_nodes=10).n_nodes == 10


def test_empty_files_give_empty_graphs(tmp_path: Path) -> None:
    header_only = tmp_path / "h.csv"
    header_only.write_text("source,target\n")
    assert read_edge_list(header_only).n_nodes == 0
    nothing = tmp_path / "n.csv"
    nothing.write_text("# n_nodes: 4\n")
    g = read_edge_list(nothing)
    assert (g.n_nodes, g.n_edges) == (4, 0)


def test_duplicates_are_refused_or_dropped(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("source,target\n0,1\n1,2\n# comment\n\n2,1\n")
    with pytest.raises(
        GraphError,
        match=r"g\.csv line 6: each edge must be listed once .*"
        r"got \(2, 1\) repeating line 3",
    ):
        read_edge_list(path)
    assert read_edge_list(path, on_duplicate="drop").edges().tolist() == [[0, 1], [1, 2]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source,target\n0,1\n1,x\n", "line 3: node ids must be integers; got target='x'"),
        ("source,target\n0,1\n1.5,2\n", "line 3: node ids must be integers; got source='1.5'"),
        ("0,1\n\n1,2,3\n", r"line 3: expected 2 fields; got 3 in '1,2,3'"),
        ("source,target\n0,1\n1\n", "line 3: expected 2 fields; got 1 in '1'"),
        (
            "a,b,w\n0,1,2\n",
            r"line 1: the header must name the columns 'source' and 'target'; "
            r"got \['a', 'b', 'w'\]",
        ),
        ("# c\n0,1,2\n", "line 2: expected 2 columns .* got 3 fields"),
        (
            "source,target\n0,1\n\n2,-1\n",
            "line 4: node ids must be non-negative integers; got source=2, target=-1",
        ),
        ("source,target\n0,1\n3,3\n", "line 3: self-loops are not allowed; got source=target=3"),
        ("source,target\n0,99999999999999999999\n", "line 2: node id out of range"),
        (
            "# n_nodes: 2\nsource,target\n0,1\n1,2\n",
            "line 4: node id 2 is not below the n_nodes=2 recorded in the file",
        ),
    ],
)
def test_csv_errors_name_the_path_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(GraphError, match=f"^read_edge_list: {path} {message}"):
        read_edge_list(path)


def test_given_n_nodes_must_exceed_every_id(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("source,target\n0,1\n4,2\n1,2\n")
    with pytest.raises(GraphError, match="line 3: node id 4 is not below the n_nodes=4 given"):
        read_edge_list(path, n_nodes=4)
    with pytest.raises(GraphError, match="read_edge_list: n_nodes must be >= 0; got n_nodes=-1"):
        read_edge_list(path, n_nodes=-1)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match=r"^read_edge_list: no such file: .*missing\.csv$"):
        read_edge_list(tmp_path / "missing.csv")
    with pytest.raises(GraphError, match=r"^read_edge_list: no such file: .*missing\.parquet$"):
        read_edge_list(tmp_path / "missing.parquet")
    directory = tmp_path / "dir.csv"
    directory.mkdir()
    with pytest.raises(GraphError, match="is a directory"):
        read_edge_list(directory)
    with pytest.raises(GraphError, match=r"unknown edge-list format '\.json'; expected \.csv"):
        read_edge_list(tmp_path / "g.json")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(GraphError, match="is not UTF-8 text"):
        read_edge_list(binary)
    with pytest.raises(GraphError, match="on_duplicate must be 'error' or 'drop'; got 'x'"):
        read_edge_list(binary, on_duplicate="x")  # type: ignore[arg-type]


def write_table(
    path: Path, columns: dict[str, Any], metadata: dict[str, str] | None = None
) -> None:
    table = pa.table(columns)
    if metadata:
        table = table.replace_schema_metadata(metadata)
    pq.write_table(table, path)


def test_parquet_reads_any_integer_type_and_ignores_other_columns(tmp_path: Path) -> None:
    path = tmp_path / "g.parquet"
    write_table(
        path,
        {
            "w": pa.array([0.5, 1.0]),
            "target": pa.array([1, 2], pa.uint8()),
            "source": pa.array([0, 1], pa.int16()),
        },
    )
    g = read_edge_list(path)
    assert g.edges().tolist() == [[0, 1], [1, 2]]
    assert g.name == f"read_edge_list({str(path)!r})"


@pytest.mark.parametrize(
    ("columns", "metadata", "message"),
    [
        (
            {"src": pa.array([0]), "target": pa.array([1])},
            None,
            r"the table must have the columns 'source' and 'target'; "
            r"got columns \['src', 'target'\]",
        ),
        (
            {"source": pa.array(["0"]), "target": pa.array([1])},
            None,
            "column 'source' must hold integer node ids; got type string",
        ),
        (
            {"source": pa.array([0, 1, None]), "target": pa.array([1, 2, 3])},
            None,
            r"row 2 \(counting from 0\): source is missing \(null\)",
        ),
        (
            {"source": pa.array([0, 2**64 - 1], pa.uint64()), "target": pa.array([1, 2])},
            None,
            r"row 1 \(counting from 0\): node id out of range; got source=18446744073709551615",
        ),
        (
            {"source": pa.array([0, 1]), "target": pa.array([1, 0])},
            None,
            r"row 1 \(counting from 0\): each edge must be listed once .* repeating row 0",
        ),
        (
            {"source": pa.array([0, 1]), "target": pa.array([1, -1])},
            None,
            r"row 1 \(counting from 0\): node ids must be non-negative",
        ),
        (
            {"source": pa.array([0]), "target": pa.array([1])},
            {"spillover.n_nodes": "many"},
            "metadata 'spillover.n_nodes' must be a non-negative integer; got 'many'",
        ),
    ],
)
def test_parquet_errors(
    tmp_path: Path, columns: dict[str, Any], metadata: dict[str, str] | None, message: str
) -> None:
    path = tmp_path / "bad.parquet"
    write_table(path, columns, metadata)
    with pytest.raises(GraphError, match=f"^read_edge_list: {path}:? {message}"):
        read_edge_list(path)


def test_not_a_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "g.parquet"
    path.write_text("source,target\n0,1\n")
    with pytest.raises(GraphError, match="is not a readable Parquet file"):
        read_edge_list(path)


def test_write_errors(tmp_path: Path) -> None:
    g = Graph.from_edges(2, [(0, 1)])
    with pytest.raises(GraphError, match=r"^write_edge_list: cannot write .*nowhere"):
        write_edge_list(g, tmp_path / "nowhere" / "g.csv")
    with pytest.raises(GraphError, match=r"unknown edge-list format '\.xlsx'"):
        write_edge_list(g, tmp_path / "g.xlsx")
    with pytest.raises(GraphError, match="graph must be a Graph; got ndarray"):
        write_edge_list(np.zeros((1, 2)), tmp_path / "g.csv")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
