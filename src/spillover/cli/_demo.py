"""``spillover demo``: a small run end to end: simulate, write, fit, tabulate, plot."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer

from spillover.cli._app import app
from spillover.cli._console import err_console, out_console, replicate_progress
from spillover.cli._simulate_options import OUTPUT_FLAG_OF, QuietOption, flags_on_errors
from spillover.config import SimulationConfig

if TYPE_CHECKING:
    from spillover.pipeline import RunOutput
    from spillover.selection import Analysis

__all__ = ["demo_command"]

DEMO_SEED = 20240305
#: The LLM demo: a sparse graph and a small offline reach, so the spread takes 10-15 rounds
#: (SmolLM2 answers "share" at 0.6-0.7 whatever the exposure: on an 8-regular graph any
#: informed neighbour would inform almost everyone within 4 rounds), and three exposure
#: buckets (0, 1, 2+): 96 prompts, answered once and then read from the cache.
LLM_DEMO = {
    "degree": 3,
    "n_rounds": 20,
    "llm_buckets": "0,1,2",
    "offline_reach": 0.002,
    "llm_invalid": "not_shared",
}
LLM_DEMO_NOTE = (
    "The agents are SmolLM2-135M-Instruct, a 135-million-parameter model run on this CPU. "
    "It answers the questions and every probability comes from its log-probabilities, so "
    "the whole pipeline ran on a real model: prompts, answers, cache, engine, fits. What it "
    "does not show: a model this small barely tells the personas apart and hardly reacts to "
    "how many neighbours shared, so the fits describe this model, not people, and not what "
    "a larger model would do (point --llm-base-url at one, or --llm-gguf at a larger file)."
)


@app.command("demo")
@flags_on_errors({"out": OUTPUT_FLAG_OF["out"]})  # the demo always replaces its run
def demo_command(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run directory to write (replaced if it exists).")
    ] = Path("runs/demo"),
    n_nodes: Annotated[int, typer.Option("--n-nodes", help="Agents.")] = 3200,
    replicates: Annotated[int, typer.Option("--replicates", help="Replicates.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Root random seed.")] = DEMO_SEED,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="llm: agents answered by the bundled SmolLM2-135M on the embedded server; "
            "persona: the fast parametric persona prior.",
        ),
    ] = "llm",
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            help="Answer cache of the LLM demo. \\[default: llm-cache.sqlite beside --out]",
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Run the demonstration: 3,200 agents with real LLM answers, or the persona prior.

    With --policy llm (the default) the bundled SmolLM2-135M-Instruct, served in-process on
    127.0.0.1, answers one prompt per persona and exposure bucket (96 prompts, cached beside
    the run folder so that a second demo takes seconds) on a random 3-regular graph; with
    --policy persona the default persona prior drives a random 8-regular graph. Either way
    the first bundled (fictional) conflict event spreads over 10 replicates; the run
    directory is written, si, si2, si-groups2, si-persona (with trait effects), the
    dose-response models si-dose2 and si-dose and the pair map are fitted and compared, and
    curves.png and report.html are written.
    """
    import spillover
    from spillover.cli._simulate import llm_progress
    from spillover.exceptions import ConfigError
    from spillover.io import check_output_dir, write_json, write_run_dir
    from spillover.report import build_run_report, plot_run, save_figure
    from spillover.selection import analyse

    if policy not in ("llm", "persona"):
        raise ConfigError(f"--policy must be one of llm, persona; got {policy!r}")
    llm = policy == "llm"
    cfg = SimulationConfig(n_nodes=n_nodes, n_reps=replicates, seed=seed)
    if llm:
        cache_path = cache if cache is not None else out.parent / "llm-cache.sqlite"
        cfg = cfg.replace(policy="llm", llm_local=True, cache=str(cache_path), **LLM_DEMO)
    check_output_dir(out, force=True)
    if not quiet:
        who = (
            "LLM agents (SmolLM2-135M-Instruct, embedded server)"
            if llm
            else "default persona policy"
        )
        err_console.print(
            f"demo: {cfg.n_nodes:,} agents, random {cfg.degree}-regular graph, "
            f"{cfg.n_reps} replicates, {who}"
        )
    if llm:
        with llm_progress(not quiet, cfg.n_reps, feed=False) as (on_answer, on_run):
            run = spillover.run(cfg, progress=on_run, llm_progress=on_answer)
    else:
        with replicate_progress(cfg.n_reps, enabled=not quiet) as progress:
            run = spillover.run(cfg, progress=progress)
    if not quiet:
        err_console.print(
            "fitting si, si2, si-groups2, si-persona, si-dose2, si-dose and the pair map ..."
        )
    analysis = analyse(
        exposures=run.result.exposures,
        curves=run.result.curves,
        agents=run.agents,
        degree=cfg.degree,
    )
    fits_doc = analysis.to_dict()

    def attach(folder: Path) -> None:
        write_json(fits_doc, folder / "fits.json")
        figure = plot_run(
            run.result.curves,
            run.result.adoptions,
            title=f"{run.event.event_type} in {run.event.country} ({run.event.event_id}): "
            f"{cfg.n_nodes:,} agents, k={cfg.degree}, {cfg.n_reps} replicates",
        )
        save_figure(figure, folder / "curves.png")

    path = write_run_dir(run, out, force=True, extra={"fits": fits_doc}, attach=attach)
    report = build_run_report(path, analysis=analysis)

    _print_demo(run, analysis, path, report, llm=llm)


