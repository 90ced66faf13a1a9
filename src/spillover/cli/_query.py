"""``spillover query``: SQL (DuckDB) over a sweep's dataset."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from spillover.cli._app import app
from spillover.cli._console import out_console

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["query_command"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    return value


def _print_table(table: pa.Table, max_rows: int) -> None:
    from rich.table import Table

    view = Table(show_edge=False, header_style="bold")
    for name in table.column_names:
        view.add_column(name, overflow="fold")
    rows = table.slice(0, max_rows).to_pylist()
    for row in rows:
        view.add_row(*(_cell(row[name]) for name in table.column_names))
    out_console.print(view)
    more = table.num_rows - len(rows)
    suffix = f"; {more} not shown (use LIMIT, --max-rows or --csv)" if more > 0 else ""
    out_console.print(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''}{suffix})")


@app.command("query")
def query_command(
    sweep: Annotated[Path, typer.Argument(help="Sweep folder written by `spillover sweep`.")],
    sql: Annotated[
        str,
        typer.Argument(help="One SQL statement over the views curves, exposures, fits and cells."),
    ],
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (all rows).")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array of row objects (all rows).")
    ] = False,
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=1, help="Rows shown in the table view.")
    ] = 200,
) -> None:
    """Run SQL (DuckDB) over a sweep: views curves, exposures, fits and cells (a loop sweep:
    coupling, outbreaks, cascades and cells).

    Every view has a `cell` column and one column per swept parameter, e.g.

        spillover query runs/sweep "SELECT degree, avg(value) FROM fits
        WHERE model = 'si2' AND param = 'beta' GROUP BY degree ORDER BY degree"
    """
    from spillover.exceptions import ConfigError
    from spillover.sweeps import query_sweep

    if as_csv and as_json:
        raise ConfigError("--csv and --json exclude each other; choose one")
    table = query_sweep(sweep, sql)
    if as_json:
        rows = [{k: _json_value(v) for k, v in row.items()} for row in table.to_pylist()]
        sys.stdout.write(json.dumps(rows, default=str) + "\n")
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in table.to_pylist():
            writer.writerow(["" if v is None else v for v in row.values()])
    else:
        _print_table(table, max_rows)
