"""Output buffers that are reused, but never overwritten while someone holds them.

The compiled layers write their outputs into arrays they keep from one call
to the next, so a training step allocates nothing.  A buffer is reused only
while nothing outside its pool references it, judged by the reference count
(which counts views, memoryviews and the next layer holding the array as its
input); otherwise the layer takes a fresh array.  So an array a layer
returned never changes under whoever holds it.

Two buffers per pool suffice in a training loop: the one a layer returned on
the last step may still be held by the next layer (Affine keeps its input
for its backward pass) when the layer runs again; the one from the step
before is free by then.
"""
import sys

import numpy as np

POOL_SIZE = 2


def _count_free(pool):
    for a in pool:
        return sys.getrefcount(a)


def _calibrate():
    """The reference count ``take`` sees for an array only the pool holds
    (interpreter-dependent); 0 (never reuse) without sys.getrefcount."""
    if not hasattr(sys, "getrefcount"):  # pragma: no cover - not CPython
        return 0
    pool = [np.empty(1)]
    free = _count_free(pool)
    view = pool[0][:]
    held = _count_free(pool)
    del view
    return free if held > free else 0


_FREE = _calibrate()


def take(pool, shape, dtype):
    """An array of ``shape``/``dtype`` from ``pool`` (a list) that nothing outside
    the pool references (its contents are garbage), or a new one added to it."""
    for a in pool:
        if a.shape == shape and a.dtype == dtype and sys.getrefcount(a) <= _FREE:
            return a
    a = np.empty(shape, dtype=dtype)
    if len(pool) >= POOL_SIZE:
        del pool[0]
    pool.append(a)
    return a