def _print_demo(run: RunOutput, analysis: Analysis, path: Path, report: Path, *, llm: bool) -> None:
    """The demo's summary: the event, the spread, the fits, the policy, the files written."""
    from spillover.cli._fit import print_analysis

    out_console.print(
        f"\n[bold]Event[/bold] {run.event.event_id}: {run.event.event_type}, "
        f"{run.event.location or run.event.admin1}, {run.event.country}",
        markup=True,
    )
    final = run.result.curves.fraction()[:, -1]
    out_console.print(
        f"[bold]Spread[/bold]: final informed fraction {final.mean():.3f} "
        f"(min {final.min():.3f}, max {final.max():.3f}) after {run.config.n_rounds} rounds; "
        f"engine {run.timings['simulate_s']:.3f} s"
    )
    print_analysis(analysis)
    if llm:
        _print_llm_demo(run)
    else:
        alpha_c, beta_c = run.policy.rates_for(run.event)  # type: ignore[attr-defined]
        weights = np.bincount(run.persona_of_node, minlength=alpha_c.size) / run.graph.n_nodes
        out_console.print(
            f"Generating policy (default persona prior): population means alpha "
            f"{weights @ alpha_c:.4f}, beta {weights @ beta_c:.4f}, 32 personas. A pooled "
            "beta below the mean is expected: eager sharers leave the susceptible pool first."
        )
    out_console.print(
        f"[bold]Wrote[/bold] {path}/: manifest.json, curves.parquet, exposures.parquet, "
        f"adoptions.parquet, agents.parquet, fits.json, curves.png, {report.name}, figures/"
    )


def _print_llm_demo(run: RunOutput) -> None:
    """What the model answered, where its answers came from, and what that shows."""
    from spillover.cli._simulate import print_llm_summary

    assert run.llm is not None and run.llm_table is not None
    answers = next(iter(run.llm_table.probabilities.values()))
    labels = run.llm_table.buckets.labels()
    means = ", ".join(f"{label} {answers[:, b].mean():.2f}" for b, label in enumerate(labels))
    spread = float(np.nanstd(answers[:, 0]))
    reach = run.llm["offline_reach"]
    out_console.print(
        f"[bold]Model answers[/bold] P(share) by informed neighbours: {means}; spread across "
        f"personas (std, offline) {spread:.3f}; offline reach {reach} per round, so alpha = "
        f"{reach} x P(share | met offline) = {reach * answers[:, 0].mean():.4f}",
        markup=True,
    )
    sources = run.llm["answers"]["probability_sources"]
    out_console.print(
        f"Probabilities from: {', '.join(f'{k} {v}' for k, v in sources.items())}; "
        f"model file {run.llm['local_server']['model_file']['name']} "
        f"(sha256 {run.llm['local_server']['model_file']['sha256'][:12]}...)",
        markup=False,
        highlight=False,
    )
    print_llm_summary(run)
    out_console.print(LLM_DEMO_NOTE, markup=False, highlight=False)
