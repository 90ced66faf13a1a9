"""The worked examples of the docs run as written (blocks marked ``<!-- tested -->``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
_BLOCK = re.compile(r"<!-- tested -->\s*```python\n(.*?)```", re.DOTALL)


def _examples() -> list[tuple[str, int, str]]:
    found = []
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for i, match in enumerate(_BLOCK.finditer(path.read_text(encoding="utf-8"))):
            found.append((path.name, i, match.group(1)))
    return found


def test_the_extension_guide_has_tested_examples() -> None:
    assert any(name == "extending.md" for name, _, _ in _examples())


@pytest.mark.parametrize(("name", "index", "code"), _examples(), ids=lambda v: str(v)[:20])
def test_doc_example_runs(name: str, index: int, code: str) -> None:
    exec(compile(code, f"{name}[{index}]", "exec"), {"__name__": f"docs_{index}"})
