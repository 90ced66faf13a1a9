"""A self-contained HTML report: inline CSS, figures embedded as data URIs, no scripts.

Every string that comes from data (event text, config values, model messages) is escaped;
nothing from a run is ever inserted as markup.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spillover.fit import hazard_ratio
from spillover.io import GENERATOR_META
from spillover.report._mpl import save_figure
from spillover.report._posts import FeedPosts, feed_posts_section
from spillover.selection import Analysis, ModelErrors, ModelGroup, RobustErrors

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PageFigure", "render_report", "render_table_page"]

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto;
       max-width: 1200px; color: #1d1d1f; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem;
     border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .85rem; }
th, td { border: 1px solid #ccc; padding: .2rem .4rem; vertical-align: top; }
th { background: #f3f3f5; text-align: left; } td.num { text-align: right;
     font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .88rem; color: #555; } .muted { color: #666; font-size: .88rem; }
pre { background: #f7f7f9; padding: .6rem; white-space: pre-wrap; font-size: .85rem; }
td.params { white-space: nowrap; } td.params .vector { white-space: normal; }
.table-wrap { max-width: 100%; overflow-x: auto; margin: .8rem 0; }
.table-wrap > table { margin: 0; }
ul.model-notes { font-size: .88rem; color: #444; margin: .3rem 0 1rem; padding-left: 1.2rem; }
ul.model-notes li { overflow-wrap: anywhere; }
.warn { color: #8a4b00; background: #fff6e5; padding: .3rem .5rem; }
img, pre, code { max-width: 100%; } pre, code { overflow-wrap: anywhere; }
"""


def _wrap(table: str) -> str:
    """A table in a box that scrolls sideways when it is wider than the page."""
    return f"<div class='table-wrap'>{table}</div>"


class PageFigure:
    """A PNG file of a page, and its caption (embedded in the HTML as a data URI)."""

    def __init__(self, path: Path, caption: str, alt: str) -> None:
        self.path = path
        self.caption = caption
        self.alt = alt

    @classmethod
    def save(cls, fig: Figure, path: Path, caption: str, alt: str) -> PageFigure:
        """Write the matplotlib figure ``fig`` to ``path`` (PNG) and describe it."""
        return cls(save_figure(fig, path), caption, alt)

    def html(self) -> str:
        data = base64.b64encode(self.path.read_bytes()).decode("ascii")
        return (
            f'<figure><img alt="{escape(self.alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(self.caption)}</figcaption></figure>"
        )


def _num(x: float, fmt: str = ",.1f") -> str:
    if isinstance(x, float) and not math.isfinite(x):
        return escape(str(x))
    return escape(format(x, fmt))


def _param_text(value: Any, se: Any, low: Any, high: Any) -> str:
    if isinstance(value, tuple):
        finite = [v for v in value if math.isfinite(v)]
        span = f"{min(finite):.4g} to {max(finite):.4g}" if finite else "n/a"
        return f"{len(value)} values, {span}"
    text = f"{value:.4g}"
    if isinstance(se, float) and math.isfinite(se):
        text += f" ± {se:.2g}"
    if isinstance(low, float) and isinstance(high, float) and math.isfinite(low + high):
        text += f" [{low:.4g}, {high:.4g}]"
    return text


