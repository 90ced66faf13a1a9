"""The docs run as written and stay in step with the code.

- Blocks marked ``<!-- tested -->`` in README.md and docs/*.md run in a temporary folder, in
  order, one namespace per page: a page reads like a notebook, and a block may use what the
  blocks above it defined.
- docs/cli.md documents every command, argument and flag of the command line (``--help`` is
  the source).
- The symbol table of docs/models.md lists every probability and hazard of the registry.
- Relative links in README.md and docs/*.md point to files and headings that exist.
- The README stays the front door: the two commands, the tour, a link to every docs page, and
  no flag tables (those are in docs/cli.md).
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
_BLOCK = re.compile(r"<!-- tested -->\s*```python\n(.*?)```", re.DOTALL)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _examples(path: Path) -> list[str]:
    return [m.group(1) for m in _BLOCK.finditer(path.read_text(encoding="utf-8"))]


def _tested_pages() -> list[Path]:
    return [p for p in _pages() if _examples(p)]


def test_the_extension_guide_has_tested_examples_of_each_seam() -> None:
    code = "\n".join(_examples(DOCS / "extending.md"))
    assert "def share_probability" in code  # a custom policy
    assert "register_model(" in code  # a new model through the registry
    assert "async def send(" in code and "transport_backend(" in code  # a new LLM transport
    assert _examples(DOCS / "python.md"), "the Python walkthrough must be tested"


@pytest.mark.parametrize("page", _tested_pages(), ids=lambda p: p.name)
def test_doc_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    # A real module, so that what the examples define (dataclasses, say) behaves as in a script.
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for index, code in enumerate(_examples(page)):
        # dont_inherit: the examples run without this file's ``from __future__`` imports.
        exec(compile(code, f"{page.name}[{index}]", "exec", dont_inherit=True), module.__dict__)


# --- the command line -------------------------------------------------------------------------


def _commands() -> Iterator[tuple[str, Any]]:
    """(``"prompts show"``, click command) for every leaf command of ``spillover``."""
    import typer

    from spillover.cli import main
    from spillover.cli._app import app

    try:
        main(["--help"])  # imports every command module, as a real call does
    except SystemExit as exc:
        assert not exc.code

    def walk(cmd: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
        subcommands = getattr(cmd, "commands", None)
        if subcommands:
            for name, sub in sorted(subcommands.items()):
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), cmd

    yield from walk(typer.main.get_command(app), [])


def _section(text: str, heading: str) -> str:
    start = text.find(f"\n## {heading}\n")
    assert start >= 0, f"docs/cli.md has no section '## {heading}'"
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _mentions(text: str, flag: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


def test_cli_docs_cover_every_command_and_flag(capsys: pytest.CaptureFixture[str]) -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    commands = list(_commands())
    capsys.readouterr()
    assert len(commands) >= 10
    missing = []
    for path, cmd in commands:
        section = _section(text, f"`spillover {path}`")
        for param in cmd.params:
            if param.param_type_name == "option":
                names = [*param.opts, *param.secondary_opts]
                missing += [f"{path} {n}" for n in names if not _mentions(section, n)]
            elif param.param_type_name == "argument":
                name = (param.metavar or param.name).upper()
                if not _mentions(section, name):
                    missing.append(f"{path} argument {name}")
    assert not missing, f"not in docs/cli.md: {', '.join(missing)}"


def test_the_readme_keeps_flags_out_and_points_to_the_cli_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
    assert "| flag |" not in text, "flag tables belong in docs/cli.md"
    for page in sorted(DOCS.glob("*.md")):
        assert f"](docs/{page.name})" in text, f"the README does not link docs/{page.name}"


# --- symbols ----------------------------------------------------------------------------------


def test_the_symbol_table_lists_every_hazard_of_the_registry() -> None:
    from spillover.fit import HAZARD_SYMBOLS

    text = (DOCS / "models.md").read_text(encoding="utf-8")
    table = _section(text, "Symbols: probabilities and hazards")
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    pairs = [(cells[0], cells[1]) for cells in (_cells(row) for row in rows) if len(cells) > 1]
    for probability, hazard in HAZARD_SYMBOLS.items():
        assert any(probability in p and hazard in h for p, h in pairs), (probability, hazard)


def _cells(row: str) -> list[set[str]]:
    return [set(re.findall(r"`([^`]+)`", cell)) for cell in row.strip("|").split("|")]


# --- links ------------------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6} (.*)", line)):
            slug = _slug(m.group(1))
            n = seen.get(slug, 0)
            anchors.add(slug if n == 0 else f"{slug}-{n}")
            seen[slug] = n + 1
    return anchors


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists() or (anchor and dest.suffix == ".md" and anchor not in _anchors(dest)):
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"
