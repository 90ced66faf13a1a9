from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from spillover.exceptions import PersonaError
from spillover.personas import (
    PERSONAS,
    assign_balanced,
    assign_weighted,
    validate_assignment,
)


def _counts(a: npt.NDArray[np.int8]) -> npt.NDArray[np.intp]:
    return np.bincount(a, minlength=32)


def _check_output(a: npt.NDArray[np.int8], n: int) -> None:
    assert a.shape == (n,)
    assert a.dtype == np.int8
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[...] = 0


# --- balanced --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 5, 31, 32, 33, 100, 1000, 4099])
def test_balanced_counts_are_exact(n: int) -> None:
    a = assign_balanced(n, rng=7)
    _check_output(a, n)
    counts = _counts(a)
    base, extra = divmod(n, 32)
    assert counts.sum() == n
    assert set(counts.tolist()) <= {base, base + 1}
    assert int((counts == base + 1).sum()) == extra


def test_balanced_100_nodes() -> None:
    counts = _counts(assign_balanced(100, rng=0))
    assert sorted(counts.tolist()) == [3] * 28 + [4] * 4


def test_balanced_is_reproducible() -> None:
    a = assign_balanced(1000, rng=123)
    assert a.tobytes() == assign_balanced(1000, rng=123).tobytes()
    ss = np.random.SeedSequence(5)
    assert np.array_equal(assign_balanced(50, rng=ss), assign_balanced(50, rng=ss))
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    assert np.array_equal(assign_balanced(50, rng=g1), assign_balanced(50, rng=g2))


def test_balanced_generator_advances() -> None:
    g = np.random.default_rng(9)
    assert not np.array_equal(assign_balanced(200, rng=g), assign_balanced(200, rng=g))


def test_balanced_seeds_differ_and_none_works() -> None:
    assert not np.array_equal(assign_balanced(200, rng=1), assign_balanced(200, rng=2))
    _check_output(assign_balanced(64, rng=None), 64)
    _check_output(assign_balanced(64), 64)


def test_balanced_placement_is_random() -> None:
    a = assign_balanced(3200, rng=3)
    # Sorted or blocked placement would leave long runs of one persona.
    assert np.mean(a[1:] == a[:-1]) < 0.1
    first = {int(assign_balanced(64, rng=s)[0]) for s in range(300)}
    assert len(first) >= 28
    extras = set()
    for s in range(100):
        counts = _counts(assign_balanced(33, rng=s))
        extras.add(int(np.flatnonzero(counts == 2)[0]))
    assert len(extras) >= 25


def test_balanced_node_zero_is_uniform() -> None:
    draws = np.array([assign_balanced(32, rng=s)[0] for s in range(3200)])
    counts = _counts(draws.astype(np.int8))
    # Chi-square with 31 degrees of freedom; 70 is far in the tail (p < 1e-4).
    chi2 = float(((counts - 100) ** 2 / 100).sum())
    assert chi2 < 70


@pytest.mark.parametrize(
    ("bad", "pattern"),
    [
        (-1, r"n_nodes must be >= 0; got -1"),
        (2.5, r"n_nodes must be a non-negative integer; got 2\.5 of type float"),
        (True, r"n_nodes must be a non-negative integer; got True of type bool"),
        ("10", r"n_nodes must be a non-negative integer; got '10' of type str"),
    ],
)
def test_balanced_rejects_bad_n_nodes(bad: object, pattern: str) -> None:
    with pytest.raises(PersonaError, match=pattern):
        assign_balanced(bad)  # type: ignore[arg-type]


# --- weighted --------------------------------------------------------------------------------


def test_weighted_largest_remainder_exact() -> None:
    w = np.zeros(32)
    w[0], w[31] = 2.0, 1.0
    counts = _counts(assign_weighted(10, w, rng=0))
    # 6.67 and 3.33: the larger remainder takes the one node left over.
    assert counts[0] == 7
    assert counts[31] == 3
    assert counts.sum() == 10


def test_weighted_ties_are_broken_at_random() -> None:
    w = np.zeros(32)
    w[4] = w[9] = 1.0
    seen = set()
    for s in range(40):
        counts = _counts(assign_weighted(5, w, rng=s))
        seen.add((int(counts[4]), int(counts[9])))
    assert seen == {(3, 2), (2, 3)}


def test_weighted_equal_weights_match_balanced_counts() -> None:
    counts = _counts(assign_weighted(100, np.ones(32), rng=4))
    assert sorted(counts.tolist()) == [3] * 28 + [4] * 4


@pytest.mark.parametrize("seed", range(20))
def test_weighted_rounding_properties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = rng.random(32) * (rng.random(32) < 0.7)
    w[0] += 0.1  # keep the sum positive
    n = int(rng.integers(0, 500))
    a = assign_weighted(n, w, rng=seed)
    _check_output(a, n)
    counts = _counts(a)
    exact = n * w / w.sum()
    assert counts.sum() == n
    assert np.all(counts[w == 0] == 0)
    assert np.all((counts == np.floor(exact)) | (counts == np.floor(exact) + 1))
    frac = exact - np.floor(exact)
    up = counts > np.floor(exact)
    if up.any() and (~up & (w > 0)).any():
        assert frac[up].min() >= frac[~up & (w > 0)].max() - 1e-12


def test_weighted_normalises() -> None:
    w = np.arange(32, dtype=float)
    a = assign_weighted(300, w, rng=11)
    b = assign_weighted(300, w / 7.0, rng=11)
    assert np.array_equal(a, b)
    assert assign_weighted(300, w.tolist(), rng=11).tobytes() == a.tobytes()
    ints = assign_weighted(300, np.arange(32), rng=11)
    assert np.array_equal(ints, a)


