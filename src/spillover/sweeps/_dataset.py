"""The sweep's Parquet dataset: one partition per table and complete cell.

Layout (Hive partitioning, one file per partition)::

    SWEEP/dataset/curves/cell=00007/part.parquet
    SWEEP/dataset/exposures/cell=00007/part.parquet
    SWEEP/dataset/fits/cell=00007/part.parquet

Each file holds the cell's table (as in its run directory) plus one column per swept parameter,
with the same type in every partition; the ``cell`` column comes from the folder name. Files are
written by the driver from the cell's run directory, atomically (a temporary file renamed into
place), so a partition is either absent or complete and rewriting it gives the same content.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from spillover.exceptions import RunDirError
from spillover.io import record

if TYPE_CHECKING:
    import pyarrow as pa

    from spillover.selection import Criterion

__all__ = [
    "TABLES",
    "fits_rows",
    "param_types",
    "partition_path",
    "read_exposures",
    "write_cell_partitions",
]

#: The tables of the dataset, and the views of ``spillover query``.
TABLES: Final[tuple[str, ...]] = ("curves", "exposures", "fits")
PART: Final[str] = "part.parquet"


def cell_name(cell: int) -> str:
    return f"cell-{cell:05d}"


def partition_path(sweep: Path, table: str, cell: int) -> Path:
    """``SWEEP/dataset/TABLE/cell=NNNNN/part.parquet``."""
    return sweep / "dataset" / table / f"cell={cell:05d}" / PART


def param_types(grid: Sequence[tuple[str, Sequence[Any]]]) -> dict[str, pa.DataType]:
    """One Arrow type per swept key, from all its values (so every partition agrees)."""
    import pyarrow as pa

    types: dict[str, pa.DataType] = {}
    for key, values in grid:
        given = [v for v in values if v is not None]
        if given and all(isinstance(v, bool) for v in given):
            types[key] = pa.bool_()
        elif given and all(isinstance(v, int) and not isinstance(v, bool) for v in given):
            types[key] = pa.int64()
        elif given and all(isinstance(v, int | float) and not isinstance(v, bool) for v in given):
            types[key] = pa.float64()
        else:
            types[key] = pa.string()
    return types


def param_value(value: Any, dtype: pa.DataType) -> Any:
    import pyarrow as pa

    if value is None:
        return None
    if dtype == pa.string() and not isinstance(value, str):
        return json.dumps(value, sort_keys=True)
    if dtype == pa.float64():
        return float(value)
    return value


def with_params(
    table: pa.Table, params: Mapping[str, Any], types: Mapping[str, pa.DataType]
) -> pa.Table:
    """Append one constant column per swept parameter (a data column of that name wins)."""
    import pyarrow as pa

    for key, dtype in types.items():
        if key in table.column_names:
            continue
        value: Any = pa.scalar(param_value(params.get(key), dtype), type=dtype)
        table = table.append_column(pa.field(key, dtype), pa.repeat(value, table.num_rows))
    return table


def _write_atomic(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _float(value: Any) -> float | None:
    if value is None:
        return None
    return float(value)


def fits_rows(document: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Long rows of a fits document: one per (model, parameter[, index]).

    A list-valued parameter (``alpha_c`` of ``si-persona``) gives one row per entry with its
    ``index``; scalars have ``index`` null. A model that could not be fitted gives one row
    with ``param`` null.
    """
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "model",
            "param",
            "index",
            "value",
            "stderr",
            "status",
            "loglik",
            "n_params",
            "n_obs",
            "aic",
            "aicc",
            "bic",
            "best",
            "message",
        )
    }
    best = document.get("best")

    def add(
        model: Mapping[str, Any], param: str | None, index: int | None, v: Any, se: Any
    ) -> None:
        columns["model"].append(model["name"])
        columns["param"].append(param)
        columns["index"].append(index)
        columns["value"].append(_float(v))
        columns["stderr"].append(_float(se))
        columns["status"].append(model.get("status"))
        columns["loglik"].append(_float(model.get("loglik")))
        columns["n_params"].append(model.get("n_params"))
        columns["n_obs"].append(model.get("n_obs"))
        for ic in ("aic", "aicc", "bic"):
            columns[ic].append(_float(model.get(ic)))
        columns["best"].append(model["name"] == best)
        columns["message"].append(model.get("message") or "")

    for model in document.get("models", []):
        params: Mapping[str, Any] = model.get("params") or {}
        stderr: Mapping[str, Any] = model.get("stderr") or {}
        if not params:
            add(model, None, None, None, None)
        for name, value in params.items():
            se = stderr.get(name)
            if isinstance(value, list | tuple):
                ses = se if isinstance(se, list | tuple) else [None] * len(value)
                for i, (v, s) in enumerate(zip(value, ses, strict=False)):
                    add(model, name, i, v, s)
            else:
                add(model, name, None, value, se)
    return columns


