"""Sweep benchmark: the same 200-cell sweep on the serial and the process executor.

Grid (200 cells): degree in {4, 5, 6, 7, 8, 9, 10, 12, 14, 16} x alpha in {0.0005, 0.001,
0.002, 0.004, 0.008} x beta in {0.02, 0.04, 0.06, 0.08}; each cell a random k-regular graph of
``--n-nodes`` agents (100,000 by default), ``--reps`` replicates (10), 40 rounds, 10 seed
agents, constant policy, fits of si and si2. Each executor runs ``spillover sweep`` in a fresh
process (start-up, compilation cache loading and the driver's dataset writes included), into its
own folder; the two datasets must be identical.

    .venv/bin/python benchmarks/bench_sweep.py                 # full: 200 cells x 10 replicates
    .venv/bin/python benchmarks/bench_sweep.py --grid medium   # 40 cells, for a loaded machine
    .venv/bin/python benchmarks/bench_sweep.py --grid quick    # 8 cells, a smoke test

The engine-bound rate is what the executor would reach if a cell cost only its engine time
(``simulate_s``): ``workers / mean simulate_s`` cells per second; the ratio is the wall time
over the engine-bound time (1.0 would be a sweep at engine speed).

Prints a Markdown table (for docs/sweeps.md) and writes ``results.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GRIDS = {
    "full": {
        "degree": [4, 5, 6, 7, 8, 9, 10, 12, 14, 16],
        "alpha": [0.0005, 0.001, 0.002, 0.004, 0.008],
        "beta": [0.02, 0.04, 0.06, 0.08],
    },
    "medium": {
        "degree": [4, 6, 8, 12, 16],
        "alpha": [0.001, 0.004],
        "beta": [0.02, 0.04, 0.06, 0.08],
    },
    "quick": {"degree": [4, 16], "alpha": [0.0005, 0.008], "beta": [0.02, 0.08]},
}


def sweep_file(
    folder: Path,
    grid: dict[str, list[Any]],
    n_nodes: int,
    reps: int,
    agent_tables: bool = True,
    share_graphs: bool = False,
) -> Path:
    lines = [
        "seed = 20240305",
        "[sweep]",
        'models = ["si", "si2"]',
        f"agent_tables = {str(agent_tables).lower()}",
        f"share_graphs = {str(share_graphs).lower()}",
        "[base]",
        f"n_nodes = {n_nodes}",
        "n_rounds = 40",
        f"n_reps = {reps}",
        "n_seeds = 10",
        'policy = "constant"',
        "[grid]",
        *(f"{k} = {json.dumps(v)}" for k, v in grid.items()),
    ]
    path = folder / "bench-sweep.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(config: Path, out: Path, executor: str, workers: int | None) -> dict[str, Any]:
    code = "import sys; from spillover.cli import main; sys.argv[0] = 'spillover'; main()"
    argv = [sys.executable, "-c", code, "sweep", str(config), "--out", str(out)]
    argv += ["--executor", executor, "-q", "--force"]
    if workers is not None and executor == "process":
        argv += ["--workers", str(workers)]
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(
            f"{executor} sweep failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    doc = json.loads((out / "sweep.json").read_text())
    cells = doc["cells"]
    sim = sum(c["timings"].get("simulate_s", 0.0) for c in cells)
    return {
        "executor": executor,
        "workers": doc["executor"].get("workers"),
        "wall_s": wall,
        "cells": len(cells),
        "complete": sum(c["status"] == "complete" for c in cells),
        "cell_s_sum": sum(c["elapsed_s"] or 0.0 for c in cells),
        "simulate_s_sum": sim,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def same_results(a: Path, b: Path) -> bool:
    from spillover.sweeps import query_sweep

    for view in ("curves", "exposures", "fits"):
        sql = f"SELECT * FROM {view} ORDER BY ALL"
        if query_sweep(a, sql) != query_sweep(b, sql):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="full")
    parser.add_argument("--n-nodes", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--workers", type=int, default=None, help="process executor workers")
    parser.add_argument("--out", type=Path, default=None, help="folder for the two sweeps")
    parser.add_argument("--keep", action="store_true", help="keep the sweep folders")
    parser.add_argument(
        "--no-agent-tables",
        action="store_true",
        help="cells skip adoptions.parquet and agents.parquet (sweep.agent_tables = false)",
    )
    parser.add_argument(
        "--share-graphs",
        action="store_true",
        help="cells with the same degree share one graph (sweep.share_graphs = true)",
    )
    parser.add_argument(
        "--executors", default="serial,process", help="comma-separated, of serial and process"
    )
    args = parser.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    out.mkdir(parents=True, exist_ok=True)
    grid = GRIDS[args.grid]
    config = sweep_file(
        out, grid, args.n_nodes, args.reps, not args.no_agent_tables, args.share_graphs
    )
    n_cells = 1
    for values in grid.values():
        n_cells *= len(values)
    print(
        f"{n_cells} cells x {args.reps} replicates, {args.n_nodes:,} agents"
        f"{' (no agent tables)' if args.no_agent_tables else ''}"
        f"{' (shared graphs)' if args.share_graphs else ''}; "
        f"{os.cpu_count()} cores ({cpu_model()}); Python {platform.python_version()}",
        file=sys.stderr,
    )
    results = []
    executors = [e.strip() for e in args.executors.split(",") if e.strip()]
    if not executors or set(executors) - {"serial", "process"}:
        parser.error("--executors: serial, process or both")
    for executor in executors:
        print(f"running the {executor} executor ...", file=sys.stderr)
        results.append(run(config, out / executor, executor, args.workers))
        r = results[-1]
        print(f"  {r['wall_s']:.1f} s wall, {r['complete']}/{r['cells']} cells", file=sys.stderr)
    identical = len(results) < 2 or same_results(out / "serial", out / "process")
    doc = {
        "cells": n_cells,
        "replicates": args.reps,
        "n_nodes": args.n_nodes,
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "identical": identical,
        "speedup": results[0]["wall_s"] / results[-1]["wall_s"],
        "results": results,
    }
    (out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(
        "| executor | workers | wall (s) | per cell (ms) | cells/s | sum of cell times (s) "
        "| engine per cell (ms) | engine-bound cells/s | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        engine = r["simulate_s_sum"] / r["cells"]
        bound = (r["workers"] or 1) / engine
        print(
            f"| {r['executor']} | {r['workers']} | {r['wall_s']:.1f} | "
            f"{1000 * r['wall_s'] / r['cells']:.0f} | {r['cells'] / r['wall_s']:.2f} | "
            f"{r['cell_s_sum']:.1f} | {1000 * engine:.0f} | {bound:.2f} | "
            f"{bound * r['wall_s'] / r['cells']:.2f}x |"
        )
    print(
        f"\nspeedup {doc['speedup']:.2f}x; datasets identical: {identical}; "
        f"load average before/after: "
        + ", ".join(
            f"{r['executor']} {r['load_before']:.1f}/{r['load_after']:.1f}" for r in results
        )
    )
    if not args.keep:
        for executor in executors:
            shutil.rmtree(out / executor, ignore_errors=True)
    if not identical:
        raise SystemExit("the serial and process sweeps differ")


if __name__ == "__main__":
    main()
