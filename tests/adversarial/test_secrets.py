"""The API key never leaves the process: hostile servers, broken configs, values in wrong places.

Every test runs with the suite's canary key in ``OPENAI_API_KEY`` (tests/conftest.py), which
also searches each test's files and captured output for it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from spillover._redact import MASK, redact, redact_tree, shown
from spillover.cli import main
from spillover.exceptions import ConfigError, LLMError
from spillover.io import read_config
from spillover.llm import (
    CachedBackend,
    Faults,
    LLMRequest,
    OpenAIBackend,
    RetryPolicy,
    SQLiteStore,
    StandinServer,
)

NO_RETRY = RetryPolicy(max_retries=0)
SMALL = ["--n-nodes", "60", "--degree", "4", "--rounds", "3", "--replicates", "1"]
SMALL += ["--seeds", "2", "--seed", "5", "--quiet"]


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def request(i: int = 0) -> LLMRequest:
    return LLMRequest(
        model="standin-1",
        messages=(("system", "You are a reader."), ("user", f"Share this? ({i})")),
        max_tokens=16,
    )


def always(**faults: float) -> Faults:
    return Faults(**faults, fault_attempts=1000)  # type: ignore[arg-type]


def leaks(text: str, key: str) -> bool:
    """Whether ``text`` holds the key or any 12-character piece of it (a cut-off echo)."""
    return any(key[i : i + 12] in text for i in range(len(key) - 11))


def stored_rows(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return "\n".join(r + q for r, q in db.execute("SELECT response, request FROM answers"))


@pytest.mark.parametrize("fault", ["echo_auth", "refuse_echo_key", "content_echo_key"])
def test_a_server_echoing_the_key_never_gets_it_into_answers_errors_or_the_cache(
    fault: str, tmp_path: Path, canary_key: str
) -> None:
    with StandinServer(faults=always(**{fault: 1.0}), max_lifetime_s=60) as server:
        store = SQLiteStore(tmp_path / "answers.sqlite")
        backend = CachedBackend(OpenAIBackend(server.url, retry=NO_RETRY, invalid_retries=0), store)
        (answer,) = backend.complete([request()])
        backend.close()
        # The key did go to the server (and came back in the hostile body).
        assert {r["_auth"] for r in server.chat_requests()} == {f"Bearer {canary_key}"}
    assert answer.valid is (fault == "content_echo_key")
    shown_text = f"{answer.text} {answer.error} {answer.post}"
    assert canary_key not in shown_text
    assert MASK in shown_text  # the echo is there, masked: the fault did fire
    assert canary_key not in stored_rows(tmp_path / "answers.sqlite")


def test_an_echoed_header_in_a_failed_run_stays_out_of_the_error_line_and_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "answers.sqlite"
    with StandinServer(faults=always(echo_auth=1.0), max_lifetime_s=60) as server:
        argv = ["simulate", *SMALL, "--llm-base-url", server.url, "--llm-model", "standin-1"]
        argv += ["--llm-invalid-retries", "0", "--cache", str(cache)]
        argv += ["--out", str(tmp_path / "run")]
        assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "unreadable response" in err
    assert "Authorization: Bearer ***" in err
    assert cache.is_file()  # searched for the key by the suite's canary check


def test_a_credential_in_the_url_is_masked_in_errors_and_manifests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], canary_key: str
) -> None:
    with StandinServer(max_lifetime_s=60) as server:
        url = f"{server.url}?api_key={canary_key}"
        argv = ["simulate", *SMALL, "--llm-base-url", url, "--llm-model", "standin-1"]
        assert run([*argv, "--llm-max-retries", "0", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "api_key=***" in err
    with pytest.raises(LLMError) as info:
        OpenAIBackend(
            "http://127.0.0.1:9/v1?token=" + canary_key, retry=NO_RETRY, timeout_s=2
        ).complete([request()])
    assert canary_key not in str(info.value) and "token=***" in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("a.yaml", "llm:\n  model: m\n  api_key: {key}: x\n", "line 3, column"),
        ("b.yaml", 'llm:\n  model: "{key}\n', "line 3, column 1"),
        ("c.yaml", "n_nodes: !!python/name:{key} 5\n", "line 1, column"),
        ("d.toml", 'n_nodes = "{key}\n', "line 1, column"),
        ("e.toml", "[llm]\nmodel = {key}\n", "line 2, column"),
    ],
)
def test_config_syntax_errors_name_the_place_and_never_echo_the_line(
    tmp_path: Path,
    allow_canary: Callable[[Path], Path],
    canary_key: str,
    name: str,
    text: str,
    where: str,
) -> None:
    path = allow_canary(tmp_path / name)
    path.write_text(text.format(key=canary_key))
    with pytest.raises(ConfigError) as info:
        read_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not valid ") and where in message
    assert not leaks(message, canary_key) and "\n" not in message and len(message) < 300


@pytest.mark.parametrize(
    "text",
    [
        'events = ["{key}"]\n',
        'personas = ["{key}"]\n',
        "n_nodes = '{key}'\n",
        '[llm]\nmodel = "m"\ncache = ["{key}"]\n',
        '[llm]\nmodel = "m"\n"{key}" = 1\n',
    ],
)
def test_a_key_in_the_wrong_place_is_not_echoed_by_validation(
    tmp_path: Path,
    allow_canary: Callable[[Path], Path],
    canary_key: str,
    capsys: pytest.CaptureFixture[str],
    text: str,
) -> None:
    path = allow_canary(tmp_path / "run.toml")
    path.write_text(text.format(key=canary_key))
    assert run(["simulate", "-c", str(path), "--dry-run", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not leaks(err, canary_key)


def test_echoed_values_are_capped() -> None:
    assert len(shown("x" * 10_000)) == 80
    assert len(shown(list(range(10**6)))) <= 80
    nested: list[object] = []
    for _ in range(50):
        nested = [nested, nested]
    assert len(shown(nested)) <= 80


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer "),
        ("http://user:hunter2@proxy:3128/v1", "http://***@proxy:3128/v1"),
        ("https://h/v1?api_key=abc123&x=1", "https://h/v1?api_key=***&x=1"),
        ("https://h/v1?access_token=abc&token=def", "access_token=***&token=***"),
        ('{"api_key": "abcdef"}', '{"api_key": "***"}'),
        ("key sk-proj-AbCdEf0123456789 end", "key sk-*** end"),
        ("max_tokens=32, prompt_tokens: 4", "max_tokens=32, prompt_tokens: 4"),
    ],
)
def test_redaction_patterns(text: str, kept: str) -> None:
    out = redact(text)
    assert kept in out
    for secret in ("abc.def-123", "hunter2", "abc123", "abcdef", "AbCdEf0123456789"):
        assert secret not in out


def test_the_configured_key_variable_is_masked_whatever_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLM_PASS_FOR_TESTS", "plainwordsecretvalue")
    OpenAIBackend("http://127.0.0.1:9/v1", api_key_env="LLM_PASS_FOR_TESTS")
    assert redact("the value plainwordsecretvalue") == f"the value {MASK}"


def test_redact_tree_masks_key_values_and_patterns_everywhere_in_a_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWEEP_TOKEN_FOR_TESTS", "treewidesecretvalue")
    doc = {
        "treewidesecretvalue": ["a treewidesecretvalue b", ("x", "Bearer abcdefgh")],
        "n": 3,
        "nested": {"url": "https://u:hunter2@h/v1", "ok": "plain text", "f": 0.5},
    }
    out = redact_tree(doc)
    assert out == {
        MASK: [f"a {MASK} b", ("x", f"Bearer {MASK}")],
        "n": 3,
        "nested": {"url": f"https://{MASK}@h/v1", "ok": "plain text", "f": 0.5},
    }
    # One rule for a string, alone or in a document.
    assert out[MASK][0] == redact("a treewidesecretvalue b")


def test_the_suite_canary_check_finds_a_leak(
    tmp_path: Path, canary_key: str, canary_scan: Callable[[Path], list[Path]]
) -> None:
    leak = tmp_path / "deep" / "answers.sqlite-wal"
    leak.parent.mkdir()
    leak.write_bytes(b"\0" * ((1 << 20) - 10) + canary_key.encode() + b"\0")  # across chunks
    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps({"key": redact(canary_key)}))
    assert canary_scan(tmp_path) == [leak]
    leak.unlink()  # leave nothing for the teardown check of this test


LEAKING_TESTS = """\
import os
import subprocess
import sys

