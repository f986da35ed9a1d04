"""Winograd F(2x2, 3x3): float32 3x3 stride-1 convolutions with at least 8
input channels (forward) or 8 filters (the input gradient).

The layer is compared with the float64 reference (to float32 rounding,
scaled by the largest entry) on the shapes that take that path: odd and
even sizes (tiles past the edge), pads 0-3 (the input gradient falls back
to col2im past 2), batches split into several chunks.  The kernel itself is
compared in float64 to 1e-12, with and without the flip, and the switch
``conv.WINOGRAD`` gives the im2col path the same answers.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from fastnn import layers as fast
from fastnn._kernels import conv as kconv
from fastnn.reference import layers as ref

from _util import laid_out, scaled_error

SETTINGS = settings(max_examples=30, deadline=None)


@SETTINGS
@given(n=st.integers(1, 3), c=st.integers(8, 11), fn=st.integers(1, 11),
       h=st.integers(1, 11), w=st.integers(1, 11), pad=st.integers(0, 3),
       layout=st.sampled_from(["C", "F", "strided"]), seed=st.integers(0, 2 ** 16))
def test_layer_float32_matches_reference(n, c, fn, h, w, pad, layout, seed):
    assume(h + 2 * pad >= 3 and w + 2 * pad >= 3)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    W = rng.standard_normal((fn, c, 3, 3)).astype(np.float32)
    b = rng.standard_normal(fn).astype(np.float32)
    f = fast.Convolution(W, b, 1, pad)
    r = ref.Convolution(W.astype(np.float64), b.astype(np.float64), 1, pad)
    out = f.forward(laid_out(x, layout))
    want = r.forward(x.astype(np.float64))
    assert out.dtype == np.float32 and out.shape == want.shape
    assert scaled_error(out, want) <= 2e-5
    dout = rng.standard_normal(want.shape).astype(np.float32)
    dx = f.backward(laid_out(dout, layout))
    assert dx.dtype == np.float32
    assert scaled_error(dx, r.backward(dout.astype(np.float64))) <= 2e-5
    assert scaled_error(f.dW, r.dW) <= 2e-5
    assert scaled_error(f.db, r.db) <= 2e-5


def _scratch(n, c, fn, oh, ow, nb, dtype):
    # chunks of nb samples: the sizes for a chunk budget of exactly nb
    itemsize = 1 << 20
    while kconv.wino_sizes(n, c, fn, oh, ow, itemsize)[0] < nb:
        itemsize //= 2
    size = kconv.wino_sizes(n, c, fn, oh, ow, itemsize)[1]
    return np.full(size, np.nan, dtype)                         # no stale zeros read


@SETTINGS
@given(n=st.integers(1, 5), c=st.integers(1, 6), fn=st.integers(1, 6),
       h=st.integers(1, 10), w=st.integers(1, 10), pad=st.integers(0, 2),
       flip=st.booleans(), chunk=st.integers(1, 5), seed=st.integers(0, 2 ** 16))
def test_kernel_float64_matches_reference(n, c, fn, h, w, pad, flip, chunk, seed):
    assume(h + 2 * pad >= 3 and w + 2 * pad >= 3)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    W = rng.standard_normal((fn, c, 3, 3))
    b = rng.standard_normal(fn)
    r = ref.Convolution(W, b, 1, pad)
    y = r.forward(x)
    nb = min(chunk, n)
    if not flip:
        out = np.full(y.shape, np.nan)
        kconv.wino_conv(x, W, b, pad, False, out,
                        _scratch(n, c, fn, *y.shape[2:], nb, np.float64), nb)
        want = y
    else:
        dout = rng.standard_normal(y.shape)
        out = np.full(x.shape, np.nan)
        kconv.wino_conv(dout, W, None, 2 - pad, True, out,
                        _scratch(n, fn, c, h, w, nb, np.float64), nb)
        want = r.backward(dout)
    assert scaled_error(out, want) <= 1e-12


def test_switch_off_gives_the_same_answers(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 16, 9, 10)).astype(np.float32)
    W = rng.standard_normal((12, 16, 3, 3)).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)
    runs = []
    for on in (True, False):
        monkeypatch.setattr(kconv, "WINOGRAD", on)
        f = fast.Convolution(W, b, 1, 1)
        out = f.forward(x).copy()
        dx = f.backward(np.ones_like(out)).copy()
        runs.append((out, dx, f.dW.copy()))
    for a, b_ in zip(*runs):
        assert scaled_error(a, b_.astype(np.float64)) <= 2e-5


def test_nan_stays_in_its_receptive_field():
    # A tile's four outputs read different 3x3 parts of its 4x4 patch: a NaN
    # must reach exactly the outputs whose window holds it, as direct sums do.
    x = np.ones((1, 8, 6, 6), np.float32)
    x[0, 3, 2, 2] = np.nan
    W = np.ones((8, 8, 3, 3), np.float32)
    out = fast.Convolution(W, np.zeros(8, np.float32), 1, 0).forward(x)
    want = np.zeros((4, 4), bool)
    want[0:3, 0:3] = True                  # outputs whose window covers (2, 2)
    np.testing.assert_array_equal(np.isnan(out[0, 0]), want)


def test_kernel_refuses_a_short_scratch():
    x = np.ones((2, 8, 5, 5))
    W = np.ones((8, 8, 3, 3))
    out = np.empty((2, 8, 5, 5))
    nb, size = kconv.wino_sizes(2, 8, 8, 5, 5, 8)
    with pytest.raises(ValueError, match="scratch"):
        kconv.wino_conv(x, W, None, 1, False, out, np.empty(size - 1), nb)
    with pytest.raises(ValueError, match="scratch"):
        kconv.wino_conv(x, W, None, 1, False, out, np.empty(size), nb + 1)


@SETTINGS
@given(n=st.integers(1, 5), c=st.integers(1, 6), fn=st.integers(1, 6),
       h=st.integers(1, 10), w=st.integers(1, 10), pad=st.integers(0, 3),
       chunk=st.integers(1, 5), seed=st.integers(0, 2 ** 16))
def test_weight_gradient_float64_matches_reference(n, c, fn, h, w, pad, chunk, seed):
    assume(h + 2 * pad >= 3 and w + 2 * pad >= 3)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    W = rng.standard_normal((fn, c, 3, 3))
    r = ref.Convolution(W, rng.standard_normal(fn), 1, pad)
    dout = rng.standard_normal(r.forward(x).shape)
    r.backward(dout)
    nb = min(chunk, n)
    dw, db = np.full(W.shape, np.nan), np.full(fn, np.nan)
    kconv.wino_weight_grad(x, dout, pad, dw, db,
                           _scratch(n, c, fn, *dout.shape[2:], nb, np.float64), nb)
    assert scaled_error(dw, r.dW) <= 1e-12
    # db is a sum that can cancel: its rounding is relative to the summands
    assert np.max(np.abs(db - r.db)) <= 1e-12 * np.max(np.abs(dout).sum(axis=(0, 2, 3)))
