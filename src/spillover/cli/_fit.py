"""``spillover fit INPUT``: fit, compare and summarise models of a run or a table."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from spillover.cli._app import app
from spillover.cli._console import err_console, out_console
from spillover.cli._fit_options import (
    FoldsOption,
    check_fit_options,
    llm_noise_option,
    llm_noise_tables,
)
from spillover.cli._simulate_options import FIT_FLAG_OF, flags_on_errors

if TYPE_CHECKING:  # the fits load when a fit runs, not when the command line starts
    from spillover.fit import FitResult, TraitEffects
    from spillover.selection import Analysis, Forecast, ModelErrors, ModelGroup, RobustErrors

__all__ = ["fit_command", "format_params", "print_analysis"]


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else str(x)
    return f"{x:.4g}" if abs(x) < 1e-3 and x != 0 else f"{x:.4f}"


#: Vectors up to this length (a dose-response by exposure count) are listed value by value;
#: longer ones (32 personas) are summarised.
_LISTED = 12


#: The label of a parameter that a fit estimates as an effective rate, not a per-contact one.
EFFECTIVE = "(effective)"


def format_params(
    result: FitResult, effective: tuple[str, ...] = (), errors: ModelErrors | None = None
) -> str:
    """``name = est ± se [low, high]`` per parameter; per-persona vectors summarised.

    The names in ``effective`` (rates a homogeneous mean field fits to curves) are labelled
    ``beta (effective)``. With ``errors`` of kind ``sandwich`` the sandwich standard errors and
    their Wald intervals are shown instead of the model ones.
    """
    robust = errors is not None and errors.se_kind == "sandwich"
    parts = []
    for key, value in result.params.items():
        name = f"{key} {EFFECTIVE}" if key in effective else key
        if isinstance(value, tuple) and len(value) <= _LISTED:
            parts.append(f"{name} " + ", ".join(_fmt(v) for v in value))
            continue
        if isinstance(value, tuple):
            finite = [v for v in value if math.isfinite(v)]
            rng = f"{_fmt(min(finite))}–{_fmt(max(finite))}" if finite else "n/a"
            parts.append(f"{name}: {len(value)} values, {rng}")
            continue
        se = result.stderr.get(key, math.nan)
        low, high = result.ci_low.get(key), result.ci_high.get(key)
        if robust and errors is not None and key in errors.stderr_sandwich:
            se = errors.stderr_sandwich[key]
            low, high = errors.ci_low_sandwich[key], errors.ci_high_sandwich[key]
        text = f"{name} {_fmt(value)}"
        if isinstance(se, float) and math.isfinite(se):
            text += f" ± {se:.2g}"
        if isinstance(low, float) and isinstance(high, float) and math.isfinite(low + high):
            text += f" [{_fmt(low)}, {_fmt(high)}]"
        parts.append(text)
    return "\n".join(parts)


def _group_caption(group: ModelGroup, criterion: str) -> str:
    """What the group is ranked by, and what its effective rates are."""
    lines = [f"ranked by {group.criterion_label(criterion)}"]
    if group.quasi:
        lines[0] += (
            "; quasi-likelihood criteria of log-lik / phi, the phi that inflates the "
            "standard errors"
        )
    if any(group.effective_params(r.model) for r in group.results):
        lines.append(
            f"{EFFECTIVE} marks an effective online rate of a homogeneous mean field fitted to "
            "the curves: it absorbs the neighbour correlations the map leaves out, so it is not "
            "the rate per informed contact"
        )
    return "\n".join(lines)


def _group_table(
    group: ModelGroup,
    criterion: str = "bic",
    robust: RobustErrors | None = None,
    totals: frozenset[str] = frozenset(),
) -> Table:
    """The group's comparison; ``robust`` marks the standard errors of pooled models (their
    sandwich ones where shown), except for the models in ``totals``, whose standard errors
    already include the LLM answers' noise."""
    table = Table(
        title=group.description,
        title_justify="left",
        show_lines=True,
        caption=Text(_group_caption(group, criterion)),
        caption_justify="left",
    )
    columns = (
        ("model", "left"),
        ("estimate ± se [95% CI]", "left"),
        ("k", "right"),
        ("log-lik", "right"),
        (f"Δ{group.criterion_name('aic')}", "right"),
        (f"Δ{group.criterion_name('bic')}", "right"),
        ("weight", "right"),
        ("held-out", "right"),
        ("status", "left"),
    )
    for col, justify in columns:
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    results = {r.model: r for r in group.results}
    errors = robust.models if robust is not None and group.data == "exposures" else {}
    for row in group.comparison:
        held = "" if row.held_out_loglik is None else f"{row.held_out_loglik:,.1f}"
        model_errors = None if row.model in totals else errors.get(row.model)
        params = format_params(results[row.model], group.effective_params(row.model), model_errors)
        if model_errors is not None:
            fit = "fits its cells" if model_errors.gof.fits else "does not fit its cells"
            params += f"\n({model_errors.se_kind} se; {fit})"
        table.add_row(
            row.model + (" *" if row.model == group.best else ""),
            params,
            str(row.n_params),
            f"{row.loglik:,.1f}",
            f"{row.delta_aic:,.1f}" if math.isfinite(row.delta_aic) else "inf",
            f"{row.delta_bic:,.1f}" if math.isfinite(row.delta_bic) else "inf",
            f"{row.akaike_weight:.3f}",
            held,
            row.status,
        )
    return table


