"""The prefetch hint of the graph kernels: it compiles for their arrays and changes nothing."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from spillover._prefetch import prefetch


@numba.njit(cache=False)
def _sum_with_prefetch(values: np.ndarray, order: np.ndarray, ahead: int) -> float:
    total = 0.0
    for j in range(order.shape[0]):
        if j + ahead < order.shape[0]:
            prefetch(values, order[j + ahead])
        total += values[order[j]]
    return total


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.float64])
def test_a_prefetched_gather_reads_what_a_plain_one_reads(dtype: type) -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(-50, 50, 1000).astype(dtype)
    before = values.copy()
    order = rng.integers(0, 1000, 5000).astype(np.int32)
    for ahead in (0, 1, 16, 6000):
        assert _sum_with_prefetch(values, order, ahead) == pytest.approx(
            float(values[order].astype(np.float64).sum())
        )
    np.testing.assert_array_equal(values, before)


def test_prefetch_refuses_what_is_not_a_one_dimensional_array_and_an_integer() -> None:
    @numba.njit(cache=False)
    def on_matrix(values: np.ndarray) -> None:
        prefetch(values, 0)

    @numba.njit(cache=False)
    def with_float_index(values: np.ndarray) -> None:
        prefetch(values, 0.5)

    with pytest.raises(numba.core.errors.TypingError):
        on_matrix(np.zeros((2, 2)))
    with pytest.raises(numba.core.errors.TypingError):
        with_float_index(np.zeros(2))
