"""LLM answer noise: where each table cell came from, degenerate cells, bootstrap intervals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spillover.events import Event
from spillover.llm import FakeBackend, LLMRequest
from spillover.policies import (
    ANSWER_FROM_LOGPROBS,
    ANSWER_FROM_UNKNOWN,
    ExposureBatch,
    LLMPolicy,
    TabulatedPolicy,
)


def offline_means_no(request: LLMRequest) -> float:
    """A fake model: never shares news met offline, shares with probability 0.4 otherwise."""
    return 0.0 if "outside the platform" in request.messages[-1][1] else 0.4


def test_cell_provenance_round_trips_through_llm_table_json(tmp_path: Path, event: Event) -> None:
    class Mixed(FakeBackend):
        # Log-probabilities for the feed prompts only: the offline cells are sampled.
        def answer(self, request: LLMRequest) -> object:  # type: ignore[override]
            r = super().answer(request)
            if "outside the platform" in request.messages[-1][1]:
                return r.__class__(**{**r.__dict__, "probability": None})
            return r

    policy = LLMPolicy(Mixed(offline_means_no), model="m", samples=7, offline_reach=0.2)
    policy.share_probability(ExposureBatch(np.array([1, 2]), np.array([0, 2])), event)
    table = policy.table(event)
    n = table.samples_of(event.event_id)
    assert n[1, 0] == 7  # sampled: 7 answers, all "no"
    assert table.probabilities[event.event_id][1, 0] == 0.0
    assert n[2, 2] == ANSWER_FROM_LOGPROBS
    assert n[2, 0] == 7 and n[0, 0] == ANSWER_FROM_UNKNOWN  # persona 0 not asked
    path = table.save(tmp_path / "llm_table.json")
    doc = json.loads(path.read_text())
    cells = doc["answers_from"][event.event_id]
    assert cells["source"][1][0] == "samples" and cells["n"][1][0] == 7
    assert cells["source"][2][2] == "logprobs" and cells["n"][2][2] is None
    assert cells["source"][0][0] is None and cells["n"][0][0] is None
    again = TabulatedPolicy.load(path)
    np.testing.assert_array_equal(again.samples_of(event.event_id), n)
    assert again.with_reach(0.5).samples_of(event.event_id)[1, 0] == 7


def test_tables_without_provenance_read_as_unknown(tmp_path: Path, event: Event) -> None:
    policy = LLMPolicy(FakeBackend(offline_means_no), model="m")
    policy.share_probability(ExposureBatch(np.array([0]), np.array([1])), event)
    doc = policy.table(event).to_document()
    del doc["answers_from"]  # a table written before the field existed
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    old = TabulatedPolicy.load(path)
    assert old.answer_samples is None
    assert (old.samples_of(event.event_id) == ANSWER_FROM_UNKNOWN).all()
    doc["answers_from"] = {event.event_id: {"source": [["guess"] * 6] * 32, "n": [[1] * 6] * 32}}
    path.write_text(json.dumps(doc))
    with pytest.raises(Exception, match="source must be 'logprobs', 'samples' or null"):
        TabulatedPolicy.load(path)


SMALL = ["--n-nodes", "400", "--degree", "6", "--rounds", "10", "--replicates", "2"]
SMALL += ["--seeds", "3", "--seed", "11", "--quiet"]


def cli(argv: list[str]) -> int:
    from spillover.cli import main

    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def llm_run(standin: Any, out: Path, *probability: str) -> Path:
    server = standin()
    argv = ["simulate", *SMALL, "--llm-base-url", server.url, "--llm-model", "standin-1"]
    assert cli([*argv, *probability, "--out", str(out)]) == 0
    return out


def fit_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    capsys.readouterr()
    assert cli(["fit", *argv, "--json", "--folds", "0"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def test_degenerate_sampled_cells_are_flagged_and_bootstrapped(
    standin: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stand-in's offline answers are about 1 % yes: 10 samples give mostly 0/10 cells.
    run_dir = llm_run(standin, tmp_path / "run", "--llm-probability", "samples")
    table = TabulatedPolicy.load(run_dir / "llm_table.json")
    (event_id,) = table.probabilities
    # Replayed with its own table and seed, the run is reproduced: the bootstrap's baseline.
    import pyarrow.parquet as pq

    from spillover.pipeline import replay_exposures

    (again,) = replay_exposures(run_dir, [table])
    np.testing.assert_array_equal(
        again.shared, pq.read_table(run_dir / "exposures.parquet").column("shared").to_numpy()
    )
    off = fit_json(capsys, str(run_dir), "--model", "si2", "--llm-noise", "0")
    noise = off["llm_noise"]
    assert noise["sample_cells"] == int((~np.isnan(table.probabilities[event_id])).sum())
    assert noise["logprob_cells"] == 0 and noise["bootstrap_tables"] == 0
    degenerate = noise["degenerate_cells"]
    zero = [c for c in degenerate if c["bucket"] == 0 and c["p"] == 0.0]
    assert zero and all(c["n"] == 10 for c in degenerate)
    assert all(
        table.probabilities[event_id][c["persona"], c["bucket"]] in (0, 1) for c in degenerate
    )
    (si2,) = off["models"]
    assert "se_llm" not in si2
    if si2["params"]["alpha"] == 0.0:
        assert "si2" in noise["untrusted"] and "alpha = 0" in noise["untrusted"]["si2"]

    on = fit_json(capsys, str(run_dir), "--model", "si2", "--llm-noise", "6")
    (si2,) = on["models"]
    assert on["llm_noise"]["bootstrap_tables"] == 6
    for name in ("alpha", "beta"):
        # The offline cells (a few "yes" in 320 answers) are redrawn from their pooled share, not
        # per cell: at the stand-in's tiny offline reach the replays may meet no offline
        # share at all, so alpha's spread can be 0; beta's is not.
        assert si2["se_llm"][name] >= 0 and si2["se_llm"]["beta"] > 0
        total = np.hypot(si2["se_engine"][name], si2["se_llm"][name])
        assert si2["se"][name] == pytest.approx(total)
    assert 0 < si2["llm_share"]["beta"] < 1
    assert si2["stderr"]["beta"] == pytest.approx(si2["se"]["beta"])
    # The intervals are around the fit of the run replayed with the shrunk table.
    from spillover.fit import get_model
    from spillover.selection import redraw_centre

    assert on["llm_noise"]["redraw"] == "shrunk"
    assert on["llm_noise"]["estimate_shown"].endswith("around the denoised estimate")
    (replayed,) = replay_exposures(run_dir, [redraw_centre(table)])
    spec = get_model("si2")
    centre = spec.make_estimator().fit(spec.agent_data(replayed, None)).result_
    for name in ("alpha", "beta"):
        assert si2["denoised"][name] == pytest.approx(centre.params[name])
        assert si2["ci_low"][name] <= si2["denoised"][name] <= si2["ci_high"][name]
    assert si2["ci_high"]["beta"] - si2["ci_low"]["beta"] > (
        off["models"][0]["ci_high"]["beta"] - off["models"][0]["ci_low"]["beta"]
    )
    # alpha's effective number of answers is at most what the offline answers allow.
    from spillover.selection import offline_answers

    offline = offline_answers(table, None)
    n_offline = int((~np.isnan(table.probabilities[event_id][:, 0])).sum()) * 10
    assert offline is not None and offline.n == n_offline
    n_alpha = on["llm_noise"]["params"]["si2"]["alpha"]["effective_answers"]
    cap = offline.cap(np.array([si2["denoised"]["alpha"]]))[0]
    assert n_alpha is not None and 0 < n_alpha <= cap * (1 + 1e-9)
    capsys.readouterr()
    assert cli(["fit", str(run_dir), "--model", "si2", "--llm-noise", "3", "--folds", "0"]) == 0
    text = capsys.readouterr().out
    assert "sampled cell(s) estimated at exactly 0 or 1" in text
    assert "are totals, sqrt(se_engine² + se_llm²)" in text
    assert "The intervals are around the denoised estimate" in text


def test_llm_noise_is_a_no_op_for_a_log_probability_table(
    standin: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = llm_run(standin, tmp_path / "run")
    base = fit_json(capsys, str(run_dir), "--model", "si2", "--llm-noise", "0")
    doc = fit_json(capsys, str(run_dir), "--model", "si2", "--llm-noise", "5")
    noise = doc["llm_noise"]
    assert noise["sample_cells"] == 0 and noise["logprob_cells"] > 0
    assert noise["degenerate_cells"] == [] and noise["bootstrap_tables"] == 0
    assert any("no cell of the table came from sampled answers" in n for n in noise["notes"])
    assert doc["models"][0]["stderr"] == base["models"][0]["stderr"]
    assert "se_llm" not in doc["models"][0]


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_bad_llm_noise_is_one_error_line(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli(["fit", str(tmp_path), "--llm-noise", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "--llm-noise" in err[0]


def test_llm_noise_refits_the_fitted_rounds_only(
    standin: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import spillover.selection as selection

    run_dir = llm_run(standin, tmp_path / "run", "--llm-probability", "samples")
    windows: list[int] = []
    real = selection.fit_window

    def spy(exposures: Any, curves: Any, fit_rounds: int) -> Any:
        out = real(exposures, curves, fit_rounds)
        if out[0] is not None:
            windows.append(int(out[0].round.max()))
        return out

    monkeypatch.setattr(selection, "fit_window", spy)
    doc = fit_json(capsys, str(run_dir), "--model", "si2", "--llm-noise", "3", "--fit-rounds", "3")
    (si2,) = doc["models"]
    assert doc["llm_noise"]["bootstrap_tables"] == 3 and si2["se_llm"]["beta"] > 0
    # The analysis and each of the 3 replays were cut at round 3.
    assert len(windows) >= 3 and max(windows) <= 3


def test_report_shows_the_answers_sources_flags_and_variance_shares(
    standin: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = llm_run(standin, tmp_path / "run", "--llm-probability", "samples")
    table = TabulatedPolicy.load(run_dir / "llm_table.json")
    (values,) = table.probabilities.values()
    n_sampled = int((~np.isnan(values)).sum())
    n_degenerate = int(((values == 0.0) | (values == 1.0)).sum())
    assert n_degenerate > 0

    assert cli(["report", str(run_dir), "--folds", "0", "--llm-noise", "0"]) == 0
    page = (run_dir / "report.html").read_text()
    assert "<h2>The LLM's answers</h2>" in page
    sources = f"0 cell(s) from log-probabilities (no sampling noise), {n_sampled} from sampled"
    assert sources in page
    assert f"{n_degenerate} sampled cell(s) are estimated at exactly 0 or 1" in page
    assert "The intervals above are the engine's only" in page
    assert "se (LLM answers)" not in page

    capsys.readouterr()
    assert cli(["report", str(run_dir), "--folds", "0", "--llm-noise", "3"]) == 0
    assert "refitted 3 of 3 bootstrap tables" in capsys.readouterr().err
    page = (run_dir / "report.html").read_text()
    assert "3 bootstrap tables of those answers" in page
    assert "<th>se (LLM answers)</th>" in page and "<th>denoised estimate</th>" in page
    # One row per bootstrapped parameter of every agent-level model, si2's among them.
    assert "<tr><td>si2</td><td>alpha</td>" in page and "<tr><td>si2</td><td>beta</td>" in page


def test_report_of_a_log_probability_run_says_so_and_bad_llm_noise_is_refused(
    standin: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = llm_run(standin, tmp_path / "run")
    assert cli(["report", str(run_dir), "--folds", "0"]) == 0
    page = (run_dir / "report.html").read_text()
    assert "0 from sampled answers" in page and "exactly 0 or 1" not in page
    assert "no cell of the table came from sampled answers" in page
    capsys.readouterr()
    assert cli(["report", str(run_dir), "--llm-noise", "-2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "--llm-noise" in err[0]


def sampled_table(k: np.ndarray, n: int = 10) -> TabulatedPolicy:
    """A table of k "yes" out of n sampled answers per cell (32 personas x 3 buckets)."""
    return TabulatedPolicy(
        {"*": k / n}, range(3), {}, None, answer_samples={"*": np.full(k.shape, n)}
    )


def test_shrunk_redraw_pools_a_bucket_whose_personas_differ_only_by_sampling() -> None:
    from spillover.selection import bootstrap_tables, redraw_probabilities

    k = np.zeros((32, 3))
    k[:4, 0] = 1  # 4 of 32 offline cells answered "yes" once: as one rate sampled 320 times
    k[:, 1] = 3  # every persona the same
    k[:16, 2], k[16:, 2] = 0, 10  # two kinds of personas: far beyond sampling noise
    table = sampled_table(k)
    shrunk = redraw_probabilities(table)["*"]
    # A bucket with no spread beyond the binomial one: every cell gets the pooled share
    # (Jeffreys-smoothed over the bucket's 320 answers), 0/10 cells included.
    np.testing.assert_allclose(shrunk[:, 0], (4 + 0.5) / (320 + 1))
    np.testing.assert_allclose(shrunk[:, 1], (96 + 0.5) / (320 + 1))
    # Real differences between personas are kept (almost: shrunk a little to the mean).
    assert shrunk[:16, 2].max() < 0.05 and shrunk[16:, 2].min() > 0.95
    jeffreys = redraw_probabilities(table, "jeffreys")["*"]
    np.testing.assert_allclose(jeffreys, (k + 0.5) / 11)
    # The bootstrap draws from those probabilities: 400 tables of the offline bucket.
    draws = np.array(
        [t.probabilities["*"][:, 0] for t in bootstrap_tables(table, 400, np.random.default_rng(1))]
    )
    assert abs(draws.mean() - shrunk[0, 0]) < 0.004  # Jeffreys per cell would give 0.059
    with pytest.raises(ValueError, match="redraw must be one of"):
        redraw_probabilities(table, "uniform")


def test_shrinkage_keeps_only_persona_differences_beyond_sampling() -> None:
    from spillover.selection import redraw_probabilities

    k = np.zeros((32, 3))
    # 2/10, 1/10, 1/10 and 29 x 0/10: the moment estimate of the personas' spread is positive,
    # but one rate sampled 320 times gives such columns often: pooled.
    k[:3, 0] = (2, 1, 1)
    k[:2, 1] = (5, 5)  # two personas at 5/10 among 0/10s: not one rate; kept apart
    shrunk = redraw_probabilities(sampled_table(k))["*"]
    np.testing.assert_allclose(shrunk[:, 0], 4.5 / 321)
    assert shrunk[:2, 1].min() > 0.2 and shrunk[2:, 1].max() < 0.02


def test_denoised_interval_is_around_the_denoised_fit_as_an_effective_count() -> None:
    from scipy.stats import beta
    from scipy.stats import t as student

    from spillover.fit import FitResult
    from spillover.selection import llm_noise_of, with_llm_noise

    def fit(alpha: float) -> FitResult:
        return FitResult(
            "si", {"alpha": alpha}, {"alpha": 0.001}, -1.0, 1, 10, "converged",
            ci_low={"alpha": alpha - 0.002}, ci_high={"alpha": alpha + 0.002},
        )  # fmt: skip

    mle, centre = fit(0.013), fit(0.02)
    values = (0.012, 0.016, 0.02, 0.024, 0.028)
    refits = [fit(a) for a in values]
    noise = llm_noise_of(sampled_table(np.ones((32, 3))))
    (plain,), _ = with_llm_noise([mle], {"si": refits}, noise, 5)
    (out,), got = with_llm_noise([mle], {"si": refits}, noise, 5, {"si": centre})
    assert got.denoised and not _.denoised
    assert got.params["si"]["alpha"]["denoised"] == 0.02
    assert "denoised" not in _.params["si"]["alpha"]
    assert "effective_answers" not in _.params["si"]["alpha"]
    assert got.to_dict()["estimate_shown"].endswith("around the denoised estimate")
    assert got.model_fields("si")["denoised"] == {"alpha": 0.02}
    assert out.stderr == plain.stderr and out.params == mle.params
    assert plain.ci_low["alpha"] < 0.013 < plain.ci_high["alpha"]
    # The refits spread as a binomial share of n answers at their mean level; with Student's
    # correction on 5 - 1 degrees of freedom, n* of them carry the interval: its Jeffreys
    # interval at the denoised estimate, each side combined with the engine's half-width
    # (0.002 at 0.013, rescaled to the level 0.02 by sqrt(p (1 - p))).
    m, var = np.mean(values), np.var(values, ddof=1)
    n_star = m * (1 - m) / var * (1.959963984540054 / student.ppf(0.975, 4)) ** 2
    assert got.params["si"]["alpha"]["effective_answers"] == pytest.approx(n_star)
    j_lo, j_hi = beta.ppf([0.025, 0.975], 0.02 * n_star + 0.5, (1 - 0.02) * n_star + 0.5)
    h = 0.002 * np.sqrt(0.02 * 0.98 / (0.013 * 0.987))
    assert out.ci_low["alpha"] == pytest.approx(0.02 - np.hypot(0.02 - j_lo, h))
    assert out.ci_high["alpha"] == pytest.approx(0.02 + np.hypot(j_hi - 0.02, h))
    hi = out.ci_high["alpha"]
    assert isinstance(hi, float) and hi - 0.02 > 0.02 - float(out.ci_low["alpha"])
    # Without a centre fit of that model the interval stays around the estimate, with a note.
    (back,), noted = with_llm_noise([mle], {"si": refits}, noise, 5, {})
    assert back.ci_low == plain.ci_low and "denoised table failed" in " ".join(noted.notes)


def test_effective_count_interval_is_the_jeffreys_interval_of_the_offline_answers() -> None:
    from scipy.stats import beta

    from spillover.selection._llm_noise import OfflineAnswers, _denoised_interval

    # Refits that claim far more precision than 320 answers can give (sd 0.001 at 0.02):
    # capped at the offline answers, and with no engine noise, the interval is exactly the
    # Jeffreys interval of 6.4 "yes" out of 320 (Brown, Cai and DasGupta's construction).
    draws = np.array([[0.019], [0.02], [0.021], [0.02], [0.0195], [0.0205]])
    one = np.array([0.02])
    cap = OfflineAnswers(320).cap(one)
    assert cap == pytest.approx(320)
    lo, hi, n_star = _denoised_interval(one, one, one, one, draws, cap)
    assert n_star == pytest.approx(320)
    want = beta.ppf([0.025, 0.975], 6.4 + 0.5, 320 - 6.4 + 0.5)
    np.testing.assert_allclose([lo[0], hi[0]], want, rtol=1e-12)
    # Known values: 0 of 320 gives [0, beta(0.5, 320.5) quantile], about 0.0078.
    zero = np.array([0.0])
    lo0, hi0, _ = _denoised_interval(zero, zero, zero, zero, draws, cap)
    assert lo0[0] == 0.0 and hi0[0] == pytest.approx(beta.ppf(0.975, 0.5, 320.5))
    assert 0.0075 < hi0[0] < 0.0081
    # Uncapped, the refits' own precision gives a much shorter interval.
    lo_u, hi_u, n_u = _denoised_interval(one, one, one, one, draws)
    assert n_u[0] > 10 * 320 and hi_u[0] - lo_u[0] < 0.3 * (hi[0] - lo[0])
    # With an offline reach r the rate is r times the share of the answers: the cap is the
    # count whose binomial share at the rate spreads as much, n (1 - p) / (r (1 - p / r)).
    assert OfflineAnswers(320, 0.2).cap(one)[0] == pytest.approx(320 * 0.98 / (0.2 * 0.9))
    assert np.isinf(OfflineAnswers(320, 0.2).cap(np.array([0.3]))[0])


def test_effective_count_interval_widens_for_small_counts() -> None:
    from spillover.selection._llm_noise import OfflineAnswers, _denoised_interval

    # The same 320 offline answers at different levels: the fewer the "yes", the wider the
    # interval relative to the rate and the more it leans upwards; symmetric intervals of
    # the spread at the estimate (the Wald interval) would reach below 0 for 2 of 320.
    rng = np.random.default_rng(3)
    rel, lean = [], []
    for k in (2, 6, 20, 80):
        p = (k + 0.5) / 321
        draws = (rng.binomial(320, p, size=(400, 1)) + 0.5) / 321
        at = np.array([p])
        lo, hi, n_star = _denoised_interval(at, at, at, at, draws, OfflineAnswers(320).cap(at))
        assert 250 < n_star[0] <= 320 + 1e-9
        rel.append((hi[0] - lo[0]) / p)
        lean.append((hi[0] - p) / (p - lo[0]))
        if k == 2:
            assert lo[0] > 0.0 and p - 1.96 * np.sqrt(p * (1 - p) / 320) < 0.0
            assert hi[0] > 0.02  # 2 of 320 does not rule out the benchmark's rate
    assert rel == sorted(rel, reverse=True) and lean == sorted(lean, reverse=True)
    assert lean[0] > 1.5 and lean[-1] < 1.3


def test_offline_answers_count_the_sampled_offline_cells(event: Event) -> None:
    from spillover.policies import ANSWER_FROM_LOGPROBS
    from spillover.selection import offline_answers

    k = np.ones((32, 3))
    table = sampled_table(k)
    got = offline_answers(table, event)
    assert got is not None and (got.n, got.reach) == (320, 1.0)
    reach = TabulatedPolicy(
        {"*": k / 10}, range(3), {}, 0.25, answer_samples={"*": np.full(k.shape, 10)}
    )
    got = offline_answers(reach, event)
    assert got is not None and got.reach == pytest.approx(0.25)
    # An offline cell from log-probabilities carries no sampling noise: no cap.
    n = np.full(k.shape, 10)
    n[3, 0] = ANSWER_FROM_LOGPROBS
    mixed = TabulatedPolicy({"*": k / 10}, range(3), {}, None, answer_samples={"*": n})
    assert offline_answers(mixed, event) is None


def test_offline_answers_keep_the_count_of_each_persona(event: Event) -> None:
    from spillover.selection import offline_answers

    k = np.ones((32, 3))
    k[5, 0] = np.nan  # persona 5 has no offline value: no answers of its own
    n = np.full(k.shape, 10)
    n[7, 0] = 20
    table = TabulatedPolicy({"*": k / 10}, range(3), {}, None, answer_samples={"*": n})
    got = offline_answers(table, event)
    assert got is not None and got.n == 30 * 10 + 20
    want = [10] * 32
    want[5], want[7] = 0, 20
    assert got.per_persona == tuple(want)
    rate = np.full(32, 0.02)
    cap = got.cap(rate, per_persona=True)
    assert cap[0] == pytest.approx(10) and cap[7] == pytest.approx(20) and np.isinf(cap[5])
    # Pooled (and where the lengths differ): the total.
    assert got.cap(rate)[0] == pytest.approx(320) and got.cap(rate[:3], True)[0] == pytest.approx(
        320
    )


def test_per_persona_offline_rates_are_capped_by_their_own_answers() -> None:
    from spillover.fit import FitResult
    from spillover.selection import llm_noise_of, offline_answers, with_llm_noise

    # si-persona refits that claim far more precision than 10 answers per persona give (sd
    # about 0.001 at 0.1): each alpha_c[c] rests on persona c's 10 offline answers, not the
    # 320 of all personas, so its effective count is at most 10 (the pooled cap would be 320).
    table = sampled_table(np.ones((32, 3)))
    offline = offline_answers(table, None)
    assert offline is not None

    def fit(a: np.ndarray) -> FitResult:
        tup = tuple(float(x) for x in a)
        return FitResult(
            "si-persona", {"alpha_c": tup}, {"alpha_c": (0.001,) * 32}, -1.0, 64, 10,
            "converged", ci_low={"alpha_c": tuple(x - 0.002 for x in tup)},
            ci_high={"alpha_c": tuple(x + 0.002 for x in tup)},
        )  # fmt: skip

    base = np.full(32, 0.1)
    refits = [fit(base + d) for d in (-0.001, 0.0, 0.001, 0.0005, -0.0005)]
    noise = llm_noise_of(table)
    centre = {"si-persona": fit(base)}
    (out,), got = with_llm_noise([fit(base)], {"si-persona": refits}, noise, 5, centre, offline)
    n_star = np.array(got.params["si-persona"]["alpha_c"]["effective_answers"], dtype=float)
    assert n_star == pytest.approx(np.full(32, 10.0))
    # The interval is that of a binomial share of 10 answers: wider than 0.3 in all.
    width = np.array(out.ci_high["alpha_c"]) - np.array(out.ci_low["alpha_c"])
    assert (width > 0.3).all()


def test_a_value_with_one_finite_refit_keeps_the_engine_interval() -> None:
    import math

    from spillover.fit import FitResult
    from spillover.selection import llm_noise_of, with_llm_noise

    def fit(alpha: float, beta: float) -> FitResult:
        return FitResult(
            "si2", {"alpha": alpha, "beta": beta}, {"alpha": 0.001, "beta": 0.01}, -1.0, 2, 10,
            "converged", ci_low={"alpha": alpha - 0.002, "beta": beta - 0.02},
            ci_high={"alpha": alpha + 0.002, "beta": beta + 0.02},
        )  # fmt: skip

    mle = fit(0.02, 0.3)
    refits = [fit(0.018, 0.31), fit(0.02, math.nan), fit(0.022, math.nan), fit(0.021, math.nan)]
    noise = llm_noise_of(sampled_table(np.ones((32, 3))))
    for centre in (None, {"si2": fit(0.02, 0.3)}):
        (out,), got = with_llm_noise([mle], {"si2": refits}, noise, 4, centre)
        # One finite refit of beta: no spread to read, so not "the answers add no noise".
        assert out.ci_low["beta"] == pytest.approx(0.28)
        assert out.ci_high["beta"] == pytest.approx(0.32)
        assert out.stderr["beta"] == pytest.approx(0.01)
        assert got.params["si2"]["beta"].get("effective_answers") is None
        assert any("si2 beta" in n and "could not be estimated" in n for n in got.notes)
        assert not any("si2 alpha" in n and "could not" in n for n in got.notes)
        assert out.ci_high["alpha"] > 0.022  # alpha's refits still widen its interval