def _messages(group: ModelGroup) -> list[str]:
    return [f"{r.model}: {r.message}" for r in group.results if r.message]


def _traits_table(traits: TraitEffects) -> Table:
    table = Table(
        title=(
            "Trait (and event) effects: hazard ratio, high vs low level (95% CI), on the "
            f"{traits.base} hazard, {traits.se_kind} standard errors"
        ),
        title_justify="left",
        caption=Text(traits.flag()),
        caption_justify="left",
    )
    table.add_column("term")
    for channel in traits.channels:
        table.add_column(
            f"{channel} ({'offline' if channel == 'alpha' else 'online'})", justify="right"
        )
    rows = traits.rows()
    suffix = "_sandwich" if traits.se_kind == "sandwich" else ""
    for trait in traits.terms[1:]:
        cells = []
        for channel in traits.channels:
            r = next(x for x in rows if x["trait"] == trait and x["channel"] == channel)
            low, high = r[f"ci_low{suffix}"], r[f"ci_high{suffix}"]
            cells.append(
                f"{math.exp(r['log_hazard_ratio']):.2f} [{math.exp(low):.2f}, {math.exp(high):.2f}]"
            )
        table.add_row(trait, *cells)
    return table


def _forecast_table(forecast: Forecast) -> Table:
    table = Table(
        title=(
            f"Forecast of rounds {forecast.fit_rounds + 1}-{forecast.last_round} from fits on "
            f"rounds 0-{forecast.fit_rounds}: informed fraction, mean of {forecast.n_reps} "
            "replicate(s)"
        ),
        title_justify="left",
    )
    level = f"{forecast.level:.0%}"
    for col in ("model", "data", "RMSE", "max error", f"in {level} band", "band width"):
        table.add_column(col, justify="left" if col in ("model", "data") else "right")
    held = slice(forecast.fit_rounds + 1, forecast.last_round + 1)
    for f in forecast.models:
        width = float((f.high[held] - f.low[held]).mean())
        table.add_row(
            f.model,
            forecast.data[f.model],
            f"{f.rmse:.4f}",
            f"{f.max_abs_error:.4f}",
            f"{f.coverage:.0%}",
            f"{width:.4f}",
        )
    return table


def _equation_line(analysis: Analysis) -> str:
    eq = analysis.equation
    assert eq is not None
    line = f"{eq.text()}  (R² {eq.r2:.4f}, per round)"
    bass = eq.bass_hazards()
    if bass is not None:
        line += f"; Bass form: offline hazard a = {bass['a']:.4g}, online k·b = {bass['kb']:.4g}"
    return line