def fits_table(document: Mapping[str, Any]) -> pa.Table:
    import pyarrow as pa

    columns = fits_rows(document)
    schema = pa.schema(
        [  # type: ignore[arg-type,unused-ignore]
            ("model", pa.string()),
            ("param", pa.string()),
            ("index", pa.int32()),
            ("value", pa.float64()),
            ("stderr", pa.float64()),
            ("status", pa.string()),
            ("loglik", pa.float64()),
            ("n_params", pa.int32()),
            ("n_obs", pa.int64()),
            ("aic", pa.float64()),
            ("aicc", pa.float64()),
            ("bic", pa.float64()),
            ("best", pa.bool_()),
            ("message", pa.string()),
        ]
    )
    return pa.table(columns, schema=schema)


def read_exposures(run_dir: Path) -> Any:
    """The :class:`~spillover.trajectories.ExposureTable` of a run directory."""
    import pyarrow.parquet as pq

    from spillover.trajectories import ExposureTable

    path = run_dir / "exposures.parquet"
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path} cannot be read: {exc}") from None
    cols = {name: table.column(name).to_numpy() for name in table.column_names}
    return ExposureTable(**cols)


def fit_cell(
    run_dir: Path, models: Sequence[str], *, criterion: Criterion = "bic"
) -> dict[str, Any]:
    """The fits document of a cell, fitted again from its run directory's tables (exposures,
    and agent histories where a model prefers them, as ``spillover fit`` does)."""
    from spillover.exceptions import ConfigError
    from spillover.io import read_fit_input
    from spillover.sweeps._run import fits_document

    try:
        data = read_fit_input(run_dir)
    except ConfigError as exc:
        raise RunDirError(str(exc)) from None
    return fits_document(data.exposures, models, agents=data.agents, criterion=criterion)


def cell_fits(
    run_dir: Path, models: Sequence[str], *, criterion: Criterion = "bic"
) -> dict[str, Any]:
    """The cell's fits for ``models``: from its ``fits.json`` when it has exactly those (by
    ``criterion``), else fitted again (:func:`fit_cell`)."""
    path = run_dir / "fits.json"
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            doc = None
        if (
            isinstance(doc, dict)
            and [m.get("name") for m in doc.get("models", [])] == list(models)
            and doc.get("criterion", "bic") == criterion
        ):
            return doc
    return fit_cell(run_dir, models, criterion=criterion)


def write_cell_partitions(
    sweep: Path,
    cell: int,
    run_dir: Path,
    params: Mapping[str, Any],
    types: Mapping[str, pa.DataType],
    models: Sequence[str],
    *,
    only_missing: bool = False,
    refresh: Sequence[str] = (),
    loop: bool = False,
) -> list[str]:
    """Write the partitions of a complete cell (``TABLES``, or ``LOOP_DATASET_TABLES`` for a
    cell of a loop sweep); return the tables written.

    With ``only_missing``, partitions already there are kept, except the tables named in
    ``refresh`` (the fits, when the models asked for changed).
    """
    import pyarrow.parquet as pq

    from spillover.sweeps._loop_dataset import LOOP_DATASET_TABLES, loop_cell_table

    written: list[str] = []
    for table_name in LOOP_DATASET_TABLES if loop else TABLES:
        path = partition_path(sweep, table_name, cell)
        if only_missing and path.is_file() and table_name not in refresh:
            continue
        if loop:
            table = loop_cell_table(run_dir, table_name)
        elif table_name == "fits":
            table = fits_table(cell_fits(run_dir, models))
        else:
            source = run_dir / f"{table_name}.parquet"
            try:
                with pq.ParquetFile(source) as parquet:
                    table = parquet.read()
            except (OSError, ValueError) as exc:
                raise RunDirError(f"{source} cannot be read: {exc}") from None
        # Named in the sweep's marker before it exists: a --force later removes it.
        record(sweep, files=[path.relative_to(sweep).as_posix()])
        _write_atomic(with_params(table, params, types), path)
        written.append(table_name)
    return written


def remove_cell_partitions(sweep: Path, cell: int) -> None:
    """Drop a cell's partitions (a cell that is not complete has none)."""
    from spillover.sweeps._loop_dataset import LOOP_DATASET_TABLES

    for table_name in dict.fromkeys((*TABLES, *LOOP_DATASET_TABLES)):
        path = partition_path(sweep, table_name, cell)
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty, or already gone
            path.parent.rmdir()
