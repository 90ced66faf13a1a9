"""The HTML report: contents, escaping, atomic writing, and rendering in a real browser."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from spillover.config import SimulationConfig
from spillover.io import write_run_dir
from spillover.pipeline import run_simulation
from spillover.report._build import build_run_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = SimulationConfig(n_nodes=1600, degree=8, n_rounds=40, n_reps=4, n_seeds=4, seed=3)
    run = write_run_dir(run_simulation(cfg), tmp_path_factory.mktemp("report") / "run")
    return build_run_report(run, n_folds=2)


def test_report_is_self_contained(report: Path) -> None:
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>")
    # no external resources: no http(s) URLs in src/href, no scripts
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", html)
    assert "<script" not in html.lower()
    assert "Posts (feed mode)" not in html  # only feed-mode runs show posts
    images = re.findall(r"<img [^>]*src=\"data:image/png;base64,", html)
    assert len(images) >= 4
    for name in ("si2", "si-persona", "pair", "Trait", "Akaike"):
        assert name in html
    pngs = sorted(p.name for p in (report.parent / "figures").glob("*.png"))
    assert pngs == ["curves_fit.png", "persona_rates.png", "spread.png", "trait_effects.png"]


def test_strings_from_data_are_escaped(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    from spillover.io import example_events_path

    text = example_events_path().read_text(encoding="utf-8")
    header, first, *_ = text.splitlines()
    events.write_text(
        header + "\n" + first.replace("[Fictional example]", "<script>alert(1)</script>") + "\n"
    )
    cfg = SimulationConfig(
        n_nodes=400, degree=4, n_rounds=10, n_reps=2, n_seeds=2, seed=1, events=str(events)
    )
    run = write_run_dir(run_simulation(cfg), tmp_path / "run")
    html = build_run_report(run, n_folds=0).read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_model_messages_sit_under_the_table(report: Path) -> None:
    html = report.read_text()
    statuses = re.findall(r"<td class='status'>(.*?)</td>", html)
    assert statuses and all(len(re.sub("<[^>]+>", "", s)) <= 20 for s in statuses), statuses
    notes = re.findall(r"<ul class='model-notes'>(.*?)</ul>", html)
    assert notes, "the fixture's run has a model with a message (si is infeasible)"
    assert html.count("<div class='table-wrap'><table>") == html.count("<table>")


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is installed by .ci/run (apt); in CI a missing browser fails the test",
)
def test_report_renders_in_headless_chromium(report: Path, wider_than_page: str) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM or "chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 4000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto(report.as_uri(), wait_until="load")
            n_images = page.evaluate("document.images.length")
            loaded = page.evaluate(
                "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
            )
            assert page.title().startswith("spillover report")
            # At 1,280 pixels every element, tables included, fits the page.
            assert page.evaluate(wider_than_page, False) == []
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            # Narrower, a table scrolls inside its own box; the page itself never does.
            page.set_viewport_size({"width": 640, "height": 2000})
            assert page.evaluate(wider_than_page, True) == []
            assert page.evaluate("document.documentElement.scrollWidth") <= 640
        finally:
            browser.close()
    assert errors == []
    assert n_images >= 4 and loaded


def test_report_leaves_a_foreign_figures_folder_alone(report: Path, tmp_path: Path) -> None:
    from spillover.exceptions import RunDirError

    run = report.parent
    figures = run / "figures"
    # A report rewrites its own figures folder...
    build_run_report(run, n_folds=0)
    # ...but not one that spillover did not write.
    (figures / ".spillover-owned").unlink()
    (figures / "mine.pdf").write_text("user's file")
    with pytest.raises(RunDirError, match="not a spillover figures folder"):
        build_run_report(run, n_folds=0)
    assert (figures / "mine.pdf").read_text() == "user's file"


def test_the_forecast_figure_draws_the_best_models_of_each_group() -> None:
    from spillover.report import forecast_models_to_draw
    from spillover.selection import analyse

    cfg = SimulationConfig(n_nodes=800, degree=6, n_rounds=20, n_reps=2, n_seeds=3, seed=5)
    result = run_simulation(cfg).result
    analysis = analyse(
        exposures=result.exposures,
        curves=result.curves,
        degree=6,
        models=["si2", "si-dose2", "si-dose", "pair"],
        n_folds=0,
        fit_rounds=8,
    )
    agent = [row.model for row in analysis.groups[0].comparison]
    # The agent-level best, the curve-level best (pair), then the agent-level second best.
    assert forecast_models_to_draw(analysis, 3) == [agent[0], "pair", agent[1]]
    assert forecast_models_to_draw(analyse(curves=result.curves, degree=6, models=["pair"])) == []
