"""The counting stand-ins of ``spillover._pool`` give exactly what ``np.unique`` and
``np.add.at`` give."""

from __future__ import annotations

import numpy as np
import pytest

from spillover._pool import group_sums, unique_inverse


@pytest.mark.parametrize(
    "key",
    [
        np.array([3, 1, 3, 0, 7, 1], dtype=np.int64),
        np.array([5, 5, 5], dtype=np.int32),
        np.array([2, 0, 9], dtype=np.int16),
        np.array([4, 1, 4], dtype=np.uint8),
        np.array([4, 1, 4], dtype=np.uint64),  # not counted (bincount refuses uint64)
        np.array([-2, 5, -2, 0], dtype=np.int64),  # negative keys: sorted instead
        np.array([10**9, 3, 10**9], dtype=np.int64),  # too large a range: sorted instead
        np.zeros(0, dtype=np.int64),
    ],
)
def test_unique_inverse_is_np_unique(key: np.ndarray) -> None:
    values, inverse = unique_inverse(key)
    expected_values, expected_inverse = np.unique(key, return_inverse=True)
    assert values.dtype == expected_values.dtype
    np.testing.assert_array_equal(values, expected_values)
    assert inverse.dtype == np.intp
    np.testing.assert_array_equal(inverse, expected_inverse)


def test_unique_inverse_on_a_large_random_key() -> None:
    key = np.random.default_rng(3).integers(0, 700, size=50_000)
    values, inverse = unique_inverse(key)
    expected_values, expected_inverse = np.unique(key, return_inverse=True)
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(inverse, expected_inverse)


@pytest.mark.parametrize("shape", [(20_000,), (20_000, 3)])
def test_group_sums_is_np_add_at_to_the_bit(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(5)
    # Values of very different sizes, so that a different order of additions would show.
    values = rng.standard_normal(shape) * 10.0 ** rng.integers(-8, 9, size=shape)
    index = rng.integers(0, 37, size=shape[0])
    expected = np.zeros((40, *shape[1:]))
    np.add.at(expected, index, values)
    got = group_sums(index, values, 40)
    assert got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


def test_group_sums_of_integers_and_of_nothing() -> None:
    index = np.array([1, 0, 1])
    values = np.array([2, 3, 4], dtype=np.int64)
    expected = np.zeros(3)
    np.add.at(expected, index, values)
    np.testing.assert_array_equal(group_sums(index, values, 3), expected)
    assert group_sums(np.zeros(0, dtype=np.intp), np.zeros((0, 2)), 0).shape == (0, 2)
