"""A light core with extras: the core simulates and fits without any optional package, and a
feature whose extra is missing says which extra to install.

The subprocesses below hide every optional package (``sys.modules[name] = None`` makes both
``import name`` and ``importlib.util.find_spec(name)`` fail as for a package that is not
installed). ``.ci/core_only.py`` runs the same core script in an environment built without
the extras.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spillover._extras import EXTRAS

HIDDEN = sorted({m for _, modules in EXTRAS.values() for m in modules} | {"dask"})
CORE_SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "core_only.py"


def run_hidden(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys\nfor _m in {HIDDEN!r}:\n    sys.modules[_m] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )


def test_the_core_simulates_fits_and_writes_without_the_extras(tmp_path: Path) -> None:
    proc = run_hidden(CORE_SCRIPT.read_text(encoding="utf-8"), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "core ok" in proc.stdout
    assert (tmp_path / "core-run" / "curves.parquet").is_file()


@pytest.mark.parametrize(
    ("code", "extra"),
    [
        (
            "from spillover.llm import OpenAIBackend\nOpenAIBackend('http://127.0.0.1:9/v1')",
            "llm",
        ),
        (
            "import spillover as so\nfrom spillover.fit import discover_equation\n"
            "r = so.simulate(so.random_regular(200, 4, rng=1), so.ConstantPolicy(0.02, 0.2), "
            "n_rounds=12, rng=1)\n"
            "discover_equation(r.curves)",
            "sindy",
        ),
        ("from spillover.sweeps import DaskExecutor\nDaskExecutor('tcp://127.0.0.1:9')", "sweeps"),
    ],
)
def test_a_feature_without_its_extra_names_the_extra(code: str, extra: str, tmp_path: Path) -> None:
    body = "".join(f"    {line}\n" for line in code.splitlines())
    script = "from spillover.exceptions import MissingExtraError\ntry:\n" + body
    script += "except MissingExtraError as exc:\n    print('MISSING', exc)\n"
    proc = run_hidden(script, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("MISSING ") and f"spillover[{extra}]" in proc.stdout


def test_the_command_line_without_its_extra_is_one_error_line(tmp_path: Path) -> None:
    proc = run_hidden("from spillover.cli import main\nmain(['simulate'])", tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "spillover[cli]" in lines[0]
