"""``Generator.shuffle`` of a 1-D array in numba: the same permutation, the generator left alike.

Shared by the graph builders (the stubs of a random regular graph) and the persona assignment
(the personas of a large graph): numpy's own shuffle swaps one element at a time through a
generic path for small item sizes, and waits on each scattered load in turn.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.np.random import random_methods

__all__ = ["shuffle_as_numpy"]

# Swaps whose bounded draws are made ahead of the swaps themselves.
_SHUFFLE_BLOCK = 256


@numba.njit(cache=True)
def shuffle_as_numpy(gen: np.random.Generator, values: np.ndarray) -> None:
    """Permute ``values`` in place exactly as ``gen.shuffle(values)`` does, ``gen`` left alike.

    The same Fisher-Yates swaps from the end with the same bounded draws (numba's translation
    of numpy's ``random_interval``: masked draws from the bit generator, rejected above the
    bound), so the permutation and the generator's state afterwards are numpy's. The draws for
    a block of swaps are made before its swaps, whose scattered loads then overlap instead of
    waiting on each other: about three times numpy's speed on 8 million int32 stubs.
    """
    draws = np.empty(_SHUFFLE_BLOCK, dtype=np.int64)
    i = values.shape[0] - 1
    while i > 0:
        m = min(_SHUFFLE_BLOCK, i)
        for b in range(m):
            bound = np.uint64(i - b)
            draw = random_methods.random_interval(gen.bit_generator, bound)  # type: ignore[no-untyped-call]
            draws[b] = np.int64(draw)
        for b in range(m):
            j = draws[b]
            t = values[j]
            values[j] = values[i - b]
            values[i - b] = t
        i -= m
