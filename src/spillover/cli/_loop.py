"""``spillover loop``: a chained coupled run (online spread -> offline events -> online ...).

Settings come from flags and/or a config file whose ``[loop]`` table (TOML) or ``loop:``
mapping (YAML) holds the keys of :data:`spillover.loop.LOOP_KEYS`; flags win.
``spillover simulate --loop N``
(or ``simulate --config FILE`` with a ``[loop]`` section) is routed here by
:func:`simulate_loop` and writes the same run. Also the hooks that let ``spillover fit`` read
a loop run directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from spillover.cli._app import app
from spillover.cli._console import err_console, out_console
from spillover.cli._simulate_options import OUTPUT_FLAG_OF, OutOption, flags_on_errors

__all__ = [
    "SIMULATE_LOOP_KEYS",
    "fit_loop_run",
    "fit_loop_sweep",
    "has_loop_section",
    "loop_command",
    "resolve_loop_settings",
    "simulate_loop",
]

#: The ``spillover simulate`` settings a loop run takes; the coupling rates, the emission rule
#: and the caps come from the ``[loop]`` section (or their defaults).
SIMULATE_LOOP_KEYS = (
    "n_nodes",
    "degree",
    "n_rounds",
    "n_reps",
    "n_seeds",
    "alpha",
    "beta",
    "events",
    "event_id",
    "seed",
)


def resolve_loop_settings(config_file: Path | None, flags: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then the file's ``[loop]`` section, then the flags that were given."""
    from spillover.exceptions import ConfigError
    from spillover.io import load_settings_document
    from spillover.loop import LOOP_KEYS, check_loop_value

    values = dict(LOOP_KEYS)
    if config_file is not None:
        doc = load_settings_document(config_file)
        section = doc.get("loop") if isinstance(doc, dict) else None
        if not isinstance(section, dict):
            raise ConfigError(f"{config_file}: no [loop] section (a table of loop settings)")
        for key, value in section.items():
            # Named without its value: it may be something pasted by mistake.
            values[key] = check_loop_value(key, value, f"{config_file}: loop")
        if values["events"] is not None and not Path(values["events"]).is_absolute():
            values["events"] = str(config_file.parent / values["events"])
    values.update({k: v for k, v in flags.items() if v is not None})
    return values


@app.command("loop")
@flags_on_errors(OUTPUT_FLAG_OF)
def loop_command(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML/YAML file with a \\[loop] section.")
    ] = None,
    out: OutOption = Path("loop-run"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing run.")] = False,
    n_nodes: Annotated[int | None, typer.Option("--n-nodes", help="Agents.")] = None,
    degree: Annotated[int | None, typer.Option("--degree", help="Degree k.")] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", help="Rounds per cascade.")] = None,
    replicates: Annotated[int | None, typer.Option("--replicates", help="Loops.")] = None,
    seeds: Annotated[int | None, typer.Option("--seeds", help="Seeds per cascade.")] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="Background rate.")] = None,
    beta: Annotated[float | None, typer.Option("--beta", help="Online rate.")] = None,
    gamma: Annotated[float | None, typer.Option("--gamma", help="Fading rate.")] = None,
    eta: Annotated[float | None, typer.Option("--eta", help="Online-to-offline rate.")] = None,
    kappa: Annotated[float | None, typer.Option("--kappa", help="Offline contact rate.")] = None,
    delta: Annotated[float | None, typer.Option("--delta", help="Leaving rate.")] = None,
    emission: Annotated[str | None, typer.Option("--emission", help="threshold or hawkes.")] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Participating share for an event.")
    ] = None,
    event_rate: Annotated[
        float | None, typer.Option("--event-rate", help="Hawkes: events per participant-round.")
    ] = None,
    loop: Annotated[
        int | None, typer.Option("--loop", help="Generations of cascades events may seed.")
    ] = None,
    max_cascades: Annotated[
        int | None, typer.Option("--max-cascades", help="Cap on cascades per loop.")
    ] = None,
    events: Annotated[
        Path | None, typer.Option("--events", help="ACLED CSV for the root event.")
    ] = None,
    event_id: Annotated[str | None, typer.Option("--event-id", help="Root event id.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Root seed.")] = None,
) -> None:
    """Run the coupled online-offline model with chaining: each offline event emitted by a
    cascade seeds a new online cascade (docs/loop.md). Writes offline.parquet, joins.parquet,
    engagement.parquet, cascades.parquet, loop_events.parquet, events.csv and manifest.json."""
    flags = {
        "n_nodes": n_nodes,
        "degree": degree,
        "n_rounds": rounds,
        "n_reps": replicates,
        "n_seeds": seeds,
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "eta": eta,
        "kappa": kappa,
        "delta": delta,
        "emission": emission,
        "threshold": threshold,
        "event_rate": event_rate,
        "generations": loop,
        "max_cascades": max_cascades,
        "events": None if events is None else str(events),
        "event_id": event_id,
        "seed": seed,
    }
    run_and_write(resolve_loop_settings(config, flags), out, force=force)


def run_and_write(values: dict[str, Any], out: Path, *, force: bool) -> None:
    """Run a chained loop from resolved settings and write its run directory: the one code
    path of ``spillover loop`` and ``spillover simulate --loop``."""
    from spillover._rng import seed_record
    from spillover.io import check_output_dir, write_loop_dir
    from spillover.loop import build_loop, loop_root_event, run_loop_values

    build_loop(values)  # bad settings fail before the output folder is checked
    loop_root_event(values)
    check_output_dir(out, force=force)
    record = seed_record(values["seed"])
    result, graph, timings = run_loop_values(values, record)
    values = {**values, "seed": record.entropy}
    write_loop_dir(
        result,
        graph,
        out,
        config=values,
        timings=timings,
        force=force,
    )
    n_events = len(result.events)
    out_console.print(
        f"[bold]{out}[/bold]: {values['n_reps']} loop(s), {len(result.cascades)} cascades, "
        f"{n_events} offline events; graph {timings['graph_s']:.2f} s, "
        f"engine {timings['simulate_s']:.3f} s"
    )


