"""Helpers shared by the test modules."""
import numpy as np

BACKENDS = ["reference", "fast"]

FASHION_DIR = "/usr/share/datasets/fashion-mnist"

# The one tolerance of the suite: results of one formula in one precision
# agree to rounding (scaled by the largest magnitude, see scaled_error).
TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


def num_grad(f, x, h=1e-6):
    """Central differences of f() in each entry of x, changed in place and
    put back: (f(x + h) - f(x - h)) / 2h, in x's dtype."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def rel_error(a, b, scale=None):
    """Norm-wise relative error ||a - b|| / ||scale|| (Frobenius; ``scale``
    defaults to ``b``), 0 when both are 0.

    Norm-wise because a GEMM's error bound is norm-wise and a gradient's tiny
    entries carry the finite-difference noise of the big ones; elementwise
    ratios would flag that noise.  Pass ``scale`` for a result that cancels
    (batch norm's dx: pass (gamma/std)·dout, the size of its terms).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    s = np.linalg.norm(b if scale is None else scale)
    return float(np.linalg.norm(a - b) / s) if s else float(np.linalg.norm(a - b))


def seeded(fn, seed=0):
    """``fn`` with the global RNG reseeded before every call (fixes dropout masks)."""
    def wrapper(*args, **kw):
        np.random.seed(seed)
        return fn(*args, **kw)
    return wrapper


def laid_out(a, layout):
    """A copy of ``a``'s values in the given memory layout.

    'C' and 'F' are contiguous; 'strided' steps every axis by 2 inside a
    bigger array (general strides: a kernel must copy or honour them);
    'padded' pads the last axis, so rows are contiguous but the row stride
    exceeds the width (what BLAS calls lda > n).
    """
    a = np.asarray(a)
    if layout == "C" or a.ndim == 0:
        return np.array(a, order="C", copy=True)
    if layout == "F":
        return np.array(a, order="F", copy=True)
    if layout == "strided":
        big = np.zeros(tuple(2 * s for s in a.shape), dtype=a.dtype)
        view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    elif layout == "padded":
        big = np.zeros(a.shape[:-1] + (a.shape[-1] + 3,), dtype=a.dtype)
        view = big[..., 1:1 + a.shape[-1]]
    else:
        raise ValueError("unknown layout %r" % (layout,))
    view[...] = a
    return view


def scaled_error(a, b):
    """max|a - b| / max|b| over the finite entries; NaN and infinities must match.

    Scaled by the largest magnitude rather than per element: a result that
    cancels to nearly zero (an update p - lr·g, a softmax gradient y - 1)
    carries the absolute rounding error of its operands, which is small next
    to the array but not next to that entry.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    ok = np.isfinite(b)
    assert np.array_equal(a[~ok], b[~ok], equal_nan=True)
    if not ok.any():
        return 0.0
    scale = np.max(np.abs(b[ok]))
    diff = np.max(np.abs(a[ok] - b[ok]))
    return float(diff / scale) if scale > 0 else float(diff)


def assert_close(got, want, dtype=None, tol=None):
    """``got`` equals ``want`` to rounding: same dtype (``dtype`` if given),
    NaN and infinities in the same places, finite entries within ``tol``
    (default: TOL of the dtype) by scaled_error."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if dtype is not None:
        assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    err = scaled_error(got, want)
    assert err <= (TOL[got.dtype] if tol is None else tol), err
