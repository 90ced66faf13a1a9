"""``spillover simulate``: one run from flags and/or a config file into a run directory."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from spillover.cli._app import app
from spillover.cli._console import err_console, out_console, replicate_progress
from spillover.config import (
    CACHE_MODES,
    GRAPH_KINDS,
    LLM_MODES,
    POLICY_KINDS,
    SimulationConfig,
)
from spillover.events import EVENT_TYPES

if TYPE_CHECKING:
    from rich.progress import Task
    from rich.text import Text

    from spillover.pipeline import RunOutput

__all__ = [
    "answer_warnings",
    "llm_progress",
    "print_llm_summary",
    "simulate_command",
]


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None:
        value = value.replace("-", "_") if "_" in "".join(allowed) else value
        if value not in allowed:
            # A ConfigError, not a click usage error: one ``error:`` line like every bad input.
            from spillover.exceptions import ConfigError

            raise ConfigError(f"--{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def print_summary(
    out: Path, manifest_timings: dict[str, float], final_fraction: float, n_reps: int
) -> None:
    t = manifest_timings
    out_console.print(
        f"[bold]{out}[/bold]: {n_reps} replicates, mean final informed fraction "
        f"{final_fraction:.3f}; graph {t['graph_s']:.2f} s, engine {t['simulate_s']:.3f} s"
    )


def _rate_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Answers per second (cache hits included), from rich's moving estimate."""

        def render(self, task: Task) -> Text:
            speed = task.speed
            if not task.fields.get("rate") or speed is None:
                return Text("")
            return Text(f"{speed:,.1f} req/s")

    return RateColumn()