def has_loop_section(config_file: Path | None) -> bool:
    """Whether a config file holds a ``[loop]`` section (then ``simulate`` runs the loop)."""
    from spillover.io import load_settings_document

    if config_file is None or not config_file.is_file():
        return False  # simulate's own reading reports a missing file
    doc = load_settings_document(config_file)
    return isinstance(doc, dict) and "loop" in doc


def _flag(key: str) -> str:
    """The flag of ``spillover simulate`` that sets a config key (or names an option)."""
    from spillover.cli._simulate_options import FLAG_OF
    from spillover.config import param_name

    return FLAG_OF.get(param_name(key), "--" + key.replace("_", "-"))


def simulate_loop(
    config_file: Path | None,
    generations: int | None,
    overrides: dict[str, Any],
    out: Path,
    *,
    force: bool,
) -> None:
    """``spillover simulate --loop N`` / ``--config FILE`` with a ``[loop]`` section.

    ``overrides`` are simulate's settings by config key (``None``: flag not given). Those of
    :data:`SIMULATE_LOOP_KEYS` override the ``[loop]`` section as ``spillover loop``'s flags
    do, and ``generations`` is ``--loop``; any other simulate setting does not apply to the
    coupled model and is refused, as is a file with settings outside its ``[loop]`` section.
    """
    from spillover.exceptions import ConfigError
    from spillover.io import load_settings_document

    given = [k for k, v in overrides.items() if v is not None and k not in SIMULATE_LOOP_KEYS]
    if given:
        raise ConfigError(
            f"{_flag(given[0])} does not apply to a loop run (--loop or a [loop] section): the "
            "coupled model has its own rates and a random regular graph (docs/loop.md)"
        )
    if config_file is not None and has_loop_section(config_file):
        other = sorted(set(load_settings_document(config_file)) - {"loop"})
        if other:
            raise ConfigError(
                f"{config_file}: a loop config holds its settings in [loop]; "
                f"found also {', '.join(map(repr, other))[:120]}"
            )
    flags = {k: overrides.get(k) for k in SIMULATE_LOOP_KEYS}
    flags["generations"] = generations
    run_and_write(resolve_loop_settings(config_file, flags), out, force=force)


def fit_loop_run(path: Path, as_json: bool, models: list[str] | None = None) -> None:
    """``spillover fit`` on a loop run: the coupling (and online) rates with 95% intervals,
    fitted by the registry's coupled entries named by ``--model`` (default: ``loop-mf``,
    ``loop-pair``; a spread model is a ConfigError)."""
    from rich.table import Table

    from spillover.io import dumps_json, read_loop_tables
    from spillover.loop import coupled_fit_document, coupled_model_names

    names = coupled_model_names(models, what=f"the loop run {path}")
    tables = read_loop_tables(path)
    if not as_json:
        err_console.print(f"fitting the coupling rates of {path} ...")
    doc = coupled_fit_document(tables, models=names)
    if as_json:
        typer.echo(dumps_json(doc, indent=2))
        return
    shown = ", ".join(doc["models"])
    table = Table(title=f"coupled models ({shown}): rates of {path}", title_justify="left")
    for col in ("rate", "estimate", f"{doc['level']:.0%} interval", "trials", "events"):
        table.add_column(col, justify="left" if col == "rate" else "right")

    def num(value: float | None) -> str:
        return "nan" if value is None else f"{value:.4g}"

    for name, r in doc["rates"].items():
        table.add_row(
            name,
            num(r["estimate"]),
            f"[{num(r['low'])}, {num(r['high'])}]",
            f"{r['n_trials']:,}",
            f"{r['n_events']:,}",
        )
    out_console.print(table)


def fit_loop_sweep(sweep: Any, as_json: bool, models: list[str] | None = None) -> None:
    """``spillover fit`` on a loop sweep: every cell's coupling fit (the dataset's
    ``coupling`` table, written from the cells' ``fits.json``), for the coupled models named
    by ``--model`` (default: all; they share the rates; a spread model is a ConfigError)."""
    from rich.table import Table

    from spillover.io import dumps_json
    from spillover.loop import coupled_model_names

    names = coupled_model_names(models, what=f"each cell of the loop sweep {sweep.path}")
    # In cell order, then by rate (the table reads its partitions in no fixed row order).
    rows = sorted(sweep.read_table("coupling").to_pylist(), key=lambda r: (r["cell"], r["rate"]))
    if as_json:
        doc = {"sweep": str(sweep.path), "kind": "loop", "models": names}
        typer.echo(dumps_json({**doc, "coupling": rows}, indent=2, default=str))
        return

    def num(value: float | None) -> str:
        return "nan" if value is None else f"{value:.4g}"

    keys = list(sweep.keys)
    out = Table(
        title=f"coupled models ({', '.join(names)}): coupling rates per cell of {sweep.path}",
        title_justify="left",
    )
    for col in ("cell", *keys, "rate", "estimate", "95% interval"):
        out.add_column(col, justify="left" if col == "rate" else "right")
    for row in rows:
        out.add_row(
            str(row["cell"]),
            *(str(row[k]) for k in keys),
            row["rate"],
            num(row["estimate"]),
            f"[{num(row['low'])}, {num(row['high'])}]",
        )
    out_console.print(out)
