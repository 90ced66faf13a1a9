"""A whole study with a parametric policy of known truth: pooled rates, effects, verdict,
mean-field error, resume, query, the CLI and the report (rendered in headless Chromium)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from spillover.cli import main
from spillover.report import build_study_report
from spillover.study import read_study, run_study
from spillover.sweeps import SerialExecutor, query_sweep

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

#: Two event types with different rates (Protests: twice the offline and online rate).
TRUTH = {"Battles": {"alpha": 0.002, "beta": 0.05}, "Protests": {"alpha": 0.004, "beta": 0.10}}
STUDY = """\
seed = 7
[events]
ids = ["VEL0001", "VEL0004"]
[design]
degrees = [4, 8]
n_nodes = 1000
n_reps = 3
n_rounds = 20
n_seeds = 5
[policy]
kind = "parametric"
alpha = 0.002
beta = 0.05
[policy.event_types.Protests]
alpha = 0.004
beta = 0.10
[analysis]
models = ["si", "si2", "si-groups2"]
folds = 2
[run]
executor = "serial"
"""


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("study")
    path = folder / "study.toml"
    path.write_text(STUDY, encoding="utf-8")
    summary = run_study(read_study(path), folder / "out", executor=SerialExecutor())
    assert summary.ok
    build_study_report(summary.path, cell_reports=True, n_folds=0)
    return path, summary.path, summary.document


def test_pooled_rates_recover_the_truth_within_their_intervals(
    study: tuple[Path, Path, dict[str, Any]],
) -> None:
    _, _, doc = study
    rows = doc["rates_by_event_type"]
    assert {(r["event_type"], r["param"]) for r in rows} == {
        (t, p) for t in TRUTH for p in ("alpha", "beta")
    }
    inside = []
    for r in rows:
        truth = TRUTH[r["event_type"]][r["param"]]
        assert r["truth"] == truth
        inside.append(r["ci_low"] <= truth <= r["ci_high"])
        # Four 95 % intervals all hold the truth only 81 % of the time; each must hold it at
        # 99 % (z = 2.576: all four 96 % of the time), and at least three at 95 %.
        assert abs(r["estimate"] - truth) <= 2.576 * r["stderr"], r
        assert r["ci_high"] - r["ci_low"] < truth  # informative, not a vacuous interval
    assert sum(inside) >= 3, rows


def test_the_verdict_names_two_rates_offline_and_online(
    study: tuple[Path, Path, dict[str, Any]],
) -> None:
    _, _, doc = study
    verdict = doc["verdict"]
    # Each event type's pool and every cell: the generating model, si2.
    assert verdict["best_by_event_type"] == {"Battles": "si2", "Protests": "si2"}
    assert verdict["best_overall"] == "si2"
    assert doc["best_counts"] == {"si2": 4}
    assert verdict["available"]
    assert verdict["overall"] == "offline-online"
    assert verdict["cells_supporting"] == {"offline-online": 4}


def test_event_type_effects_are_found_and_traits_have_none(
    study: tuple[Path, Path, dict[str, Any]],
) -> None:
    _, _, doc = study
    effects = doc["effects"]
    assert effects["reference"] == "Battles"
    assert effects["lr_test"]["df"] == 2 and effects["lr_test"]["p_value"] < 1e-6
    for row in effects["event_types"]:
        assert row["event_type"] == "Protests" and row["p_value"] < 1e-3
        assert row["ci_low"] <= row["truth"] <= row["ci_high"], row
    # The policy ignores personas: every trait's generating effect is 0; most intervals hold it.
    covered = [r["ci_low"] <= 0.0 <= r["ci_high"] for r in effects["traits"]]
    assert len(covered) == 10 and sum(covered) >= 8
    # Beside them: the base hazard, its goodness of fit, which standard errors are shown.
    fit = effects["fit"]
    assert fit["base"] == "si2" and fit["se_kind"] in ("model", "sandwich")
    assert fit["gof"]["df"] > 0 and isinstance(fit["fits"], bool)
    assert all(r["se_kind"] == fit["se_kind"] and "stderr_sandwich" in r for r in effects["traits"])


def test_mean_field_runs_ahead_on_sparse_graphs_and_pair_tracks(
    study: tuple[Path, Path, dict[str, Any]],
) -> None:
    _, _, doc = study
    by_degree = {r["degree"]: r for r in doc["mean_field"]["by_degree"]}
    assert sorted(by_degree) == [4, 8]
    for r in by_degree.values():
        assert r["n_cells"] == 2
        assert r["pair_max"] < r["mean_field_max"]
    assert by_degree[4]["mean_field_max"] > by_degree[8]["mean_field_max"]
    assert by_degree[4]["pair_max"] < 0.1


def test_pooled_fits_per_event_type_and_degree(study: tuple[Path, Path, dict[str, Any]]) -> None:
    _, _, doc = study
    pooled = doc["pooled"]
    assert sorted(pooled["by_event_type"]) == ["Battles", "Protests"]
    assert sorted(pooled["by_degree"]) == ["4", "8"]
    assert sorted(pooled["all"]["cells"]) == [0, 1, 2, 3]
    assert pooled["by_event_type"]["Protests"]["cells"] == [2, 3]
    for group in (*pooled["by_event_type"].values(), *pooled["by_degree"].values()):
        assert [m["name"] for m in group["models"]] == ["si", "si2", "si-groups2"]
    assert len(pooled["by_type_degree"]) == 4
    # A pool holds the replicates of all its cells: twice one cell's agent-rounds.
    one = doc["cells"][2]["models"][1]["n_obs"]
    assert pooled["by_event_type"]["Protests"]["models"][1]["n_obs"] > one


def test_results_are_queryable(study: tuple[Path, Path, dict[str, Any]]) -> None:
    _, out, _ = study
    rates = query_sweep(out, "SELECT * FROM rates ORDER BY event_type, param").to_pylist()
    assert [(r["event_type"], r["param"]) for r in rates][:2] == [
        ("Battles", "alpha"),
        ("Battles", "beta"),
    ]
    cells = query_sweep(
        out, "SELECT c.degree, count(*) AS n FROM study_cells c GROUP BY ALL ORDER BY 1"
    ).to_pylist()
    assert cells == [{"degree": 4, "n": 2}, {"degree": 8, "n": 2}]
    # The sweep's own views are there too, with the study's grid keys as columns.
    fits = query_sweep(out, "SELECT DISTINCT event_id FROM fits ORDER BY 1").to_pylist()
    assert [f["event_id"] for f in fits] == ["VEL0001", "VEL0004"]
    mf = query_sweep(out, "SELECT avg(pair_max) AS p FROM mean_field").to_pylist()
    assert mf[0]["p"] > 0


def test_a_rerun_resumes_and_gives_the_same_numbers(
    study: tuple[Path, Path, dict[str, Any]],
) -> None:
    path, out, doc = study
    again = run_study(read_study(path), out, executor=SerialExecutor())
    assert again.sweep.skipped == 4 and again.sweep.ran == 0
    assert again.document["rates_by_event_type"] == doc["rates_by_event_type"]
    assert again.document["effects"] == doc["effects"]
    saved = json.loads((out / "study.json").read_text())
    assert saved["rates_by_event_type"] == json.loads(json.dumps(doc["rates_by_event_type"]))
    build_study_report(out, cell_reports=True, n_folds=0)


def test_the_report_is_self_contained_and_links_each_cell(
    study: tuple[Path, Path, dict[str, Any]],
) -> None:
    _, out, _ = study
    html = (out / "study.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", html)
    assert "<script" not in html.lower()
    assert len(re.findall(r"<img [^>]*src=\"data:image/png;base64,", html)) >= 5
    for section in ("Design", "Verdict", "Rates by event type", "Event-type effects", "Trait"):
        assert section in html
    links = re.findall(r"href='(cells/cell-\d{5}/report\.html)'", html)
    assert len(links) == 4 and all((out / link).is_file() for link in links)


def test_every_table_of_the_study_page_sits_in_its_scrolling_box(
    study: tuple[Path, Path, dict[str, Any]],
) -> None:
    html = (study[1] / "study.html").read_text(encoding="utf-8")
    assert html.count("<table>") >= 3
    assert html.count("<div class='table-wrap'><table>") == html.count("<table>")


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is installed by .ci/run (apt); in CI a missing browser fails the test",
)
def test_the_report_renders_in_headless_chromium(
    study: tuple[Path, Path, dict[str, Any]], wider_than_page: str
) -> None:
    from playwright.sync_api import sync_playwright

    _, out, _ = study
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM or "chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 4000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto((out / "study.html").as_uri(), wait_until="load")
            n_images = page.evaluate("document.images.length")
            loaded = page.evaluate(
                "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
            )
            assert page.title() == "spillover study"
            # At 1,280 pixels every element fits the page; narrower, a table scrolls inside
            # its own box and the page itself never does.
            assert page.evaluate(wider_than_page, False) == []
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            page.set_viewport_size({"width": 640, "height": 2000})
            assert page.evaluate(wider_than_page, True) == []
            assert page.evaluate("document.documentElement.scrollWidth") <= 640
        finally:
            browser.close()
    assert errors == []
    assert n_images >= 5 and loaded


def test_cli_dry_run_and_errors(
    study: tuple[Path, Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, _ = study
    assert _run(["study", str(path), "--out", str(tmp_path / "never"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "4 cells x 3 replicates = 12 runs" in text and "VEL0004" in text
    assert "LLM requests: none" in text
    assert not (tmp_path / "never").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text(STUDY.replace("degrees = [4, 8]", "degrees = []"), encoding="utf-8")
    assert _run(["study", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "design.degrees" in err and "Traceback" not in err


def test_dry_run_of_an_embedded_model_study_names_the_model_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from spillover.llm import LocalServer

    def never(self: LocalServer) -> LocalServer:
        raise AssertionError("a dry run started the embedded server")

    monkeypatch.setattr(LocalServer, "start", never)
    text = STUDY.split("[policy]")[0] + '[policy]\nkind = "embedded"\nbuckets = "0,1,2,4"\n'
    path = tmp_path / "embedded.toml"
    path.write_text(text + '[analysis]\nmodels = ["si2"]\n', encoding="utf-8")
    assert _run(["study", str(path), "--out", str(tmp_path / "never"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    # 2 events x 32 personas x 4 buckets, shared by the two degrees' cells.
    assert "model smollm2-135m-instruct at the embedded server (SmolLM2" in out
    assert "distinct requests: 256" in out and "to send: 256" in out
    assert not (tmp_path / "never").exists()