def test_weighted_is_reproducible_and_shuffled() -> None:
    w = np.linspace(1, 2, 32)
    a = assign_weighted(2000, w, rng=42)
    assert a.tobytes() == assign_weighted(2000, w, rng=42).tobytes()
    assert not np.array_equal(a, assign_weighted(2000, w, rng=43))
    assert np.mean(a[1:] == a[:-1]) < 0.1


def test_weighted_mapping_by_code_and_index() -> None:
    a = assign_weighted(9, {"O+C-E+A-N+": 2, 0: 1}, rng=1)
    counts = _counts(a)
    assert counts[21] == 6
    assert counts[0] == 3
    assert counts.sum() == 9
    arr = np.zeros(32)
    arr[21], arr[0] = 2, 1
    assert np.array_equal(a, assign_weighted(9, arr, rng=1))
    assert _counts(assign_weighted(4, {np.int64(3): 1.0, "o+c+e+a+n+": np.float32(1)}, rng=0))[
        [3, 31]
    ].tolist() == [2, 2]


@pytest.mark.parametrize(
    ("weights", "pattern"),
    [
        ([1.0] * 31, r"weights must have shape \(32,\).*got shape \(31,\)"),
        (np.ones((2, 32)), r"weights must have shape \(32,\).*got shape \(2, 32\)"),
        (["a"] * 32, r"weights must be 32 real numbers .*got an array of dtype <U1"),
        ([True] * 32, r"weights must be 32 real numbers .*dtype bool"),
        ([1.0] * 31 + [-0.5], r"weights must be >= 0; persona 31 has weight -0\.5"),
        ([1.0] * 5 + [np.nan] + [1.0] * 26, r"weights must be finite; persona 5 has weight nan"),
        ([np.inf] + [1.0] * 31, r"weights must be finite; persona 0 has weight inf"),
        ([0.0] * 32, r"weights must have a positive sum; got sum 0\.0"),
        ({}, r"weights must have a positive sum; got sum 0\.0"),
        ({"X+C-E+A-N+": 1.0}, r"code must be the letters .*got 'X\+C-E\+A-N\+'"),
        ({32: 1.0}, r"weights: a persona index key must be in 0\.\.31; got 32"),
        ({True: 1.0}, r"weights: mapping keys must be persona codes .*got True of type bool"),
        ({2.0: 1.0}, r"weights: mapping keys must be .*got 2\.0 of type float"),
        ({0: "1"}, r"weights: the weight of 0 must be a real number; got '1'"),
        (
            {0: 1.0, "O-C-E-A-N-": 2.0},
            r"weights: persona 0 is given twice, as 0 and as 'O-C-E-A-N-'",
        ),
        ({1: -1.0}, r"weights must be >= 0; persona 1 has weight -1\.0"),
    ],
)
def test_weighted_rejects_bad_weights(weights: object, pattern: str) -> None:
    with pytest.raises(PersonaError, match=pattern):
        assign_weighted(10, weights, rng=0)  # type: ignore[arg-type]


def test_weighted_rejects_bad_n_nodes() -> None:
    with pytest.raises(PersonaError, match=r"n_nodes must be >= 0; got -3"):
        assign_weighted(-3, np.ones(32))


def test_weighted_zero_nodes() -> None:
    _check_output(assign_weighted(0, np.ones(32), rng=0), 0)


# --- validate --------------------------------------------------------------------------------


def test_validate_returns_read_only_int8_copy() -> None:
    src = np.arange(40) % 32
    out = validate_assignment(src, 40)
    _check_output(out, 40)
    assert np.array_equal(out, src)
    src[0] = 5
    assert out[0] == 0
    assert validate_assignment([0, 31, 16], 3).tolist() == [0, 31, 16]
    assert validate_assignment(np.array([3], dtype=np.uint8), 1).tolist() == [3]
    _check_output(validate_assignment([], 0), 0)


def test_validate_copies_even_int8_input() -> None:
    src = np.zeros(4, dtype=np.int8)
    out = validate_assignment(src, 4)
    assert not np.shares_memory(out, src)
    assert src.flags.writeable


@pytest.mark.parametrize(
    ("value", "n", "pattern"),
    [
        ([0, 1], 3, r"persona_of_node must have one entry per node \(n_nodes=3\); got 2"),
        ([[0, 1]], 2, r"persona_of_node must be one-dimensional.*got shape \(1, 2\)"),
        ([0.0, 1.0], 2, r"persona_of_node must have an integer dtype .*got dtype float64"),
        ([True, False], 2, r"persona_of_node must have an integer dtype .*got dtype bool"),
        (["1", "2"], 2, r"persona_of_node must have an integer dtype .*got dtype <U1"),
        ([0, 32, -1, 5], 4, r"values must be in 0\.\.31; 2 are not \(node 1: 32, node 2: -1\)"),
        ([0, 1], -1, r"n_nodes must be >= 0; got -1"),
    ],
)
def test_validate_rejects(value: object, n: int, pattern: str) -> None:
    with pytest.raises(PersonaError, match=pattern):
        validate_assignment(value, n)  # type: ignore[arg-type]


def test_validate_summarises_many_bad_values() -> None:
    with pytest.raises(PersonaError, match=r"10 are not \(node 0: 40, .*node 4: 40 and 5 more\)"):
        validate_assignment(np.full(10, 40), 10)


def test_assignments_cover_catalog_order() -> None:
    a = assign_balanced(32, rng=0)
    assert sorted(a.tolist()) == [p.index for p in PERSONAS]
