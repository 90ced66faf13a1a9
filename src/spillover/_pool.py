"""Grouping by small integer keys: exact, faster stand-ins for ``np.unique`` and ``np.add.at``.

The fits pool exposure tables by (persona, m), (replicate, round) and similar keys, whose
values are small non-negative integers. Counting them (``np.bincount``) gives exactly what
sorting them (``np.unique``) gives, in a fraction of the time; and ``np.bincount`` with weights
adds each row's value to its group in row order, exactly as ``np.add.at`` does, so sums are
the same to the last bit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["group_sums", "unique_inverse"]

#: Keys up to this value (or four times the number of rows, if larger) are counted; larger
#: ones are sorted (``np.unique``), so that the counting table stays small.
_MAX_COUNTED = 1 << 16


def unique_inverse(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, return_inverse=True)``, by counting when the keys allow it.

    Returns
    -------
    (values, inverse) : the distinct keys in increasing order (``key``'s dtype) and, per row,
        the position of its key among them (``np.intp``), equal to what ``np.unique`` returns.
    """
    key = np.asarray(key)
    countable = key.dtype.kind == "i" or (key.dtype.kind == "u" and key.dtype.itemsize < 8)
    if key.ndim == 1 and key.size and countable:
        lo, hi = int(key.min()), int(key.max())
        if lo >= 0 and hi < max(_MAX_COUNTED, 4 * key.size):
            present = np.bincount(key) > 0
            rank = np.cumsum(present, dtype=np.intp) - 1
            return np.flatnonzero(present).astype(key.dtype), rank[key]
    values, inverse = np.unique(key, return_inverse=True)
    return values, inverse.reshape(-1)


def group_sums(index: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """``out = zeros((n_groups, *values.shape[1:])); np.add.at(out, index, values)``.

    ``index`` holds group numbers in ``0..n_groups-1``; ``values`` one value (or one row of
    values) per entry of ``index``. Each group's sum is accumulated in row order, as
    ``np.add.at`` accumulates it.
    """
    index = np.asarray(index)
    values = np.asarray(values)
    if values.ndim == 1:
        return np.bincount(index, weights=values, minlength=n_groups)
    flat = values.reshape(values.shape[0], int(np.prod(values.shape[1:])))
    out = np.empty((n_groups, flat.shape[1]))
    for j in range(flat.shape[1]):
        out[:, j] = np.bincount(index, weights=flat[:, j], minlength=n_groups)
    return out.reshape((n_groups, *values.shape[1:]))
