"""Helpers shared by the test modules."""
import numpy as np

BACKENDS = ["reference", "fast"]


def rel_error(a, b):
    """Norm-wise relative error ||a-b|| / (||a|| + ||b||), 0 when both are 0.

    Norm-wise because a gradient's tiny entries carry the finite-difference
    noise of the big ones; elementwise ratios would flag that noise.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    if denom == 0:
        return 0.0
    return float(np.linalg.norm(a - b) / denom)


def seeded(fn, seed=0):
    """``fn`` with the global RNG reseeded before every call (fixes dropout masks)."""
    def wrapper(*args, **kw):
        np.random.seed(seed)
        return fn(*args, **kw)
    return wrapper