@contextlib.contextmanager
def llm_progress(
    enabled: bool, n_reps: int, *, feed: bool
) -> Iterator[tuple[Callable[[int, int], None], Callable[[int, int], None]]]:
    """Two bars on stderr: LLM answers (with the live request rate) and replicates/rounds."""
    if not enabled:
        yield (lambda d, t: None), (lambda d, t: None)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _rate_column(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as progress:
        answers = progress.add_task("LLM answers", total=None, rate=True)
        runs = progress.add_task("rounds" if feed else "replicates", total=n_reps)

        def on_answer(done: int, planned: int) -> None:
            progress.update(answers, completed=done, total=planned)

        def on_replicate(done: int, total: int) -> None:
            progress.update(runs, completed=done, total=total)

        yield on_answer, on_replicate


def _print_plan(plan: dict[str, Any], cfg: SimulationConfig) -> None:
    from rich.markup import escape

    out_console.print(
        f"[bold]dry run[/bold]: model {escape(str(plan['model']))} at "
        f"{escape(str(plan['base_url']))}, {plan['mode']} mode, {plan['n_nodes']:,} agents "
        f"(largest degree {plan['max_degree']})"
    )
    out_console.print(
        f"  distinct prompts (persona x exposure bucket {', '.join(plan['buckets'])}): "
        f"{plan['keys']:,}"
    )
    if cfg.llm_probability == "samples":
        out_console.print(
            f"  requests ({cfg.llm_samples} samples per prompt): {plan['first_pass']:,}"
        )
    else:
        out_console.print(
            f"  requests if the server returns log-probabilities: {plan['first_pass']:,}"
        )
        if cfg.llm_probability == "auto":
            out_console.print(
                f"  requests at most (if it does not: {cfg.llm_samples} samples per prompt): "
                f"{plan['worst_case']:,}"
            )
    out_console.print(f"  already in the cache: {plan['cached']:,}")
    if "feed_decisions_max" in plan:
        out_console.print(
            "  feed decisions: at most "
            f"{plan['feed_decisions_max']:,} more requests (one per susceptible agent with an "
            "informed neighbour, per round and replicate)"
        )
    out_console.print("no request was sent.")


def print_llm_summary(run: RunOutput) -> None:
    if run.llm is None:
        return
    acc = run.llm["accounting"]
    local = run.llm.get("local_server")
    where = (
        f"the embedded server ({local['model_file']['name']})"
        if local is not None
        else run.llm["base_url"]
    )
    line = (
        f"LLM {run.llm['model']} at {where}: {acc['requests']:,} requests, "
        f"{acc['cache_hits']:,} cache hits, {acc['retries']:,} retries, {acc['failures']:,} "
        f"failed, {run.llm['answers']['invalid_answers_used']:,} invalid answers; tokens "
        f"{acc['prompt_tokens']:,} prompt + {acc['completion_tokens']:,} completion; "
        f"{acc['wall_s']:.1f} s waiting"
    )
    if acc["cost_estimate"] is not None:
        line += f"; estimated cost {acc['cost_estimate']:.4f}"
    out_console.print(line, markup=False, highlight=False)
    for warning in answer_warnings(run):
        err_console.print(f"warning: {warning}", markup=False, soft_wrap=True)


def answer_warnings(run: RunOutput) -> list[str]:
    """Signs that the model's answers are not readable (a base model, a broken template)."""
    import numpy as np

    if run.llm is None:
        return []
    warnings = []
    answers = run.llm["answers"]
    n_invalid = answers["invalid_answers_used"]
    if n_invalid:
        warnings.append(
            f"{n_invalid:,} answer(s) of model {run.llm['model']} were unreadable (malformed or "
            "refused) after retries; see llm_invalid"
        )
    if run.llm_table is not None and run.llm["mode"] == "archetype":
        p = np.concatenate([t.ravel() for t in run.llm_table.probabilities.values()])
        p = p[np.isfinite(p)]
        if p.size >= 4 and (p.min() > 0.9 or p.max() < 0.1):
            warnings.append(
                f"model {run.llm['model']} gave every persona and exposure the same answer "
                f"(P(share) {p.min():.2f}-{p.max():.2f}): a base model without instruction "
                "tuning answers this way; the run says little about persona agents"
            )
    return warnings


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
    policy_table: Annotated[
        str | None,
        typer.Option(
            "--policy-table",
            help="JSON table of --policy tabulated (e.g. llm_table.json of an LLM run).",
        ),
    ] = None,
    llm_base_url: Annotated[
        str | None,
        typer.Option(
            "--llm-base-url",
            help="OpenAI-compatible API root (implies --policy llm), e.g. "
            "http://localhost:11434/v1.",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_local: Annotated[
        bool | None,
        typer.Option(
            "--llm-local",
            help="LLM agents served by the embedded llama.cpp server (127.0.0.1, started and "
            "stopped by the run) with the bundled SmolLM2-135M-Instruct (implies --policy llm).",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_gguf: Annotated[
        str | None,
        typer.Option(
            "--llm-gguf",
            help="A GGUF model file for the embedded server instead of the bundled one "
            "(implies --llm-local).",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_local_slots: Annotated[
        int | None,
        typer.Option(
            "--llm-local-slots",
            help="Requests the embedded server works on at once. [default: 1]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_local_threads: Annotated[
        int | None,
        typer.Option(
            "--llm-local-threads",
            help="CPU threads of the embedded server. [default: the CPUs available, at most 8]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_model: Annotated[
        str | None,
        typer.Option(
            "--llm-model",
            help="Model name on the server. [default with --llm-local: the served model's]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_mode: Annotated[
        str | None,
        typer.Option(
            "--llm-mode",
            help="archetype (one prompt per persona x exposure bucket) or feed (each agent "
            "reads its neighbours' posts). [default: archetype]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_api_key_env: Annotated[
        str | None,
        typer.Option(
            "--llm-api-key-env",
            help="Name of the environment variable holding the API key (never the key). "
            "[default: OPENAI_API_KEY; local servers need none]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_concurrency: Annotated[
        int | None,
        typer.Option(
            "--llm-concurrency",
            help="Requests in flight. [default: 8]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_timeout: Annotated[
        float | None,
        typer.Option(
            "--llm-timeout", help="Seconds per request. [default: 60]", rich_help_panel="LLM agents"
        ),
    ] = None,
    llm_max_retries: Annotated[
        int | None,
        typer.Option(
            "--llm-max-retries",
            help="Retries of 429, 5xx, timeouts, connection errors. [default: 5]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_temperature: Annotated[
        float | None,
        typer.Option(
            "--llm-temperature",
            help="Sampling temperature. [default: 1.0]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_max_tokens: Annotated[
        int | None,
        typer.Option(
            "--llm-max-tokens",
            help="Longest answer. [default: 32 archetype, 256 feed]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_samples: Annotated[
        int | None,
        typer.Option(
            "--llm-samples",
            help="Samples per prompt without log-probabilities. [default: 10]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_probability: Annotated[
        str | None,
        typer.Option(
            "--llm-probability",
            help="auto, logprobs or samples. [default: auto]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_structured: Annotated[
        str | None,
        typer.Option(
            "--llm-structured",
            help="JSON-schema output: auto (where accepted), json_schema, off. [default: auto]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_buckets: Annotated[
        str | None,
        typer.Option(
            "--llm-buckets",
            help="Lower edges of the exposure buckets. [default: 0,1,2,3,5,9]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_feed_cap: Annotated[
        int | None,
        typer.Option(
            "--llm-feed-cap",
            help="Feed mode: most posts per prompt. [default: 5]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_invalid: Annotated[
        str | None,
        typer.Option(
            "--llm-invalid",
            help="An answer still malformed or refused after retries: fail or not_shared. "
            "[default: fail]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_invalid_retries: Annotated[
        int | None,
        typer.Option(
            "--llm-invalid-retries",
            help="Times a malformed or refused answer is asked again. [default: 2]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_price_prompt: Annotated[
        float | None,
        typer.Option(
            "--llm-price-prompt",
            help="Price per prompt token, for the cost estimate.",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    llm_price_completion: Annotated[
        float | None,
        typer.Option(
            "--llm-price-completion",
            help="Price per completion token, for the cost estimate.",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    offline_reach: Annotated[
        float | None,
        typer.Option(
            "--offline-reach",
            help="Per-round probability that an agent meets the news outside the platform; "
            "alpha = reach x P(share | met offline) (policies llm and tabulated). "
            "[default: 0.01; a table's own]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    cache: Annotated[
        str | None,
        typer.Option(
            "--cache",
            help="SQLite answer cache; a rerun of a killed run resumes from it. [default: none]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    cache_mode: Annotated[
        str | None,
        typer.Option(
            "--cache-mode",
            help=f"{', '.join(CACHE_MODES)}. [default: read_write]",
            rich_help_panel="LLM agents",
        ),
    ] = None,
    loop: Annotated[
        int | None,
        typer.Option(
            "--loop",
            help="Run the coupled online-offline model instead, chaining N generations of "
            "cascades seeded by its offline events (as spillover loop; rates and emission from "
            "the config's \\[loop] section, docs/loop.md).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print how many LLM requests the run would make, send none, write nothing.",
            rich_help_panel="LLM agents",
        ),
    ] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")] = Path(
        "runs/simulation"
    ),
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Simulate the spread of one event through a network of persona agents.

    Writes a run directory: manifest.json, curves.parquet, exposures.parquet,
    adoptions.parquet and agents.parquet; LLM runs add llm_table.json, feed mode posts.parquet
    (see the README for the formats). With --loop N, or a config file with a \\[loop] section,
    runs the chained online-offline loop instead and writes what spillover loop writes.
    """
    import spillover
    from spillover.cli._loop import has_loop_section, simulate_loop
    from spillover.io import check_output_dir, load_config, write_run_dir
    from spillover.pipeline import plan_llm_run

    graph = _choice("graph", graph, GRAPH_KINDS)
    policy = _choice("policy", policy, POLICY_KINDS)
    llm_mode = _choice("llm-mode", llm_mode, LLM_MODES)
    llm_probability = _choice("llm-probability", llm_probability, ("auto", "logprobs", "samples"))
    llm_structured = _choice("llm-structured", llm_structured, ("auto", "json_schema", "off"))
    llm_invalid = _choice("llm-invalid", llm_invalid, ("fail", "not_shared"))
    cache_mode = _choice("cache-mode", cache_mode, CACHE_MODES)
    overrides = {
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
        "policy_table": policy_table,
        "llm_base_url": llm_base_url,
        "llm_local": llm_local,
        "llm_gguf": llm_gguf,
        "llm_local_slots": llm_local_slots,
        "llm_local_threads": llm_local_threads,
        "llm_model": llm_model,
        "llm_mode": llm_mode,
        "llm_api_key_env": llm_api_key_env,
        "llm_concurrency": llm_concurrency,
        "llm_timeout_s": llm_timeout,
        "llm_max_retries": llm_max_retries,
        "llm_temperature": llm_temperature,
        "llm_max_tokens": llm_max_tokens,
        "llm_samples": llm_samples,
        "llm_probability": llm_probability,
        "llm_structured": llm_structured,
        "llm_buckets": llm_buckets,
        "llm_feed_cap": llm_feed_cap,
        "llm_invalid": llm_invalid,
        "llm_invalid_retries": llm_invalid_retries,
        "llm_price_prompt": llm_price_prompt,
        "llm_price_completion": llm_price_completion,
        "offline_reach": offline_reach,
        "cache": cache,
        "cache_mode": cache_mode,
    }
    if loop is not None or has_loop_section(config):
        simulate_loop(config, loop, {**overrides, "dry_run": dry_run or None}, out, force=force)
        return
    cfg = load_config(config, overrides)
    if dry_run:
        _print_plan(plan_llm_run(cfg), cfg)
        return
    check_output_dir(out, force=force, keep=(cfg.cache,))
    if not quiet:
        err_console.print(f"building a {cfg.graph} graph of {cfg.n_nodes:,} agents ...")
    if cfg.policy == "llm":
        feed = cfg.llm_mode == "feed"
        total = cfg.n_rounds if feed else cfg.n_reps
        with llm_progress(not quiet, total, feed=feed) as (on_answer, on_run):
            run = spillover.run(cfg, rng=cfg.seed, progress=on_run, llm_progress=on_answer)
    else:
        with replicate_progress(cfg.n_reps, enabled=not quiet) as progress:
            run = spillover.run(cfg, rng=cfg.seed, progress=progress)
    path = write_run_dir(run, out, force=force)
    final = float(run.result.curves.fraction()[:, -1].mean())
    print_summary(path, run.timings, final, run.result.n_reps)
    print_llm_summary(run)
    if run.event.event_type not in EVENT_TYPES:
        err_console.print(
            f"warning: event {run.event.event_id!r} has event_type "
            f"{run.event.event_type[:80]!r}, which is not one of ACLED's six "
            f"({', '.join(EVENT_TYPES)}); it was used as given, as a type of its own in "
            "event-type effects",
            markup=False,
            soft_wrap=True,
        )
