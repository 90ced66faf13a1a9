"""Loop studies: a study file with a [loop] section runs its (event, degree[, swept key])
cells as chained coupled runs, analyses the coupling rates and the offline outbreak size, and
reports them; its dry run counts cells and requests as an SI study's does; bad files are one
clear error that never echoes a value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spillover.cli import main
from spillover.exceptions import ConfigError
from spillover.report import build_study_report
from spillover.study import plan_study, read_study, run_study
from spillover.sweeps import SerialExecutor, load_sweep, query_sweep

LOOP_STUDY = """\
seed = 11
[events]
per_type = 1
types = ["Battles", "Protests"]
[design]
degrees = [4, 6]
n_nodes = 300
n_reps = 2
n_rounds = 25
n_seeds = 5
[policy]
kind = "parametric"
alpha = 0.0
beta = 0.12
[policy.event_types.Protests]
beta = 0.18
[loop]
gamma = 0.1
eta = [0.05, 0.15]
delta = 0.2
generations = 1
max_cascades = 4
[run]
executor = "serial"
"""


def _write(folder: Path, text: str, name: str = "loop-study.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_a_loop_study_is_a_loop_sweep_over_events_degrees_and_swept_keys(tmp_path: Path) -> None:
    spec = read_study(_write(tmp_path, LOOP_STUDY))
    assert spec.is_loop and spec.n_cells == 8
    assert spec.models == ("loop-mf", "loop-pair")
    sweep = spec.sweep_spec()
    assert sweep.is_loop and sweep.keys == ("event_id", "degree", "eta")
    for cell in range(spec.n_cells):
        params = sweep.cell_params(cell)
        assert params["event_id"] == spec.cell_event(cell).event_id
        assert params["degree"] == spec.cell_degree(cell)
        assert params["eta"] == spec.cell_loop_params(cell)["eta"]
        values = sweep.cell_values(cell, seed=0)
        # Design sizes and the policy's rates by event type reach every cell.
        assert (values["n_nodes"], values["n_reps"], values["n_rounds"]) == (300, 2, 25)
        assert values["beta"] == (0.18 if spec.cell_event(cell).event_type == "Protests" else 0.12)
        assert (values["gamma"], values["delta"], values["generations"]) == (0.1, 0.2, 1)
    assert [spec.cell_loop_params(c)["eta"] for c in range(4)] == [0.05, 0.15, 0.05, 0.15]
    assert spec.design()["kind"] == "loop"
    assert spec.design()["loop_grid"] == [["eta", [0.05, 0.15]]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("gamma = 0.1", "n_nodes = 500"), "loop.n_nodes: a study gives this in [design] n_nodes"),
        (("gamma = 0.1", "degree = 4"), "[design] degrees"),
        (("gamma = 0.1", "beta = 0.3"), "loop.beta: a study gives this in [policy]"),
        (("gamma = 0.1", "seed = 4"), "the top level"),
        (("gamma = 0.1", "gama = 0.1"), "loop.gama: unknown setting; did you mean 'gamma'?"),
        (("gamma = 0.1", "gamma = 'sk-123'"), "loop.gamma must be a number; got str"),
        (("eta = [0.05, 0.15]", "eta = []"), "loop.eta: a list sweeps the key"),
        (("eta = [0.05, 0.15]", "eta = [0.05, 0.05]"), "swept values must be distinct"),
        (("eta = [0.05, 0.15]", "eta = [0.05, 1.5]"), "cell 1 (event_id, degree, eta)"),
        (("generations = 1", 'emission = "sk-123"'), "emission"),
        (('kind = "parametric"', 'kind = "persona"'), "takes parametric rates"),
        (
            ("degrees = [4, 6]\nn_nodes = 300", "degrees = [3, 6]\nn_nodes = 301"),
            "no random 3-regular graph on 301 agents",
        ),
        (("[run]", '[analysis]\ncriterion = "aic"\n[run]'), "analysis.criterion does not apply"),
        (("[run]", '[analysis]\nmodels = ["si2"]\n[run]'), "'si2' is a spread model of SI runs"),
        (("[run]", '[analysis]\nmodels = ["loop-x"]\n[run]'), "unknown coupled model 'loop-x'"),
        (("[loop]\n", "[loop]\nsecret = 'sk-123'\n"), "loop.secret: unknown setting"),
    ],
)
def test_bad_loop_study_files_are_one_clear_error(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in LOOP_STUDY
    text = LOOP_STUDY.replace(old, new, 1)
    if change[0] == 'kind = "parametric"':
        text = text.replace("alpha = 0.0\nbeta = 0.12\n", "").replace(
            "[policy.event_types.Protests]\nbeta = 0.18\n", ""
        )
    with pytest.raises(ConfigError) as info:
        read_study(_write(tmp_path, text))
    assert message in str(info.value)
    assert "sk-123" not in str(info.value)


def test_a_bad_loop_study_is_one_error_line_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, LOOP_STUDY.replace("gamma = 0.1", "n_reps = 3"))
    assert _run(["study", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "loop.n_reps" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_the_dry_run_counts_cells_and_requests_as_for_si_studies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, LOOP_STUDY)
    plan = plan_study(read_study(path), tmp_path / "never")
    assert plan["n_cells"] == 8 and plan["n_runs"] == 16 and plan["llm"] is None
    assert plan["cells"][1] == {
        "cell": 1,
        "event_id": "VEL0001",
        "event_type": "Battles",
        "degree": 4,
        "params": {"eta": 0.15},
    }
    assert _run(["study", str(path), "--out", str(tmp_path / "never"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "8 cells x 2 replicates = 16 runs" in out
    assert "LLM requests: none" in out and "nothing was run." in out
    assert "coupled loop runs" in out and "eta" in out
    assert not (tmp_path / "never").exists()


@pytest.fixture(scope="module")
def loop_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any], str]:
    folder = tmp_path_factory.mktemp("loop-study")
    path = _write(folder, LOOP_STUDY)
    out = folder / "out"
    import contextlib
    import io

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = _run(["study", str(path), "--out", str(out), "--quiet"])
    assert code == 0
    doc = json.loads((out / "study.json").read_text(encoding="utf-8"))
    return path, out, doc, stdout.getvalue()


def test_a_loop_study_runs_end_to_end_from_the_command_line(
    loop_study: tuple[Path, Path, dict[str, Any], str],
) -> None:
    _, out, doc, printed = loop_study
    assert doc["study_kind"] == "loop" and doc["status"] == "complete"
    assert doc["n_cells"] == doc["n_complete"] == 8
    assert "cells whose 95% interval covers the truth" in printed
    assert "coupling_fits" in printed
    sweep = load_sweep(out)
    assert sweep.is_loop and sweep.keys == ("event_id", "degree", "eta")
    for c in doc["cells"]:
        assert (Path(c["run_dir"]) / "offline.parquet").is_file()
        assert c["rates"]["eta"] == c["params"]["eta"]
        assert c["coupling"]["eta"]["truth"] == c["params"]["eta"]
        assert c["outbreak"]["n_loops"] == 2
        for model in ("loop-mf", "loop-pair"):
            assert 0.0 <= c["predicted"][model]["offline_size"] <= 1.0
            assert 0.0 <= c["predicted"][model]["critical_eta"] <= 1.0
    # The pools: one per (event type, eta), each over the two degrees' cells.
    pools = {(p["event_type"], p["params"]["eta"]): p for p in doc["pooled"]}
    assert len(pools) == 4 and all(p["degrees"] == [4, 6] for p in pools.values())
    assert pools[("Protests", 0.15)]["rates"]["beta"]["truth"] == 0.18
    # Pooled estimates are near the truth: 8 pools' eta, gamma, delta, beta intervals.
    covered = [r["covered"] for p in doc["pooled"] for r in p["rates"].values()]
    assert sum(covered) >= 0.8 * len(covered)
    # The pair closure follows the engine more closely than the mean field on k = 4.
    sparse = [c for c in doc["cells"] if c["degree"] == 4]
    pair = sum(abs(c["predicted"]["loop-pair"]["error"]) for c in sparse)
    mf = sum(abs(c["predicted"]["loop-mf"]["error"]) for c in sparse)
    assert pair < mf


def test_loop_study_results_are_queryable(
    loop_study: tuple[Path, Path, dict[str, Any], str],
) -> None:
    _, out, _, _ = loop_study
    cells = query_sweep(out, "SELECT cell, degree, eta, loop_pair_offline_size FROM study_cells")
    assert cells.num_rows == 8
    rates = query_sweep(
        out, "SELECT key, truth FROM coupling_fits WHERE \"group\" = 'pool' AND rate = 'eta'"
    ).to_pylist()
    assert sorted(r["truth"] for r in rates) == [0.05, 0.05, 0.15, 0.15]
    # The sweep's own views of a loop sweep are there too.
    sizes = query_sweep(out, "SELECT count(*) AS n FROM outbreaks").to_pylist()
    assert sizes == [{"n": 16}]


def test_the_loop_study_report_shows_outbreaks_rates_and_links_each_cell(
    loop_study: tuple[Path, Path, dict[str, Any], str],
) -> None:
    _, out, doc, _ = loop_study
    html = (out / "study.html").read_text(encoding="utf-8")
    assert "spillover loop study" in html and "Offline outbreak size" in html
    assert html.count("data:image/png;base64,") == 2
    assert (out / "study-figures" / "outbreak_sizes.png").is_file()
    for c in doc["cells"]:
        rel = Path(c["run_dir"]).relative_to(out) / "report.html"
        assert (out / rel).is_file()
        assert f"href='{rel.as_posix()}'" in html
    assert "<script" not in html


def test_a_loop_study_resumes_and_reproduces_its_cells(
    loop_study: tuple[Path, Path, dict[str, Any], str], tmp_path: Path
) -> None:
    path, out, doc, _ = loop_study
    summary = run_study(read_study(path), out, executor=SerialExecutor())
    assert summary.sweep.ran == 0
    assert summary.document["cells"] == doc["cells"]
    again = run_study(read_study(path), tmp_path / "again", executor=SerialExecutor())
    for c, d in zip(doc["cells"], again.document["cells"], strict=True):
        for name in ("offline.parquet", "loop_events.parquet", "cascades.parquet"):
            assert (Path(c["run_dir"]) / name).read_bytes() == (
                Path(d["run_dir"]) / name
            ).read_bytes()


def test_a_loop_study_without_a_swept_key_draws_against_the_degree(tmp_path: Path) -> None:
    text = LOOP_STUDY.replace("eta = [0.05, 0.15]", "eta = 0.1").replace(
        'types = ["Battles", "Protests"]', 'types = ["Battles"]'
    )
    spec = read_study(_write(tmp_path, text))
    assert spec.n_cells == 2 and spec.loop_grid == ()
    summary = run_study(spec, tmp_path / "out", executor=SerialExecutor())
    assert summary.ok and [p["degrees"] for p in summary.document["pooled"]] == [[4, 6]]
    page = build_study_report(summary.path, cell_reports=False)
    html = page.read_text(encoding="utf-8")
    assert "against degree" in html and "<a href=" not in html
    # The folder is a loop sweep too: its sweep report draws the numeric swept key (degree),
    # not the event ids.
    assert _run(["report", str(summary.path), "--out", str(tmp_path / "sweep.html")]) == 0
    assert "against degree" in (tmp_path / "sweep.html").read_text(encoding="utf-8")


def test_a_finished_loop_study_is_analysed_whatever_memory_is_free_then(
    loop_study: tuple[Path, Path, dict[str, Any], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import spillover._resources as resources
    from spillover.study._loop import analyse_loop_study

    path, out, doc, _ = loop_study
    spec = read_study(path)
    # 1 MiB free after the cells ran: a new run would be refused, the analysis is not.
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 1 << 20)
    with pytest.raises(ConfigError, match="of memory, more than the"):
        spec.sweep_spec()
    with pytest.raises(ConfigError, match="of memory, more than the"):
        read_study(path)
    analysed = analyse_loop_study(spec, out, created_utc=doc["created_utc"])
    assert analysed["cells"] == doc["cells"]