def print_analysis(analysis: Analysis) -> None:
    for group in analysis.groups:
        noise = analysis.llm_noise
        totals = frozenset(noise.params) if noise is not None and noise.n_tables else frozenset()
        out_console.print(_group_table(group, analysis.criterion, analysis.robust, totals))
        for line in _messages(group):
            out_console.print(f"  {line}", markup=False)
    if analysis.trait_effects is not None:
        out_console.print(_traits_table(analysis.trait_effects))
    if analysis.equation is not None:
        out_console.print(f"Equation discovery (SINDy, mean curve): {_equation_line(analysis)}")
    if analysis.two_rates is not None:
        verdict = analysis.two_rates
        out_console.print(
            f"Two rates: {verdict.reading} ({verdict.model}). {verdict.summary}", markup=False
        )
    robust = analysis.robust
    noise = analysis.llm_noise
    shown_totals = set(noise.params) if noise is not None and noise.n_tables else set()
    sandwich = {
        name
        for name in (robust.models if robust is not None else {})
        if robust is not None and robust.se_kind(name) == "sandwich" and name not in shown_totals
    }
    profile = [
        r.model
        for g in analysis.groups
        for r in g.results
        if r.ci_method == "profile" and not (g.data == "exposures" and r.model in sandwich)
    ]
    intervals = (
        f"profile likelihood for {', '.join(profile)}, Wald otherwise" if profile else "Wald"
    )
    quasi = [g for g in analysis.groups if g.quasi]
    by = analysis.groups[0].criterion_name(analysis.criterion) if analysis.groups else "BIC"
    if quasi:
        by = (
            f"{analysis.criterion.upper()} (its quasi-likelihood form "
            f"{quasi[0].criterion_name(analysis.criterion)} for curve fits)"
        )
    out_console.print(
        f"* best in its group by {by}; groups score different data and are not ranked "
        "against each other; Δ: difference to the group's lowest; weight: Akaike weight; "
        "the criteria themselves are in --json. "
        f"Estimates are per-round probabilities. Intervals: {intervals}. held-out: "
        "log-likelihood of whole replicates left out of the fit (K-fold). --json has "
        "everything, per persona too."
    )
    if analysis.robust is not None and analysis.robust.models:
        out_console.print(_robust_line(analysis.robust), markup=False)
    if analysis.forecast is not None:
        forecast = analysis.forecast
        out_console.print(_forecast_table(forecast))
        sd = forecast.observed_sd[forecast.fit_rounds + 1 :]
        out_console.print(
            f"Forecast: each model's map at its estimate, against the observed mean; band: "
            "parameter draws and chain-binomial replicate noise (docs/fitting.md); band "
            "width: mean over held-out rounds. Spread between replicates over the held-out "
            f"rounds: standard deviation {float(sd.mean()):.4f} on average.",
            markup=False,
        )
    for line in _llm_noise_lines(analysis):
        out_console.print(line, markup=False)
    for note in analysis.notes:
        out_console.print(f"note: {note}")


def _robust_line(robust: RobustErrors) -> str:
    """Which standard errors the agent-level table shows, and why."""
    sandwich = [name for name, e in robust.models.items() if e.se_kind == "sandwich"]
    kinds = ", ".join(f"{name}: {e.se_kind}" for name, e in robust.models.items())
    line = (
        f"Standard errors ({kinds}): '(sandwich se)' marks sandwich standard errors clustered "
        f"by {robust.cluster} ({robust.n_clusters} clusters) with Wald intervals (Student's t "
        "for replicate clusters), shown "
        "when the pooled model does not fit its (persona, m) cells or the verdict finds "
        "latent heterogeneity; the others are model ones (observed information). Pooled "
        "models ignore personas: where the personas differ they do not fit their cells even "
        "with the right dose-response (the verdict tests the shape within persona)."
    )
    if not sandwich:
        line += " No heterogeneity detected: model standard errors throughout."
    for note in robust.notes:
        line += f" Note: {note}."
    return line