def _group_table(
    group: ModelGroup,
    criterion: str = "bic",
    robust: RobustErrors | None = None,
    totals: frozenset[str] = frozenset(),
) -> str:
    """The group's comparison; pooled models marked with their standard errors' kind (the
    models in ``totals`` show totals that include the LLM answers' noise instead)."""
    results = {r.model: r for r in group.results}
    errors = robust.models if robust is not None and group.data == "exposures" else {}
    errors = {k: v for k, v in errors.items() if k not in totals}
    aic, aicc, bic = (group.criterion_name(c) for c in ("aic", "aicc", "bic"))
    head = (
        "<tr><th>model</th><th>estimates ± se [95% interval]</th><th>k</th><th>log-lik</th>"
        f"<th>{aic}</th><th>{aicc}</th><th>{bic}</th><th>Δ{aic}</th><th>Δ{bic}</th>"
        "<th>Akaike weight</th><th>held-out log-lik</th><th>status</th>"
        + ("<th>se, fit</th>" if errors else "")
        + "</tr>"
    )
    rows = []
    notes: list[str] = []
    for row in group.comparison:
        r = results[row.model]
        effective = group.effective_params(row.model)
        e = errors.get(row.model)
        se, low, high = dict(r.stderr), dict(r.ci_low), dict(r.ci_high)
        if e is not None and e.se_kind == "sandwich":
            se.update(e.stderr_sandwich)
            low.update(e.ci_low_sandwich)
            high.update(e.ci_high_sandwich)
        params = "<br>".join(
            f"{escape(name)}{' (effective)' if name in effective else ''}: "
            + (
                # A short vector (a dose-response by exposure count) value by value, wrapping
                # within the column; a long one (32 personas) summarised.
                f"<span class='vector'>{escape(', '.join(f'{x:.4g}' for x in v))}</span>"
                if isinstance(v, tuple) and len(v) <= 12
                else escape(_param_text(v, se.get(name), low.get(name), high.get(name)))
            )
            for name, v in r.params.items()
        )
        held = "" if row.held_out_loglik is None else _num(row.held_out_loglik)
        status = escape(r.status) + ("<sup>*</sup>" if r.message else "")
        se_cell = ""
        if e is not None:
            se_cell = f"{escape(e.se_kind)}<br>{'fits' if e.gof.fits else 'does not fit'}"
        if r.message:
            # Messages go under the table: in a cell they squeeze a column into a sliver.
            notes.append(f"<li><strong>{escape(row.model)}</strong>: {escape(r.message)}</li>")
        best = " <strong>(best)</strong>" if row.model == group.best else ""
        rows.append(
            f"<tr><td>{escape(row.model)}{best}</td><td class='params'>{params}</td>"
            f"<td class='num'>{row.n_params}</td><td class='num'>{_num(row.loglik)}</td>"
            f"<td class='num'>{_num(row.value('aic'))}</td>"
            f"<td class='num'>{_num(row.value('aicc'))}</td>"
            f"<td class='num'>{_num(row.value('bic'))}</td>"
            f"<td class='num'>{_num(row.delta_aic)}</td>"
            f"<td class='num'>{_num(row.delta_bic)}</td>"
            f"<td class='num'>{_num(row.akaike_weight, '.3f')}</td><td class='num'>{held}</td>"
            f"<td class='status'>{status}</td>"
            + (f"<td>{se_cell}</td>" if errors else "")
            + "</tr>"
        )
    table = _wrap(f"<table>{head}{''.join(rows)}</table>")
    listed = f"<ul class='model-notes'>{''.join(notes)}</ul>" if notes else ""
    if errors and robust is not None:
        listed += _robust_text(errors, robust.cluster)
        listed += "".join(f"<p class='muted'>{escape(n)}.</p>" for n in robust.notes)
    return f"<h3>{escape(group.description)}</h3>{table}{_criteria_line(group, criterion)}{listed}"


def _criteria_line(group: ModelGroup, criterion: str) -> str:
    """Which criterion ranks the table, and what its effective rates are."""
    text = f"Ranked by {group.criterion_label(criterion)}"
    if group.quasi:
        text += (
            ": quasi-likelihood criteria, -2 log-lik / phi + penalty, with the dispersion phi "
            "that inflates these fits' standard errors, so that differences of criteria agree "
            "with the intervals"
        )
    text += "."
    if any(group.effective_params(r.model) for r in group.results):
        text += (
            " (effective) marks an effective online rate of a homogeneous mean field fitted to "
            "the curves: it absorbs the neighbour correlations the map leaves out, so it is not "
            "the rate per informed contact."
        )
    return f"<p class='muted'>{escape(text)}</p>"


def _robust_text(errors: Mapping[str, ModelErrors], cluster: str) -> str:
    """Which standard errors the agent-level table shows, with each pooled model's fit."""
    items = "".join(
        f"<li><strong>{escape(name)}</strong>: {escape(e.gof.line())}; standard errors shown: "
        f"{escape(e.se_kind)}"
        + (f" ({escape('; '.join(e.reasons))})" if e.reasons else "")
        + "</li>"
        for name, e in errors.items()
    )
    return (
        "<p class='muted'>Pooled models: goodness of fit against a free share probability per "
        "(persona, m) cell. 'sandwich' marks sandwich standard errors clustered by "
        f"{escape(cluster)}, with Wald intervals on the hazard scale (Student's t for "
        "replicate clusters), shown when "
        "heterogeneity is detected; 'model' the observed information's.</p>"
        f"<ul class='model-notes'>{items}</ul>"
    )


