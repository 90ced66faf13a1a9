"""``spillover simulate``: one run from flags and/or a config file into a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from spillover.cli._app import app
from spillover.cli._console import err_console, out_console, replicate_progress
from spillover.config import GRAPH_KINDS, POLICY_KINDS, SimulationConfig

__all__ = ["resolve_config", "simulate_command"]


def resolve_config(config_file: Path | None, overrides: dict[str, Any]) -> SimulationConfig:
    """Defaults, then the config file's values, then the flags that were given."""
    from spillover.io import read_config

    values: dict[str, Any] = read_config(config_file) if config_file is not None else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return SimulationConfig().replace(**values)


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise typer.BadParameter(
            f"must be one of {', '.join(allowed)}; got {value!r}", param_hint=f"--{name}"
        )
    return value


def print_summary(
    out: Path, manifest_timings: dict[str, float], final_fraction: float, n_reps: int
) -> None:
    t = manifest_timings
    out_console.print(
        f"[bold]{out}[/bold]: {n_reps} replicates, mean final informed fraction "
        f"{final_fraction:.3f}; graph {t['graph_s']:.2f} s, engine {t['simulate_s']:.3f} s"
    )


@app.command("simulate")
def simulate_command(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML or YAML config file; flags override its values."),
    ] = None,
    n_nodes: Annotated[
        int | None, typer.Option("--n-nodes", help="Agents in the network. [default: 3200]")
    ] = None,
    degree: Annotated[
        int | None,
        typer.Option(
            "--degree",
            "-k",
            help="Degree k (mean degree for erdos-renyi, links x 2 for barabasi-albert). "
            "[default: 8]",
        ),
    ] = None,
    graph: Annotated[
        str | None,
        typer.Option(
            "--graph", help=f"Graph generator: {', '.join(GRAPH_KINDS)}. [default: random-regular]"
        ),
    ] = None,
    rewire_prob: Annotated[
        float | None,
        typer.Option("--rewire-prob", help="Watts-Strogatz rewiring probability. [default: 0.1]"),
    ] = None,
    edge_list: Annotated[
        str | None,
        typer.Option(
            "--edge-list", help="Load the graph from a CSV or Parquet edge list (source,target)."
        ),
    ] = None,
    rounds: Annotated[
        int | None, typer.Option("--rounds", help="Last round T. [default: 40]")
    ] = None,
    replicates: Annotated[
        int | None, typer.Option("--replicates", help="Independent replicates. [default: 10]")
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            "--seeds", help="Seed agents per replicate (informed at round 0). [default: 5]"
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy", help=f"Share policy: {', '.join(POLICY_KINDS)}. [default: persona]"
        ),
    ] = None,
    alpha: Annotated[
        float | None,
        typer.Option("--alpha", help="Offline rate per round (with --policy constant)."),
    ] = None,
    beta: Annotated[
        float | None,
        typer.Option(
            "--beta", help="Online rate per informed neighbour per round (with --policy constant)."
        ),
    ] = None,
    events: Annotated[
        str | None,
        typer.Option(
            "--events", help="ACLED-format CSV of events. [default: bundled fictional examples]"
        ),
    ] = None,
    event_id: Annotated[
        str | None,
        typer.Option("--event-id", help="event_id_cnty of the event to spread. [default: first]"),
    ] = None,
    personas: Annotated[
        str | None,
        typer.Option(
            "--personas",
            help="'balanced' or a CSV/Parquet file of node,persona. [default: balanced]",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Root random seed. [default: fresh entropy, recorded]"),
    ] = None,
    by_persona: Annotated[
        bool | None, typer.Option("--by-persona/--no-by-persona", help="Write curves per persona.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")] = Path(
        "runs/simulation"
    ),
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Simulate the spread of one event through a network of persona agents.

    Writes a run directory: manifest.json, curves.parquet, exposures.parquet and
    adoptions.parquet (see the README for the formats).
    """
    from spillover.io import check_output_dir, write_run_dir
    from spillover.pipeline import run_simulation

    _choice("graph", graph, GRAPH_KINDS)
    _choice("policy", policy, POLICY_KINDS)
    cfg = resolve_config(
        config,
        {
            "n_nodes": n_nodes,
            "degree": degree,
            "graph": graph,
            "rewire_prob": rewire_prob,
            "edge_list": edge_list,
            "n_rounds": rounds,
            "n_reps": replicates,
            "n_seeds": seeds,
            "policy": policy,
            "alpha": alpha,
            "beta": beta,
            "events": events,
            "event_id": event_id,
            "personas": personas,
            "seed": seed,
            "by_persona": by_persona,
        },
    )
    check_output_dir(out, force=force)
    if not quiet:
        err_console.print(f"building a {cfg.graph} graph of {cfg.n_nodes:,} agents ...")
    with replicate_progress(cfg.n_reps, enabled=not quiet) as progress:
        run = run_simulation(cfg, progress=progress)
    path = write_run_dir(run, out, force=force)
    final = float(run.result.curves.fraction()[:, -1].mean())
    print_summary(path, run.timings, final, run.result.n_reps)
