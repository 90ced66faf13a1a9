from __future__ import annotations

import dataclasses
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spillover.exceptions import ConfigError, PersonaError
from spillover.personas import (
    ADJECTIVES,
    N_PERSONAS,
    PERSONAS,
    PROMPT_VERSION,
    TRAITS,
    Persona,
    persona,
    persona_from_code,
    trait_matrix,
)


def test_traits_are_in_ocean_order() -> None:
    assert TRAITS == (
        "openness",
        "conscientiousness",
        "extraversion",
        "agreeableness",
        "neuroticism",
    )
    assert N_PERSONAS == 32
    assert len(PERSONAS) == 32


@pytest.mark.parametrize(
    ("index", "levels", "code"),
    [
        (0, (False, False, False, False, False), "O-C-E-A-N-"),
        (1, (False, False, False, False, True), "O-C-E-A-N+"),
        (16, (True, False, False, False, False), "O+C-E-A-N-"),
        (31, (True, True, True, True, True), "O+C+E+A+N+"),
        (21, (True, False, True, False, True), "O+C-E+A-N+"),
    ],
)
def test_bit_convention(index: int, levels: tuple[bool, ...], code: str) -> None:
    p = persona(index)
    assert p.index == index
    assert p.levels == levels
    assert p.code == code


def test_catalog_positions_match_bits() -> None:
    for i, p in enumerate(PERSONAS):
        assert p.index == i
        assert all(type(level) is bool for level in p.levels)
        assert sum(int(hi) << (4 - j) for j, hi in enumerate(p.levels)) == i


def test_texts_are_unique() -> None:
    for attr in ("code", "label", "description", "system_prompt"):
        values = [getattr(p, attr) for p in PERSONAS]
        assert len(set(values)) == 32, attr


def test_label_uses_one_adjective_per_trait_level() -> None:
    assert persona_from_code("O+C-E+A-N+").label == (
        "open, spontaneous, extraverted, critical, anxious"
    )
    assert set(ADJECTIVES) == set(TRAITS)
    words = [w for pair in ADJECTIVES.values() for w in pair]
    assert len(set(words)) == 10
    for p in PERSONAS:
        assert p.adjectives == tuple(
            ADJECTIVES[t][hi] for t, hi in zip(TRAITS, p.levels, strict=True)
        )


def test_description_names_high_and_low_traits() -> None:
    assert persona(31).description.endswith("high in all five traits.")
    assert persona(0).description.endswith("low in all five traits.")
    d = persona_from_code("O+C-E+A-N+").description
    assert d.startswith("An open, spontaneous, extraverted, critical and anxious person")
    assert "high in openness, extraversion and neuroticism" in d
    assert "low in conscientiousness and agreeableness" in d
    assert persona(0).description.startswith("A traditional")


def test_is_high() -> None:
    p = persona(16)
    assert p.is_high("openness")
    assert not p.is_high("neuroticism")
    with pytest.raises(PersonaError, match=r"trait must be one of .*got 'honesty'"):
        p.is_high("honesty")


def test_system_prompt_describes_setting_and_traits() -> None:
    for p in PERSONAS:
        prompt = p.system_prompt
        assert prompt.startswith("You are a user of a social media platform")
        assert "people you follow" in prompt
        # Output format belongs to the prompt templates of the llm package.
        lowered = prompt.lower()
        for word in ("json", "answer", "respond", "probability", "yes or no", "format"):
            assert word not in lowered, (p.code, word)
    assert "curious" in persona(16).system_prompt
    assert "traditional" in persona(0).system_prompt
    assert "anxious" in persona(1).system_prompt
    assert "calm" in persona(0).system_prompt
    assert PROMPT_VERSION == "persona-v1"


def test_persona_from_code_round_trips_and_tolerates_case() -> None:
    for p in PERSONAS:
        assert persona_from_code(p.code) is p
    assert persona_from_code("  o+c-e+a-n+ ").index == 21


@pytest.mark.parametrize("bad", ["", "O+C-E+A-N", "C+O-E+A-N+", "O*C-E+A-N+", "O+C-E+A-N+X+"])
def test_persona_from_code_rejects_bad_codes(bad: str) -> None:
    with pytest.raises(PersonaError, match=r"code must be the letters O, C, E, A, N") as info:
        persona_from_code(bad)
    assert repr(bad) in str(info.value)


def test_persona_from_code_rejects_non_strings() -> None:
    with pytest.raises(PersonaError, match=r"code must be a string .*got 21 of type int"):
        persona_from_code(21)  # type: ignore[arg-type]


def test_persona_accepts_numpy_integers() -> None:
    assert persona(np.int64(5)) is PERSONAS[5]  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [32, -1, 100])
def test_persona_out_of_range(bad: int) -> None:
    with pytest.raises(PersonaError, match=rf"index must be in 0\.\.31; got {bad}"):
        persona(bad)


@pytest.mark.parametrize("bad", [True, 1.0, "3", None])
def test_persona_rejects_non_integers(bad: object) -> None:
    with pytest.raises(PersonaError, match=r"index must be an integer persona index"):
        persona(bad)  # type: ignore[arg-type]


def test_persona_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        persona(99)
    with pytest.raises(ValueError):
        persona(99)


def test_trait_matrix() -> None:
    m = trait_matrix()
    assert m.shape == (32, 5)
    assert m.dtype == np.int8
    assert not m.flags.writeable
    with pytest.raises(ValueError):
        m[0, 0] = 1
    for p in PERSONAS:
        assert m[p.index].tolist() == [int(hi) for hi in p.levels]
    assert m[16].tolist() == [1, 0, 0, 0, 0]
    assert m[1].tolist() == [0, 0, 0, 0, 1]
    assert m.sum(axis=0).tolist() == [16] * 5
    weights = 2 ** np.arange(4, -1, -1)
    assert (m @ weights).tolist() == list(range(32))
    # A fresh array each call: nothing a caller does to one reaches the next.
    assert trait_matrix() is not m


def test_persona_is_frozen_and_slotted() -> None:
    p = persona(3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.index = 4  # type: ignore[misc]
    assert not hasattr(p, "__dict__")
    assert p == Persona(3, p.levels)
    assert hash(p) == hash(Persona(3, p.levels))
    assert pickle.loads(pickle.dumps(p)) == p


def test_persona_constructor_validates() -> None:
    with pytest.raises(PersonaError, match=r"levels must match the bits of index 3"):
        Persona(3, (True, False, False, False, False))
    with pytest.raises(PersonaError, match=r"index must be in 0\.\.31; got 32"):
        Persona(32, (True, True, True, True, True))
    with pytest.raises(PersonaError, match=r"levels must match .*got \[False"):
        Persona(0, [False] * 5)  # type: ignore[arg-type]


def test_import_pulls_in_no_heavy_dependencies() -> None:
    code = (
        "import sys, spillover.personas\n"
        "bad = [m for m in ('pandas', 'matplotlib', 'pyarrow', 'httpx', 'openai') "
        "if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_docs_table_matches_catalog() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "personas.md"
    rows = re.findall(r"^\| (\d+) \| `([OCEAN+-]{10})` \| ([a-z, ]+) \|$", doc.read_text(), re.M)
    assert [(int(i), code, label) for i, code, label in rows] == [
        (p.index, p.code, p.label) for p in PERSONAS
    ]