def _traits_table(analysis: Analysis) -> str:
    traits = analysis.trait_effects
    if traits is None:
        return ""
    rows = []
    suffix = "_sandwich" if traits.se_kind == "sandwich" else ""
    for r in traits.rows():
        lo, hi, se = r[f"ci_low{suffix}"], r[f"ci_high{suffix}"], r[f"stderr{suffix}"]
        rows.append(
            f"<tr><td>{escape(r['channel'])}</td><td>{escape(r['trait'])}</td>"
            f"<td class='num'>{hazard_ratio(r['log_hazard_ratio']):.3f}</td>"
            f"<td class='num'>[{hazard_ratio(lo):.3f}, {hazard_ratio(hi):.3f}]</td>"
            f"<td class='num'>{r['log_hazard_ratio']:.3f} ± {se:.3f}</td></tr>"
        )
    warn = "" if traits.fits is not False else " <strong>(on a model that does not fit)</strong>"
    return (
        f"<h3>Trait effects on the {escape(traits.base)} hazard (log-linear hazards, one-stage "
        f"maximum likelihood){warn}</h3>"
        f"<p class='muted'>{escape(traits.flag())}.</p>"
        + _wrap(
            "<table><tr><th>channel</th><th>trait</th><th>hazard ratio (high vs low)</th>"
            f"<th>95% CI</th><th>log ratio ± se ({escape(traits.se_kind)})</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    )


def _verdict_section(analysis: Analysis) -> str:
    verdict = analysis.two_rates
    if verdict is None:
        return ""
    rows = []
    for e in verdict.evidence:
        p = "" if e.p_value is None else f"{e.p_value:.3g}"
        rows.append(
            f"<tr><td>{escape(e.test)}</td><td>{escape(e.null)}</td>"
            f"<td>{escape(e.alternative)}</td><td class='num'>{e.statistic:.4g}</td>"
            f"<td class='num'>{'' if e.df is None else e.df}</td><td class='num'>{p}</td>"
            f"<td>{'rejected' if e.reject else 'kept'}</td></tr>"
        )
    return (
        f"<h3>Which two rates? <code>{escape(verdict.reading)}</code> "
        f"({escape(verdict.model)})</h3><p>{escape(verdict.summary)}</p>"
        + _wrap(
            "<table><tr><th>test</th><th>null</th><th>alternative</th><th>statistic</th>"
            "<th>df</th><th>p</th><th>null</th></tr>" + "".join(rows) + "</table>"
        )
        + f"<p class='muted'>Nested likelihood-ratio tests within persona, each at level "
        f"{verdict.level:g} (docs/fitting.md).</p>"
    )


def _page_start(title: str, summary: Sequence[tuple[str, Any]]) -> list[str]:
    """The head of a run's or a sweep's page, its title and the summary table."""
    return [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        GENERATOR_META,
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        _kv_table(summary),
    ]


def _value_text(value: Any, spec: str, *, count: bool = False) -> str:
    """One figure in format ``spec``, or the range over a vector (with its length when
    ``count``); ``n/a`` when nothing is finite."""
    if isinstance(value, float):
        return format(value, spec) if math.isfinite(value) else "n/a"
    if isinstance(value, list | tuple):
        finite = [v for v in value if isinstance(v, float) and math.isfinite(v)]
        if not finite:
            return "n/a"
        span = f"{format(min(finite), spec)} to {format(max(finite), spec)}"
        return f"{span} ({len(value)} values)" if count else span
    return "n/a"


def _share_text(value: Any) -> str:
    """A parameter's LLM share of the variance: one figure, or the range over a vector."""
    return _value_text(value, ".0%", count=True)


def _se_text(value: Any) -> str:
    return _value_text(value, ".3g")


def _llm_noise_section(analysis: Analysis) -> str:
    """Where an LLM run's probabilities came from, the cells to distrust, and which share of
    each parameter's variance the LLM's sampled answers contribute."""
    noise = analysis.llm_noise
    if noise is None:
        return ""
    parts = [
        "<h2>The LLM's answers</h2>",
        f"<p>The run's table of share probabilities has {noise.logprob_cells:,} cell(s) from "
        f"log-probabilities (no sampling noise), {noise.sample_cells:,} from sampled answers "
        f"and {noise.unknown_cells:,} of unrecorded source.</p>",
    ]
    if noise.degenerate_cells:
        rows = "".join(
            f"<tr><td>{escape(str(c['event']))}</td><td class='num'>{c['persona']}</td>"
            f"<td>{escape(str(c['bucket_label']))}</td><td class='num'>{c['p']:g}</td>"
            f"<td class='num'>{round(c['p'] * c['n'])}/{c['n']}</td></tr>"
            for c in noise.degenerate_cells[:20]
        )
        more = len(noise.degenerate_cells) - 20
        parts.append(
            f"<p class='warn'>{len(noise.degenerate_cells)} sampled cell(s) are estimated at "
            "exactly 0 or 1: the model's probability there is not 0 or 1, only its answers "
            "agreed. A fit that rests on such a cell can look feasible by accident."
            + (f" The first 20 are listed ({more} more in <code>--json</code>)." if more else "")
            + "</p>"
            + _wrap(
                "<table><tr><th>event</th><th>persona</th><th>informed neighbours</th>"
                "<th>p</th><th>answers</th></tr>" + rows + "</table>"
            )
        )
    for model, why in noise.untrusted.items():
        parts.append(
            f"<p class='warn'>{escape(model)}: {escape(why)}; its feasibility may rest on a "
            "degenerate sampled cell: do not trust this fit.</p>"
        )
    if noise.n_tables and noise.params:
        rows = "".join(
            f"<tr><td>{escape(model)}</td><td>{escape(name)}</td>"
            f"<td class='num'>{_se_text(v['se_engine'])}</td>"
            f"<td class='num'>{_se_text(v['se_llm'])}</td>"
            f"<td class='num'>{_se_text(v['se'])}</td>"
            f"<td class='num'>{_share_text(v['llm_share'])}</td>"
            + (f"<td class='num'>{_se_text(v.get('denoised'))}</td>" if noise.denoised else "")
            + "</tr>"
            for model, per in noise.params.items()
            for name, v in per.items()
        )
        parts.append(
            f"<p>The agent-level intervals above include the noise of the sampled answers: "
            f"{noise.n_tables} bootstrap tables of those answers, each re-simulated with the "
            "run's own graph, personas and seed and refitted; se = sqrt(se_engine² + "
            "se_llm²). Curve models keep the engine's SEs."
            + (
                " The intervals are around the <em>denoised</em> estimate: the fit of the run "
                "replayed with each bucket's sampled answers shrunk to their pooled share "
                "where the personas differ no more than sampling would make them (the "
                "estimates shown are the run's own maximum likelihood ones, which the "
                "answers' noise can bias: pooled rates come out low when the personas' "
                "sampled rates differ by chance)."
                if noise.denoised
                else ""
            )
            + "</p>"
            + _wrap(
                "<table><tr><th>model</th><th>parameter</th><th>se (engine)</th>"
                "<th>se (LLM answers)</th><th>se (total, shown)</th>"
                "<th>LLM answers' share of the variance</th>"
                + ("<th>denoised estimate</th>" if noise.denoised else "")
                + "</tr>"
                + rows
                + "</table>"
            )
        )
    elif noise.sample_cells:
        parts.append(
            "<p class='warn'>The intervals above are the engine's only: they leave out the "
            "noise of the sampled answers (<code>spillover report --llm-noise B</code> or "
            "<code>spillover fit --llm-noise B</code> adds it).</p>"
        )
    parts.extend(f"<p class='muted'>{escape(n)}</p>" for n in noise.notes)
    return "".join(parts)


def _forecast_section(analysis: Analysis, figures: Sequence[PageFigure]) -> str:
    forecast = analysis.forecast
    if forecast is None:
        return ""
    held = slice(forecast.fit_rounds + 1, forecast.last_round + 1)
    level = f"{forecast.level:.0%}"
    rows = []
    for f in forecast.models:
        width = float((f.high[held] - f.low[held]).mean())
        rows.append(
            f"<tr><td>{escape(f.model)}</td><td>{escape(forecast.data[f.model])}</td>"
            f"<td class='num'>{f.rmse:.4f}</td><td class='num'>{f.max_abs_error:.4f}</td>"
            f"<td class='num'>{f.coverage:.0%}</td><td class='num'>{width:.4f}</td>"
            f"<td>{escape(f.parameter_draws)}</td></tr>"
        )
    sd = float(forecast.observed_sd[held].mean())
    return (
        f"<h2>Forecast of rounds {forecast.fit_rounds + 1}-{forecast.last_round}</h2>"
        f"<p class='muted'>Every model was fitted on rounds 0-{forecast.fit_rounds} only "
        "(exposure rows and curve points of later rounds left out) and predicts the informed "
        "fraction of the later rounds from its map. Errors compare that prediction with the "
        f"observed mean of {forecast.n_reps} replicate(s) over the held-out rounds; the "
        f"{level} band (for the mean of as many replicates) combines parameter draws and "
        "chain-binomial replicate noise (docs/fitting.md). Spread between replicates over "
        f"the held-out rounds: standard deviation {sd:.4f} on average.</p>"
        + "".join(fig.html() for fig in figures)
        + _wrap(
            "<table><tr><th>model</th><th>fitted to</th><th>RMSE</th><th>max error</th>"
            f"<th>held-out points in the {level} band</th><th>mean band width</th>"
            "<th>parameter draws</th></tr>" + "".join(rows) + "</table>"
        )
    )


def _table(header: list[str], rows: list[list[str]], raw: frozenset[int] = frozenset()) -> str:
    """A table in its scrolling box (:func:`_wrap`); cells are escaped except the columns in
    ``raw`` (markup built here)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{c if j in raw else escape(str(c))}</td>" for j, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return _wrap(f"<table><tr>{head}</tr>{body}</table>")


def _report_link(run_dir: str, root: Path) -> str:
    """A link to ``run_dir``'s ``report.html`` relative to ``root`` (empty when the report is
    missing or lies outside ``root``)."""
    report = Path(run_dir) / "report.html"
    try:
        rel = report.relative_to(root)
    except ValueError:
        return ""
    return f"<a href='{escape(rel.as_posix(), quote=True)}'>report</a>" if report.is_file() else ""


def _kv_table(items: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in items)
    return _wrap(f"<table>{rows}</table>")


def render_report(
    *,
    title: str,
    summary: Sequence[tuple[str, Any]],
    event_post: str | None,
    analysis: Analysis,
    figures: Sequence[PageFigure],
    persona_figures: Sequence[PageFigure] = (),
    notes: Sequence[str] = (),
    forecast_figures: Sequence[PageFigure] = (),
    feed_posts: FeedPosts | None = None,
) -> str:
    """The whole report as one HTML string (``feed_posts``: a feed-mode run's posts)."""
    parts = _page_start(title, summary)
    if event_post:
        parts.append(f"<h2>The news item</h2><pre>{escape(event_post)}</pre>")
    parts.append(feed_posts_section(feed_posts))
    parts.append("<h2>Spread and model predictions</h2>")
    parts.extend(f.html() for f in figures)
    parts.append("<h2>Model comparison</h2>")
    parts.append(
        "<p class='muted'>Agent-level models are fitted to the exposure table (exact binomial "
        "likelihood); curve models to the informed counts. Criteria are comparable only "
        f"within a table; the best model is named by {escape(analysis.criterion.upper())} "
        "(for curve fits with a dispersion phi > 1, its quasi-likelihood form, as each table "
        "says). Held-out: log-likelihood of whole replicates left out of the fit.</p>"
    )
    noise = analysis.llm_noise
    totals = frozenset(noise.params) if noise is not None and noise.n_tables else frozenset()
    parts.extend(
        _group_table(g, analysis.criterion, analysis.robust, totals) for g in analysis.groups
    )
    parts.append(_verdict_section(analysis))
    parts.append(_llm_noise_section(analysis))
    parts.append(_forecast_section(analysis, forecast_figures))
    if analysis.equation is not None:
        eq = analysis.equation
        bass = eq.bass_hazards()
        extra = (
            f" In the Bass form: offline hazard a = {bass['a']:.4g}, online k·b = "
            f"{bass['kb']:.4g} per round."
            if bass is not None
            else ""
        )
        parts.append(
            "<h3>Equation discovery (SINDy on the mean curve)</h3>"
            f"<p><code>{escape(eq.text())}</code> (R² {eq.r2:.4f}).{escape(extra)} "
            "<span class='muted'>Sparse regression on a polynomial library; no likelihood, "
            "so it is not ranked with the models above.</span></p>"
        )
    if analysis.trait_effects is not None or persona_figures:
        parts.append("<h2>Personas and traits</h2>")
        parts.extend(f.html() for f in persona_figures)
        parts.append(_traits_table(analysis))
    if notes or analysis.notes:
        parts.append("<h2>Notes</h2><ul>")
        parts.extend(f"<li>{escape(n)}</li>" for n in (*notes, *analysis.notes))
        parts.append("</ul>")
    parts.append("<p class='muted'>Generated by spillover.</p></body></html>")
    return "\n".join(parts)


def render_table_page(
    *,
    title: str,
    summary: Sequence[tuple[str, Any]],
    figures: Sequence[PageFigure],
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
) -> str:
    """A page with a summary, figures and one table (the sweep report)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return "\n".join(
        [
            *_page_start(title, summary),
            "<h2>Fitted rates across the grid</h2>",
            *(f.html() for f in figures),
            "<h2>Fits per cell</h2>",
            _wrap(f"<table><tr>{head}</tr>{body}</table>"),
            "<p class='muted'>Generated by spillover.</p></body></html>",
        ]
    )
