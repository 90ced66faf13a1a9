"""SQL over a sweep with DuckDB: views ``curves``, ``exposures``, ``fits`` and ``cells``.

A ``tables/NAME.parquet`` file in the sweep folder (a study writes ``study_cells``,
``pooled_fits``, ``rates``, ``effects`` and ``mean_field``) is a view ``NAME`` too.

``curves``, ``exposures`` and ``fits`` read the Parquet dataset (Hive partitioning: the
``cell`` column comes from the folder names); ``cells`` is ``sweep.json``'s list of cells (one
row per cell: ``cell``, ``status``, ``error``, ``elapsed_s``, ``run_dir`` and the swept
parameters). Every view has the swept parameters as columns.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spillover._extras import require_extra
from spillover.exceptions import ConfigError
from spillover.sweeps._dataset import TABLES, fits_table, param_types, param_value
from spillover.sweeps._loop_dataset import LOOP_DATASET_TABLES, loop_empty_schema
from spillover.sweeps._store import read_sweep_manifest
from spillover.trajectories import ExposureTable

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = ["connect_sweep", "query_sweep"]


def _empty_schema(table: str, params: dict[str, pa.DataType]) -> pa.Schema:
    import pyarrow as pa

    fields: list[tuple[str, pa.DataType]]
    if table == "curves":
        fields = [
            ("replicate", pa.int32()),
            ("round", pa.int32()),
            ("informed", pa.int64()),
            ("n_nodes", pa.int64()),
        ]
    elif table == "exposures":
        fields = [
            (name, pa.from_numpy_dtype(np.dtype(dtype)))
            for name, dtype in ExposureTable.column_dtypes().items()
        ]
    else:
        fields = [(f.name, f.type) for f in fits_table({"models": []}).schema]
    names = {n for n, _ in fields}
    fields += [(k, t) for k, t in params.items() if k not in names]
    return pa.schema([("cell", pa.int32()), *fields])


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _cells_table(doc: dict[str, Any], params: dict[str, pa.DataType]) -> pa.Table:
    import pyarrow as pa

    cells = doc["cells"]
    columns: dict[str, pa.Array[Any]] = {
        "cell": pa.array([int(c["cell"]) for c in cells], pa.int32()),
        "status": pa.array([c.get("status") for c in cells], pa.string()),
        "error": pa.array([c.get("error") for c in cells], pa.string()),
        "elapsed_s": pa.array([c.get("elapsed_s") for c in cells], pa.float64()),
        "run_dir": pa.array([c.get("run_dir") for c in cells], pa.string()),
    }
    for key, dtype in params.items():
        if key in columns:
            continue
        columns[key] = pa.array(
            [param_value(c.get("params", {}).get(key), dtype) for c in cells], dtype
        )
    return pa.table(columns)


def connect_sweep(path: str | os.PathLike[str]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the sweep's views defined."""
    require_extra("sweeps", only=("duckdb",))
    import duckdb

    root = Path(path)
    doc = read_sweep_manifest(root)
    params = param_types([(k, v) for k, v in doc["grid"]])
    con = duckdb.connect(":memory:")
    tables = LOOP_DATASET_TABLES if "loop" in doc else TABLES
    for table in tables:
        folder = root / "dataset" / table
        if any(folder.glob("cell=*/*.parquet")):
            pattern = _sql_string(str(folder / "*" / "*.parquet"))
            con.execute(
                f"CREATE VIEW {table} AS SELECT cell, * EXCLUDE (cell) FROM read_parquet("
                f"{pattern}, hive_partitioning = true, union_by_name = true, "
                "hive_types = {'cell': INTEGER})"
            )
        else:
            schema = loop_empty_schema if "loop" in doc else _empty_schema
            empty = schema(table, params).empty_table()
            con.register(f"_{table}_empty", empty)
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM _{table}_empty")
    con.register("_cells_arrow", _cells_table(doc, params))
    con.execute("CREATE VIEW cells AS SELECT * FROM _cells_arrow")
    # Tables written next to the sweep (a study's results): one view per file, by its stem.
    for extra in sorted((root / "tables").glob("*.parquet")):
        name = extra.stem
        if name.isidentifier() and name not in (*tables, "cells"):
            con.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_parquet({_sql_string(str(extra))})"
            )
    return con


def query_sweep(path: str | os.PathLike[str], sql: str) -> pa.Table:
    """Run one SQL statement over a sweep's views; the result as a :class:`pyarrow.Table`.

    Raises
    ------
    ConfigError
        When the statement is empty, or when DuckDB rejects it (syntax, unknown table or
        column, ...); the message is DuckDB's first line.
    RunDirError
        When ``path`` is not a sweep folder.
    """
    require_extra("sweeps", only=("duckdb",))
    import duckdb
    import pyarrow as pa

    if not sql.strip().strip(";").strip():
        raise ConfigError("query: the SQL statement is empty; give one, e.g. 'SELECT * FROM cells'")
    con = connect_sweep(path)
    try:
        relation: Any = con.sql(sql)
        if relation is None:  # a statement with no result (SET, CREATE VIEW, ...)
            return pa.table({})
        result: pa.Table = relation.to_arrow_table()
        return result
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"query failed: {first}") from None
    finally:
        con.close()
