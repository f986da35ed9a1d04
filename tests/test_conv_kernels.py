"""Compiled Convolution/Pooling/im2col/col2im against the plain-NumPy reference.

Property-based over shapes, strides, pads, dtypes, memory layouts and byte
orders: float64 to 1e-12 (scaled by the largest entry), float32 to float32
rounding; im2col, pooling outputs and ``arg_max`` exactly.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from fastnn import layers as fast, util
from fastnn.reference import layers as ref, util as ref_util

from _util import laid_out, scaled_error

SETTINGS = settings(max_examples=40, deadline=None)
TOL = {np.float64: 1e-12, np.float32: 2e-5}


def geometry():
    return st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 9),
                     st.integers(1, 9), st.integers(1, 4), st.integers(1, 4),
                     st.integers(1, 3), st.integers(0, 2))


def arrange(a, layout, byteorder):
    a = laid_out(a, layout)
    if byteorder == "swapped":
        a = a.astype(a.dtype.newbyteorder()) if a.flags.c_contiguous else \
            laid_out(a.astype(a.dtype.newbyteorder()), layout)
    return a


layouts = st.sampled_from(["C", "F", "strided"])
byteorders = st.sampled_from(["native", "swapped"])
dtypes = st.sampled_from([np.float64, np.float32])


@SETTINGS
@given(g=geometry(), fn=st.integers(1, 4), dtype=dtypes, layout=layouts, order=byteorders,
       seed=st.integers(0, 2 ** 16))
def test_convolution_matches_reference(g, fn, dtype, layout, order, seed):
    n, c, h, w, fh, fw, stride, pad = g
    assume(h + 2 * pad >= fh and w + 2 * pad >= fw)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    W = rng.standard_normal((fn, c, fh, fw)).astype(dtype)
    b = rng.standard_normal(fn).astype(dtype)
    f = fast.Convolution(W, b, stride, pad)
    r = ref.Convolution(W.astype(np.float64), b.astype(np.float64), stride, pad)
    out = f.forward(arrange(x, layout, order))
    want = r.forward(x.astype(np.float64))
    assert out.dtype == dtype and out.shape == want.shape
    assert scaled_error(out, want) <= TOL[dtype]
    dout = rng.standard_normal(want.shape).astype(dtype)
    dx = f.backward(arrange(dout, layout, order))
    want_dx = r.backward(dout.astype(np.float64))
    assert scaled_error(dx, want_dx) <= TOL[dtype]
    assert scaled_error(f.dW, r.dW) <= TOL[dtype]
    # db sums N·OH·OW entries of dout per filter: its rounding is relative
    # to those entries' magnitudes, not to a sum that may cancel to ~0.
    magnitude = np.abs(dout.astype(np.float64)).sum(axis=(0, 2, 3))
    assert np.all(np.abs(f.db - r.db) <= TOL[dtype] * np.maximum(magnitude, 1.0))
    # The book's attributes, in its layout.
    np.testing.assert_array_equal(f.col, ref_util.im2col(x.astype(np.float64), fh, fw,
                                                         stride, pad))
    assert f.col_W.shape == r.col_W.shape


@SETTINGS
@given(g=geometry(), dtype=dtypes, layout=layouts, order=byteorders,
       seed=st.integers(0, 2 ** 16), ties=st.booleans())
def test_pooling_matches_reference(g, dtype, layout, order, seed, ties):
    n, c, h, w, ph, pw, stride, pad = g
    h, w = h + ph - 1, w + pw - 1          # at least one window
    out_h, out_w = int(1 + (h - ph) / stride), int(1 + (w - pw) / stride)
    if (h + 2 * pad - ph) // stride + 1 != out_h or (w + 2 * pad - pw) // stride + 1 != out_w:
        pad = 0                            # a pad the book's Pooling cannot take
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    if ties:   # few distinct values, many negative: ties and zero padding winning
        x = np.round(x) - 1.0
    x = x.astype(dtype)
    f = fast.Pooling(ph, pw, stride, pad)
    r = ref.Pooling(ph, pw, stride, pad)
    out = f.forward(arrange(x, layout, order))
    want = r.forward(x)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(f.arg_max, r.arg_max)
    dout = rng.standard_normal(want.shape).astype(dtype)
    dx = f.backward(arrange(dout, layout, order))
    assert scaled_error(dx, r.backward(dout)) <= TOL[dtype]


@SETTINGS
@given(g=geometry(), dtype=dtypes, layout=layouts, order=byteorders, seed=st.integers(0, 2 ** 16))
def test_im2col_col2im_match_reference(g, dtype, layout, order, seed):
    n, c, h, w, fh, fw, stride, pad = g
    assume(h + 2 * pad >= fh and w + 2 * pad >= fw)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    col = util.im2col(arrange(x, layout, order), fh, fw, stride, pad)
    want = ref_util.im2col(x, fh, fw, stride, pad)
    assert col.dtype == np.float64
    np.testing.assert_array_equal(col, want)
    dcol = rng.standard_normal(want.shape).astype(dtype)
    img = util.col2im(arrange(dcol, layout, order), x.shape, fh, fw, stride, pad)
    assert scaled_error(img, ref_util.col2im(dcol, x.shape, fh, fw, stride, pad)) <= 1e-15


def test_pooling_nan_wins_like_argmax():
    x = np.array([[[[1.0, np.nan], [np.nan, 5.0]]]])
    f, r = fast.Pooling(2, 2), ref.Pooling(2, 2)
    np.testing.assert_array_equal(f.forward(x), r.forward(x))
    np.testing.assert_array_equal(f.arg_max, r.arg_max)


def test_first_layer_skips_dx():
    rng = np.random.default_rng(0)
    layer = fast.Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(2))
    out = layer.forward(rng.standard_normal((2, 1, 5, 5)))
    layer.need_input_grad = False
    assert layer.backward(np.ones_like(out)) is None
    assert layer.dW.shape == (2, 1, 3, 3)


@pytest.mark.parametrize("dtype", [np.int64, np.float16])
def test_other_dtypes_run_the_reference(dtype):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 2, 6, 6)) * 4).astype(dtype)
    W = rng.standard_normal((3, 2, 3, 3))
    out = fast.Convolution(W, np.zeros(3)).forward(x)
    want = ref.Convolution(W, np.zeros(3)).forward(x)
    assert scaled_error(out, want) <= 1e-12
    np.testing.assert_array_equal(fast.Pooling(2, 2).forward(x), ref.Pooling(2, 2).forward(x))


def test_returned_arrays_are_not_overwritten():
    rng = np.random.default_rng(2)
    layer = fast.Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(2))
    x = rng.standard_normal((2, 1, 5, 5))
    first = layer.forward(x)
    kept = first.copy()
    layer.forward(x * 2)
    layer.forward(x * 3)
    np.testing.assert_array_equal(first, kept)


@pytest.mark.parametrize("window", [(2, 2, 2), (3, 3, 3), (2, 3, 2), (1, 1, 1)])
@pytest.mark.parametrize("size", [(6, 8), (7, 9)])
def test_pooling_tiled_paths_with_ties_and_uncovered_edges(window, size):
    """Non-overlapping windows (stride = pool size, the book's 2x2/2) run
    special loops; odd sizes leave rows/columns no window covers."""
    ph, pw, stride = window
    rng = np.random.default_rng(3)
    x = np.round(rng.standard_normal((2, 3) + size))
    f, r = fast.Pooling(ph, pw, stride), ref.Pooling(ph, pw, stride)
    np.testing.assert_array_equal(f.forward(x), r.forward(x))
    np.testing.assert_array_equal(f.arg_max, r.arg_max)
    dout = rng.standard_normal(r.forward(x).shape)
    stale = f.backward(dout * 7)           # a reused dx buffer must be fully rewritten
    del stale
    np.testing.assert_array_equal(f.backward(dout), r.backward(dout))


def test_pooling_windows_over_256_entries():
    """Indices that do not fit a byte (17x16 windows) keep their own dtype path."""
    x = np.random.default_rng(4).standard_normal((2, 2, 20, 19))
    f, r = fast.Pooling(17, 16, stride=3), ref.Pooling(17, 16, stride=3)
    np.testing.assert_array_equal(f.forward(x), r.forward(x))
    np.testing.assert_array_equal(f.arg_max, r.arg_max)
    assert f.arg_max.max() > 255
    dout = np.arange(1.0, 1.0 + r.forward(x).size).reshape(r.forward(x).shape)
    np.testing.assert_array_equal(f.backward(dout), r.backward(dout))


@pytest.mark.parametrize("make", [
    lambda rng: (fast.Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(2)), "Convolution"),
    lambda rng: (fast.Pooling(2, 2), "Pooling")])
def test_concurrent_training_entry_raises_naming_the_layer(make):
    from test_kernels_hardening import Blocking, _finish, _inside

    class Blocks(Blocking):   # the NumPy backward's first call is dout.transpose
        def transpose(self, *axes):
            if not Blocking.entered.is_set():
                Blocking.entered.set()
                assert Blocking.release.wait(30)
            return np.asarray(self).transpose(*axes)
    rng = np.random.default_rng(5)
    layer, name = make(rng)
    x = rng.standard_normal((2, 1, 6, 6))
    dout = rng.standard_normal(layer.forward(x).shape)
    thread, errors = _inside(lambda: layer.backward(dout.view(Blocks)))
    try:
        with pytest.raises(RuntimeError, match="%s .*another thread" % name):
            layer.backward(dout)
        with pytest.raises(RuntimeError, match=name):
            layer.forward(x)
    finally:
        _finish(thread, errors)
    layer.forward(x)            # free again once the other thread has left
    layer.backward(dout)
