"""``spillover loop``, and ``spillover fit`` / ``report`` on a loop run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spillover.cli import main
from spillover.io._loop import LOOP_TABLES


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


SMALL = ["--n-nodes", "1500", "--degree", "6", "--rounds", "60", "--seeds", "6", "--seed", "3"]


def test_loop_run_fit_and_config_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _run(["loop", *SMALL, "--eta", "0.12", "--loop", "2", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "loop" and manifest["loop"]["generations"] == 2
    assert manifest["summary"]["n_events"] >= 1
    capsys.readouterr()
    assert _run(["fit", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "loop"
    eta = doc["rates"]["eta"]
    assert eta["low"] < eta["estimate"] < eta["high"] and abs(eta["estimate"] - 0.12) < 0.015

    assert _run(["report", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "Coupling rates" in html and "critical range of eta (loop-pair)" in html
    assert html.count("data:image/png;base64,") == 2
    assert "LOOP0-0000-000" in html

    # The same settings from a [loop] section give the same tables, byte for byte.
    cfg = tmp_path / "loop.toml"
    cfg.write_text(
        "[loop]\nn_nodes = 1500\ndegree = 6\nn_rounds = 60\nn_seeds = 6\nseed = 3\n"
        "eta = 0.12\ngenerations = 2\n"
    )
    out2 = tmp_path / "run2"
    assert _run(["loop", "--config", str(cfg), "--out", str(out2)]) == 0
    for name in (*LOOP_TABLES, "events.csv"):
        assert (out / name).read_bytes() == (out2 / name).read_bytes(), name


def test_loop_bad_input_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["loop", *SMALL, "--delta", "-0.1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'delta'" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[loop]\napi_key = "sk-secret-value"\n')
    assert _run(["loop", "--config", str(cfg), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "loop.api_key" in err and "sk-secret-value" not in err
    assert _run(["loop", "--emission", "poisson", "--out", str(tmp_path / "z")]) == 2
    assert "emission mode" in capsys.readouterr().err


def test_loop_help() -> None:
    assert _run(["loop", "--help"]) == 0


def _same_tables(a: Path, b: Path) -> bool:
    return all((a / f).read_bytes() == (b / f).read_bytes() for f in (*LOOP_TABLES, "events.csv"))


def test_simulate_loop_is_spillover_loop_and_replays_byte_for_byte(tmp_path: Path) -> None:
    runs = {name: tmp_path / name for name in ("loop", "sim", "again", "other")}
    assert _run(["loop", *SMALL, "--loop", "2", "--out", str(runs["loop"])]) == 0
    assert _run(["simulate", *SMALL, "--loop", "2", "-q", "--out", str(runs["sim"])]) == 0
    assert _run(["simulate", *SMALL, "--loop", "2", "-q", "--out", str(runs["again"])]) == 0
    other = [*SMALL[:-1], "4"]
    assert _run(["simulate", *other, "--loop", "2", "-q", "--out", str(runs["other"])]) == 0
    manifests = {k: json.loads((p / "manifest.json").read_text()) for k, p in runs.items()}
    assert manifests["sim"]["kind"] == "loop" and manifests["sim"]["summary"]["n_events"] >= 1
    assert manifests["sim"]["config"] == manifests["loop"]["config"]
    assert manifests["sim"]["seed"] == {"entropy": 3, "spawn_key": []}
    assert manifests["sim"]["summary"]["generations"] >= 1  # the chain went past cascade 0
    assert _same_tables(runs["loop"], runs["sim"])
    assert _same_tables(runs["sim"], runs["again"])
    assert not _same_tables(runs["sim"], runs["other"])


def test_simulate_with_a_loop_section_is_spillover_loop_with_it(tmp_path: Path) -> None:
    cfg = tmp_path / "loop.toml"
    cfg.write_text(
        "[loop]\nn_nodes = 1500\ndegree = 6\nn_rounds = 60\nn_seeds = 6\nseed = 3\n"
        "eta = 0.1\ngamma = 0.05\ngenerations = 1\n"
    )
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert _run(["loop", "--config", str(cfg), "--out", str(a)]) == 0
    assert _run(["simulate", "--config", str(cfg), "-q", "--out", str(b)]) == 0
    assert _same_tables(a, b)
    assert json.loads((b / "manifest.json").read_text())["loop"]["generations"] == 1
    # Flags override the section as they do for spillover loop.
    assert (
        _run(
            ["simulate", "--config", str(cfg), "--loop", "0", "--seed", "4", "-q", "--out", str(c)]
        )
        == 0
    )
    manifest = json.loads((c / "manifest.json").read_text())
    assert manifest["loop"]["generations"] == 0 and manifest["seed"]["entropy"] == 4
    assert manifest["summary"]["generations"] == 0


def test_simulate_loop_refuses_settings_the_coupled_model_has_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x"
    for extra, named in (
        (["--policy", "persona"], "--policy"),
        (["--graph", "erdos-renyi"], "--graph"),
        (["--llm-timeout", "3"], "--llm-timeout"),
        (["--dry-run"], "--dry-run"),
    ):
        assert _run(["simulate", *SMALL, "--loop", "1", *extra, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {named} does not apply to a loop run"), err
        assert "Traceback" not in err and not out.exists()
    plain = tmp_path / "plain.toml"
    plain.write_text("n_nodes = 300\n")
    assert _run(["simulate", "--config", str(plain), "--loop", "1", "--out", str(out)]) == 2
    assert "no [loop] section" in capsys.readouterr().err
    mixed = tmp_path / "mixed.toml"
    mixed.write_text("[simulate]\nn_nodes = 300\n\n[loop]\neta = 0.1\n")
    assert _run(["simulate", "--config", str(mixed), "--out", str(out)]) == 2
    assert "holds its settings in [loop]; found also 'simulate'" in capsys.readouterr().err
    assert _run(["simulate", *SMALL, "--loop", "-1", "--out", str(out)]) == 2
    assert "generations" in capsys.readouterr().err and not out.exists()