def _llm_noise_lines(analysis: Analysis) -> list[str]:
    """What the table of an LLM run says about the answers' noise, and which SEs are shown."""
    noise = analysis.llm_noise
    if noise is None:
        return []
    lines = [
        f"LLM answers: {noise.sample_cells} cell(s) from sampled answers, "
        f"{noise.logprob_cells} from log-probabilities, {noise.unknown_cells} of unrecorded "
        "source."
    ]
    if noise.degenerate_cells:
        shown = ", ".join(
            f"persona {c['persona']} bucket {c['bucket_label']} = {c['p']:g} "
            f"({round(c['p'] * c['n'])}/{c['n']})"
            for c in noise.degenerate_cells[:6]
        )
        more = len(noise.degenerate_cells) - 6
        lines.append(
            f"warning: {len(noise.degenerate_cells)} sampled cell(s) estimated at exactly 0 or 1 "
            f"(the model's probability is not 0 or 1, only its n answers agreed): {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    for model, why in noise.untrusted.items():
        lines.append(
            f"warning: {model}: {why}; its feasibility may rest on a degenerate sampled cell: "
            "do not trust this fit"
        )
    if noise.n_tables and noise.params:
        shares = []
        for model, per in noise.params.items():
            for name, v in per.items():
                if isinstance(v["llm_share"], float):
                    shares.append(f"{model} {name} {v['llm_share']:.0%}")
        lines.append(
            f"SEs and intervals of {', '.join(noise.params)} are totals, "
            "sqrt(se_engine² + se_llm²), with se_llm from "
            f"{noise.n_tables} bootstrap tables of the sampled answers (re-simulated with the "
            "run's seed); the LLM answers' share of the variance: "
            + "; ".join(shares)
            + ". --json has se_engine, se_llm and se per parameter."
            + (
                " The intervals are around the denoised estimate (the run replayed with each "
                "bucket's sampled answers shrunk to their pooled share where the personas do "
                "not differ beyond sampling noise; --json: denoised), not the estimate shown."
                if noise.denoised
                else ""
            )
        )
    elif noise.sample_cells:
        lines.append(
            "SEs are the engine's only: they leave out the noise of the sampled answers "
            "(--llm-noise B adds it)."
        )
    for note in noise.notes:
        lines.append(f"note: {note}")
    return lines


@app.command("fit")
@flags_on_errors(FIT_FLAG_OF)
def fit_command(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="A run directory, a sweep folder, or an exposures or curves table "
            "(.parquet or .csv).",
        ),
    ],
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Model to fit (repeatable): si, si2, si-groups2, si-persona, si-dose2, si-dose, "
            "si-dose-persona, pair, sindy; loop-mf, loop-pair for a loop run or sweep. "
            "\\[default: all that the input supports, but si-dose-persona]",
        ),
    ] = None,
    degree: Annotated[
        int | None,
        typer.Option(
            "--degree",
            "-k",
            help="Graph degree for curve models (pair, and si/si2 "
            "on curves). \\[default: from the run's manifest when the graph is regular]",
        ),
    ] = None,
    folds: FoldsOption = 5,
    criterion: Annotated[
        str, typer.Option("--criterion", help="Criterion naming the best model: bic, aic, aicc.")
    ] = "bic",
    fit_rounds: Annotated[
        int | None,
        typer.Option(
            "--fit-rounds",
            metavar="R",
            help="Fit on rounds 0..R only and forecast the later rounds with bands, "
            "against the observed curve.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    llm_noise: Annotated[int | None, llm_noise_option("the agent-level SEs")] = None,
) -> None:
    """Fit models of the spread to a run and say which the data support.

    Agent-level models (si, si2, si-groups2, si-persona, si-dose2, si-dose; si-dose-persona
    when named) are fitted by exact maximum likelihood on the exposure table; curve models
    (pair; and si, si2, si-groups2 when only curves are given) to the informed counts. With
    --fit-rounds R every model is fitted to rounds 0..R and forecasts the rest of the run.
    """
    from spillover.io import read_fit_input
    from spillover.sweeps import is_sweep

    _check_options(input_path, criterion, folds, llm_noise, fit_rounds)
    if is_sweep(input_path):
        _fit_sweep(input_path, model or None, criterion, as_json)
        return
    from spillover.io import is_loop_run

    if is_loop_run(input_path):
        from spillover.cli._loop import fit_loop_run

        fit_loop_run(input_path, as_json, model or None)
        return
    from spillover.io import dumps_json
    from spillover.selection import analyse

    _refuse_coupled(model, input_path)
    data = read_fit_input(input_path)
    k = degree if degree is not None else data.degree
    if fit_rounds is not None and data.curves is not None:
        from spillover.fit import check_fit_rounds

        check_fit_rounds(fit_rounds, data.curves.n_rounds)  # before any progress line
    if not as_json:
        err_console.print(f"fitting {data.source} ...")
    analysis = analyse(
        exposures=data.exposures,
        curves=data.curves,
        agents=data.agents,
        degree=k,
        models=model or None,
        n_folds=folds,
        criterion=criterion,  # type: ignore[arg-type]
        graph=data.graph,
        fit_rounds=fit_rounds,
        weights=data.persona_shares,
        rng=data.forecast_seed,
    )
    if input_path.is_dir():
        analysis = _with_llm_noise(input_path, analysis, llm_noise, fit_rounds, as_json)
    if as_json:
        typer.echo(dumps_json(analysis.to_dict(), indent=2))
    else:
        print_analysis(analysis)


def _check_options(
    input_path: Path, criterion: str, folds: int, llm_noise: int | None, fit_rounds: int | None
) -> None:
    """Refuse bad options before any work (one ConfigError naming the option)."""
    from spillover.exceptions import ConfigError
    from spillover.selection import CRITERIA
    from spillover.sweeps import is_sweep

    if criterion not in CRITERIA:
        raise ConfigError(f"--criterion must be one of {', '.join(CRITERIA)}; got {criterion!r}")
    check_fit_options(folds, llm_noise)
    if fit_rounds is not None and (is_sweep(input_path) or _is_loop(input_path)):
        raise ConfigError(
            "--fit-rounds forecasts one run: give a run directory or a curves table, not a "
            "sweep or loop folder"
        )


def _refuse_coupled(models: list[str] | None, input_path: Path) -> None:
    """A coupled model asked of an SI run or table: one ConfigError naming the problem."""
    from spillover.exceptions import ConfigError
    from spillover.fit import COUPLED_MODELS

    coupled = [m for m in models or () if m in COUPLED_MODELS]
    if coupled:
        raise ConfigError(
            f"model {coupled[0]!r} is a coupled model of loop runs: {input_path} holds an SI "
            "spread, with no offline tables"
        )


def _with_llm_noise(
    run_dir: Path, analysis: Analysis, llm_noise: int | None, fit_rounds: int | None, quiet: bool
) -> Analysis:
    """The analysis of an LLM run with its sampled answers' noise (``--llm-noise``)."""
    from spillover.pipeline import llm_noise_fit

    if llm_noise and not (run_dir / "llm_table.json").is_file():
        note = (
            f"--llm-noise {llm_noise}: {run_dir} is not an LLM run (no llm_table.json), so no "
            "answers add noise; the standard errors are the engine's"
        )
        analysis = replace(analysis, notes=(*analysis.notes, note))
    n_tables, tick = llm_noise_tables(llm_noise, quiet=quiet)
    return llm_noise_fit(run_dir, analysis, n_tables=n_tables, fit_rounds=fit_rounds, progress=tick)


def _is_loop(path: Path) -> bool:
    from spillover.io import is_loop_run

    return bool(is_loop_run(path))


def _fit_sweep(path: Path, models: list[str] | None, criterion: str, as_json: bool) -> None:
    """One fit per complete cell of a sweep: a table, or the rows as JSON. ``models``: the
    ``--model`` names (None: the sweep models, or every coupled model of a loop sweep)."""
    from spillover.fit import sweep_models
    from spillover.io import dumps_json
    from spillover.sweeps import check_models, fit_sweep, load_sweep

    sweep = load_sweep(path)
    if sweep.is_loop:
        from spillover.cli._loop import fit_loop_sweep

        fit_loop_sweep(sweep, as_json, models)
        return
    models = list(check_models(models if models is not None else sweep_models()))
    if not as_json:
        err_console.print(f"fitting {len(sweep.complete_cells())} cells of {path} ...")
    table = fit_sweep(sweep, models, criterion=criterion)  # type: ignore[arg-type]
    rows = table.to_pylist()
    if as_json:
        doc: dict[str, object] = {"sweep": str(path), "fits": rows}
        from spillover.sweeps import RATE_NEUTRAL_KEYS, fit_sweep_effects

        if set(sweep.keys) <= RATE_NEUTRAL_KEYS:
            effects = fit_sweep_effects(sweep)
            if effects is not None:
                doc["effects"] = effects.rows()
                doc["reference_event"] = effects.reference_event
        typer.echo(dumps_json(doc, indent=2, default=str))
        return
    keys = list(sweep.keys)
    out = Table(
        title=f"fits per cell of {path} (best by {criterion.upper()} marked *)",
        title_justify="left",
    )
    for col in ("cell", *keys, "model", "param", "estimate ± se", "status"):
        out.add_column(col, justify="right" if col in ("cell", *keys) else "left")
    for row in rows:
        if row["param"] is None or row["index"] is not None:
            continue  # per-persona vectors: see --json or spillover query
        se = row["stderr"]
        est = f"{_fmt(row['value'])}" + (f" ± {se:.2g}" if se == se and se is not None else "")
        out.add_row(
            str(row["cell"]),
            *(str(row[k]) for k in keys),
            row["model"] + (" *" if row["best"] else ""),
            row["param"],
            est,
            row["status"],
        )
    out_console.print(out)
    from spillover.sweeps import RATE_NEUTRAL_KEYS, fit_sweep_effects

    if set(sweep.keys) <= RATE_NEUTRAL_KEYS:
        effects = fit_sweep_effects(sweep)
        if effects is not None:
            out_console.print(_traits_table(effects))
            out_console.print(
                f"event rows: hazard ratio against {effects.reference_event!r} "
                "(cells pooled: the sweep varies no rate)"
            )