KEY = os.environ["OPENAI_API_KEY"]


def test_prints_it():
    print(KEY)


def test_reads_it_back(capsys):
    sys.stderr.write(KEY)
    capsys.readouterr()


def test_writes_it(tmp_path):
    (tmp_path / "run" / "answers.sqlite").parent.mkdir()
    (tmp_path / "run" / "answers.sqlite").write_text(KEY)


def test_a_subprocess_says_it():
    code = "import os, sys; sys.stderr.write(os.environ['OPENAI_API_KEY'])"
    subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
"""


def test_the_suite_canary_fails_the_session_on_every_kind_of_leak() -> None:
    import shutil
    import subprocess
    import sys
    import tempfile

    # A session of its own, with this suite's conftest, outside every folder the outer
    # session searches (its files hold the key on purpose).
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        shutil.copy(Path(__file__).parents[1] / "conftest.py", root / "conftest.py")
        (root / "test_leaks.py").write_text(LEAKING_TESTS)
        (root / "test_clean.py").write_text("def test_nothing():\n    print('no key')\n")

        def session(*names: str) -> subprocess.CompletedProcess[str]:
            argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            argv += ["--basetemp", str(root / "tmp"), "--rootdir", str(root), *names]
            return subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)

        clean = session("test_clean.py")
        assert clean.returncode == 0, clean.stdout[-3000:]
        leaky = session("test_leaks.py")
    assert leaky.returncode == 1, leaky.stdout[-3000:]
    report = leaky.stdout.split("the fake API key (secret canary) leaked into:", 1)[1]
    for where in (
        "output of test_leaks.py::test_prints_it (call)",
        "captured stderr read by test_leaks.py::test_reads_it_back",
        "answers.sqlite",
        "captured stderr of a subprocess of test_leaks.py::test_a_subprocess_says_it",
    ):
        assert where in report, leaky.stdout[-3000:]
    assert "test_writes_it - Failed: the fake API key was written to" in leaky.stdout


def test_a_key_in_a_sweep_file_stays_out_of_sweep_json_and_its_errors(
    tmp_path: Path, allow_canary: Callable[[Path], Path], canary_key: str
) -> None:
    from spillover.sweeps import SerialExecutor, read_sweep_config, run_sweep

    spec = allow_canary(tmp_path / "sweep.toml")
    spec.write_text(
        'seed = 5\n[base]\nn_nodes = 60\ndegree = 4\nn_reps = 1\nn_seeds = 2\npolicy = "llm"\n'
        f'llm_base_url = "http://127.0.0.1:9/v1?api_key={canary_key}"\nllm_model = "m"\n'
        "llm_max_retries = 0\nn_rounds = 3\n[grid]\nllm_base_url = ["
        + ", ".join(f'"http://127.0.0.1:{p}/v1?api_key={canary_key}"' for p in (9, 11))
        + "]\n"
    )
    out = tmp_path / "out"
    command = ["spillover", "sweep", str(spec), "--note", f"token={canary_key}"]
    for _ in range(2):  # the second run resumes the first: the masked fingerprints agree
        summary = run_sweep(
            read_sweep_config(spec), out, executor=SerialExecutor(), command=command
        )
        assert summary.failed == 2 and all("api_key=***" in e for _, e in summary.failures)
    text = (out / "sweep.json").read_text()
    assert canary_key not in text and "api_key=***" in text and "token=***" in text
    doc = json.loads(text)
    assert len(doc["invocations"]) == 2
    assert doc["cells"][1]["params"] == {"llm_base_url": "http://127.0.0.1:11/v1?api_key=***"}


def test_a_key_on_the_command_line_stays_out_of_run_loop_and_study_files(
    tmp_path: Path, canary_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from spillover.study import read_study, run_study
    from spillover.sweeps import SerialExecutor

    argv = ["spillover", "loop", "--note", f"api_key={canary_key}"]
    monkeypatch.setattr(sys, "argv", argv)  # what a manifest records as the command
    assert run(["simulate", *SMALL, "--out", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["command"][-1] == (
        "api_key=***"
    )
    loop = ["loop", "--n-nodes", "200", "--degree", "4", "--rounds", "5"]
    assert run([*loop, "--out", str(tmp_path / "loop")]) == 0
    assert json.loads((tmp_path / "loop" / "manifest.json").read_text())["command"][-1] == (
        "api_key=***"
    )
    study = tmp_path / "study.toml"
    study.write_text(
        'seed = 7\n[events]\nids = ["VEL0001"]\n[design]\ndegrees = [4]\nn_nodes = 200\n'
        'n_reps = 2\nn_rounds = 5\nn_seeds = 2\n[policy]\nkind = "parametric"\nalpha = 0.002\n'
        'beta = 0.05\n[analysis]\nmodels = ["si2"]\nfolds = 0\n[run]\nexecutor = "serial"\n'
    )
    summary = run_study(
        read_study(study), tmp_path / "study", executor=SerialExecutor(), command=argv
    )
    assert summary.document["command"][-1] == "api_key=***"


def test_a_password_in_the_scheduler_address_stays_out_of_sweep_json_and_the_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spillover.sweeps import SweepSettings, SweepSpec

    address = "tls://alice:s3cretPassw0rd@scheduler.example:8786"
    spec = SweepSpec(
        base={"n_nodes": 60},
        grid=(("degree", (4,)),),
        seed=1,
        settings=SweepSettings(scheduler=address),
    )
    # sweep.json's document (its settings are written as to_dict gives them).
    written = json.dumps(spec.to_dict())
    assert "s3cretPassw0rd" not in written
    assert spec.to_dict()["settings"]["scheduler"] == "tls://***@scheduler.example:8786"
    path = tmp_path / "sweep.toml"
    path.write_text("seed = 1\n[base]\nn_nodes = 60\n[grid]\ndegree = [4]\n")
    argv = ["sweep", str(path), "--dry-run", "--scheduler", address, "--out", str(tmp_path / "o")]
    try:
        main(argv)
    except SystemExit as exc:
        assert not exc.code
    printed = capsys.readouterr()
    assert "s3cretPassw0rd" not in printed.out + printed.err
    assert "tls://***@scheduler.example:8786" in printed.out


def test_grid_values_differing_only_in_a_credential_are_one_error_naming_the_key() -> None:
    from spillover.sweeps import SweepSpec

    urls = tuple(f"http://127.0.0.1:9/v1?api_key=sk-{c * 24}" for c in "ab")
    base = {"n_nodes": 60, "policy": "llm", "llm_model": "m"}
    with pytest.raises(ConfigError) as info:
        SweepSpec(base=base, grid=(("llm_base_url", urls),), seed=1)
    message = str(info.value)
    assert message.startswith("grid.llm_base_url: ") and "credential" in message
    assert "sk-" not in message and "127.0.0.1" not in message
    # Values that differ outside the credential still make a sweep.
    ports = tuple(f"http://127.0.0.1:{p}/v1?api_key=sk-{'a' * 24}" for p in (9, 11))
    assert SweepSpec(base=base, grid=(("llm_base_url", ports),), seed=1).n_cells == 2
