"""The compiled shuffle: numpy's Generator.shuffle, permutation and generator state alike."""

from __future__ import annotations

import numpy as np
import pytest

from spillover._shuffle import shuffle_as_numpy
from spillover.personas import _assign, assign_balanced, assign_weighted


@pytest.mark.parametrize(
    ("size", "dtype", "bit_generator"),
    [
        (0, np.int32, np.random.PCG64),
        (1, np.int32, np.random.PCG64),
        (2, np.int64, np.random.PCG64),
        (257, np.int32, np.random.PCG64),  # one block and one swap more
        (100_003, np.int32, np.random.PCG64),
        (5_000, np.int64, np.random.MT19937),
        (5_000, np.int32, np.random.Philox),
        (70_001, np.int8, np.random.PCG64),  # persona arrays
    ],
)
def test_shuffle_as_numpy_is_numpys_shuffle(size: int, dtype: type, bit_generator: type) -> None:
    # The same permutation and the same generator state afterwards (PCG64 keeps half of a
    # 64-bit draw for the next 32-bit one), so whatever is drawn next is unchanged too.
    for seed in range(3):
        ours, numpys = (np.random.Generator(bit_generator(seed)) for _ in range(2))
        ours.random(seed)  # an odd number of 32-bit halves used up before, for seed 1
        numpys.random(seed)
        stubs = (np.arange(size) % 97).astype(dtype)
        expected = stubs.copy()
        shuffle_as_numpy(ours, stubs)
        numpys.shuffle(expected)
        np.testing.assert_array_equal(stubs, expected)
        np.testing.assert_equal(ours.bit_generator.state, numpys.bit_generator.state)
        np.testing.assert_array_equal(ours.integers(0, 2**62, 5), numpys.integers(0, 2**62, 5))


@pytest.mark.parametrize("n_nodes", [2**16, 2**16 + 37, 100_000])
def test_persona_assignment_is_the_same_with_either_shuffle(
    n_nodes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Large graphs take the compiled shuffle; forcing numpy's gives the same personas.
    weights = np.arange(1, 33, dtype=float)
    compiled = (assign_balanced(n_nodes, rng=5), assign_weighted(n_nodes, weights, rng=5))
    monkeypatch.setattr(_assign, "_COMPILED_SHUFFLE_FROM", 2**62)
    numpys = (assign_balanced(n_nodes, rng=5), assign_weighted(n_nodes, weights, rng=5))
    for ours, theirs in zip(compiled, numpys, strict=True):
        np.testing.assert_array_equal(ours, theirs)
        assert ours.dtype == np.int8 and not ours.flags.writeable
