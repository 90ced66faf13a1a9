"""``spillover study FILE``: the experiment (events x degrees x replicates) in one command."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from spillover.cli._app import app
from spillover.cli._console import err_console, out_console
from spillover.cli._simulate_options import OUTPUT_FLAG_OF, QuietOption, flags_on_errors
from spillover.cli._sweep import (
    _progress,
    check_executor,
    default_out,
    executor_option,
    folder_option,
    force_option,
    workers_option,
)
from spillover.exceptions import ConfigError

if TYPE_CHECKING:
    from spillover.study import StudySpec

__all__ = ["study_command"]


def _print_plan(spec: StudySpec, plan: dict[str, Any], out: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=f"{plan['n_cells']} cells x {spec.n_reps} replicates = {plan['n_runs']} runs"
    )
    swept = [k for k, _ in spec.loop_grid]
    for column in ("cell", "event", "event type", "degree", *swept):
        table.add_column(column, justify="left" if column in ("event", "event type") else "right")
    for c in plan["cells"]:
        table.add_row(
            str(c["cell"]),
            c["event_id"],
            c["event_type"],
            str(c["degree"]),
            *(str(c["params"][k]) for k in swept),
        )
    out_console.print(table)
    analysis = (
        f"coupled loop runs ({', '.join(f'{k} = {v}' for k, v in (spec.loop or {}).items())}); "
        f"models {', '.join(spec.models)}"
        if spec.is_loop
        else f"models {', '.join(spec.models)} ({spec.criterion}, {spec.folds} folds)"
    )
    out_console.print(
        f"{spec.n_nodes:,} agents per graph, {spec.n_rounds} rounds, {spec.n_seeds} seed agents; "
        f"policy {spec.policy['kind']}; {analysis}; root seed "
        f"{spec.seed if spec.seed is not None else 'fresh entropy'}; out {escape(str(out))}",
        markup=False,
    )
    llm = plan["llm"]
    if llm is None:
        out_console.print("LLM requests: none (the policy does not call a model)")
    else:
        out_console.print(
            f"LLM: model {llm['model']} at {llm['base_url']}, {llm['mode']} mode", markup=False
        )
        out_console.print(
            f"  distinct requests: {llm['distinct_requests']:,} (at most "
            f"{llm['worst_case']:,} if the server returns no log-probabilities)"
        )
        out_console.print(f"  already in the cache: {llm['cached']:,}")
        out_console.print(f"  to send: {llm['to_send']:,}")
        out_console.print(
            f"  prompt tokens ≈ {llm['prompt_tokens_estimate']:,} ({llm['prompt_chars']:,} "
            f"characters), completion tokens at most {llm['completion_tokens_max']:,}"
        )
        cost = llm["cost_estimate"]
        out_console.print(
            f"  estimated cost: {cost:.4f}"
            if cost is not None
            else "  estimated cost: give price_prompt and price_completion in [policy]"
        )
        if "feed_decisions_max" in llm:
            out_console.print(
                f"  feed decisions: at most {llm['feed_decisions_max']:,} more requests"
            )
    out_console.print("nothing was run.")


def _print_loop_result(document: dict[str, Any]) -> None:
    """The coupling rates of a loop study: coverage per rate, then the pooled estimates."""
    coverage = ", ".join(
        f"{k} {v['covered']}/{v['cells']}" for k, v in document["coverage"].items()
    )
    out_console.print(f"cells whose 95% interval covers the truth: {coverage}", markup=False)
    for pool in document["pooled"]:
        swept = "".join(f", {k} = {v}" for k, v in pool["params"].items())
        rates = ", ".join(
            f"{name} = {r['estimate']:.4g} [{r['low']:.4g}, {r['high']:.4g}]"
            for name, r in pool["rates"].items()
            if name in ("eta", "gamma", "delta") and r["estimate"] is not None
        )
        out_console.print(f"  {pool['event_type']}{swept}: {rates}", markup=False)


def _print_result(document: dict[str, Any], path: Path, times: dict[str, float]) -> None:
    if document.get("study_kind") == "loop":
        _print_loop_result(document)
        _print_footer(document, path, times, "coupling_fits")
        return
    verdict = document["verdict"]
    if verdict["available"]:
        counts = verdict["cells_supporting"] or {}
        support = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        per_type = ", ".join(f"{t}: {r}" for t, r in verdict["by_event_type"].items())
        line = f"two rates: {verdict['overall']} ({per_type}; cells: {support})"
    else:
        per_type = ", ".join(f"{t}: {b}" for t, b in verdict["best_by_event_type"].items())
        line = f"best model per event type: {per_type} (no two-rates verdict in this version)"
    out_console.print(line, markup=False)
    for row in document["rates_by_event_type"]:
        if row["estimate"] is None:
            continue
        out_console.print(
            f"  {row['event_type']}: {row['param']} = {row['estimate']:.4g} "
            f"[{row['ci_low']:.4g}, {row['ci_high']:.4g}]",
            markup=False,
        )
    _print_footer(document, path, times, "rates")


def _print_footer(document: dict[str, Any], path: Path, times: dict[str, float], view: str) -> None:
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in times.items())
    out_console.print(
        f"[bold]{path}[/bold]: {document['n_complete']}/{document['n_cells']} cells; {timing}"
    )
    out_console.print(
        f'query it: spillover query {path} "SELECT * FROM {view}"', markup=False, highlight=False
    )


@app.command("study")
@flags_on_errors(OUTPUT_FLAG_OF)
def study_command(
    config: Annotated[
        Path,
        typer.Argument(
            help="Study file (TOML or YAML): \\[events], \\[design], \\[policy], \\[analysis]."
        ),
    ],
    out: Annotated[
        Path | None, folder_option("Study folder. \\[default: out in the file, else runs/STEM]")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Validate; print cells, LLM requests, tokens and cost; run nothing."
        ),
    ] = False,
    executor: Annotated[
        str | None, executor_option("serial, process or dask. \\[default: process]")
    ] = None,
    workers: Annotated[int | None, workers_option("Processes. \\[default: all cores]")] = None,
    force: Annotated[bool, force_option("study")] = False,
    quiet: QuietOption = False,
) -> None:
    """Run a study: every (event, degree) cell as a sweep, then the pooled analysis.

    Writes OUT/study.html, OUT/study.json and OUT/tables/*.parquet next to the
    sweep's own files; `spillover query OUT "SQL"` sees the sweep's views and the
    study's tables (study_cells, pooled_fits, rates, effects, mean_field; a study
    with a \\[loop] section runs coupled loop cells: study_cells, coupling_fits).

    Rerunning the same command resumes: complete cells and cached LLM answers are
    reused. Exit code 1 when some cells failed, 2 on bad input.
    """
    from spillover.report import build_study_report
    from spillover.study import plan_study, read_study, run_study

    spec = read_study(config)
    if executor is not None:
        check_executor(executor)
        if executor == "dask" and spec.settings.scheduler is None:
            raise ConfigError("--executor dask needs scheduler = ... in [run]")
        settings = dataclasses.replace(spec.settings, executor=executor)  # type: ignore[arg-type]
        spec = dataclasses.replace(spec, settings=settings)
    if workers is not None:
        spec = dataclasses.replace(
            spec, settings=dataclasses.replace(spec.settings, workers=workers)
        )
    target = out if out is not None else default_out(config, spec.settings.out)
    if dry_run:
        _print_plan(spec, plan_study(spec, target), target)
        return
    if not quiet:
        swept = "".join(f" x {len(v)} {k}" for k, v in spec.loop_grid)
        err_console.print(
            f"study: {spec.n_cells} cells ({len(spec.events)} events x {len(spec.degrees)} "
            f"degrees{swept}) x {spec.n_reps} replicates into {target}"
        )
    t0 = time.perf_counter()

    def say(message: str) -> None:
        if not quiet:
            err_console.print(f"  {message}")

    with _progress(not quiet) as bar:
        summary = run_study(
            spec,
            target,
            force=force,
            progress=bar,
            analysis_progress=say,
            command=["spillover", *sys.argv[1:]],
        )
    t_sweep = summary.sweep.elapsed_s
    say("writing the report")
    t_report = time.perf_counter()
    build_study_report(summary.path, cell_reports=spec.cell_reports, n_folds=spec.folds)
    times = {
        "sweep": t_sweep,
        "analysis": summary.analysis_s,
        "report": time.perf_counter() - t_report,
        "total": time.perf_counter() - t0,
    }
    _print_result(summary.document, summary.path, times)
    for cell, error in summary.sweep.failures[:10]:
        out_console.print(f"  cell {cell} failed: {error}", markup=False)
    if summary.sweep.failed:
        raise typer.Exit(1)
