"""Review of the sequel layers' thread work (rnn.pyx's two-thread pipeline
and row blocks, attention.pyx's row split, parallel.pyx's GEMMs): the
one-thread bits kept where they can break (stateful calls with dh_next and
dc_next, small and odd batch sizes, T = 1, threadpoolctl raising the BLAS)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from _util import num_grad

import fastnn
from fastnn.backends import get_ops


@pytest.fixture
def threads():
    old = fastnn.get_num_threads()
    yield fastnn.set_num_threads
    fastnn.set_num_threads(old)


def _lstm(ops, xs, Wx, Wh, b, h0, c0, dhs, dhn, dcn):
    hs, hl, cl, cache = ops.lstm_forward(xs, Wx, Wh, b, h0, c0)
    g = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
    dxs, dh, dc = ops.lstm_backward(dhs, dhn, dcn, cache, Wx, Wh, *g)
    return [np.array(a, copy=True) for a in [hs, hl, cl, dxs, dh, dc] + g]


def _rnn(ops, xs, Wx, Wh, b, h0, c0, dhs, dhn, dcn):
    hs, hl, cache = ops.rnn_forward(xs, Wx, Wh, b, h0)
    g = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
    dxs, dh = ops.rnn_backward(dhs, dhn, cache, Wx, Wh, *g)
    return [np.array(a, copy=True) for a in [hs, hl, dxs, dh] + g]


def _inputs(rng, k, N, T, D, H, dtype, state):
    def r(*s):
        return rng.standard_normal(s).astype(dtype)

    Wx, Wh, b = r(D, k * H) * 0.5, r(H, k * H) * 0.5, r(k * H) * 0.1
    h0 = r(N, H) if state else np.zeros((N, H), dtype)
    c0 = r(N, H) if state else np.zeros((N, H), dtype)
    return [r(N, T, D), Wx, Wh, b, h0, c0, r(N, T, H),
            r(N, H) if state else None, r(N, H) if state else None]


def _assert_one_thread_bits(threads, fn, args, calls):
    """fn(ops, *args) on two threads, ``calls`` times (the pool times both
    ways of running each region), gives the one-thread arrays bit for bit."""
    ops = get_ops("compiled")
    threads(1)
    want = fn(ops, *args)
    threads(2)
    for _ in range(calls):
        for got, ref in zip(fn(ops, *args), want):
            np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("fn,k", [(_lstm, 4), (_rnn, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,T,D,H", [(2, 1, 3, 7), (17, 5, 0, 64), (33, 1, 100, 100),
                                     (100, 3, 5, 1), (200, 2, 100, 128), (128, 4, 64, 100)])
@pytest.mark.parametrize("state", [False, True])
def test_two_threads_give_the_one_thread_bits_at_the_ops(threads, fn, k, dtype, N, T, D, H,
                                                         state):
    """lstm/rnn forward and backward through the ops (dh_next and dc_next
    given or None, h0/c0 given or zero) at the edges of the pipeline (N = 2,
    T = 1, D = 0) and of the row blocks (N not a multiple of 16): every
    array equal to the one-thread one, call after call (the pool times both
    ways of running each region)."""
    args = _inputs(np.random.default_rng(N * 1000 + H), k, N, T, D, H, dtype, state)
    _assert_one_thread_bits(threads, fn, args, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_lstm_under_a_blas_limit_keeps_the_one_thread_bits(threads, dtype):
    """A layer past the per-step size (whole-sequence GEMMs) under
    threadpool_limits(2, "blas"): on one pool thread and on two, the
    arrays of one pool thread without the limit."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    ops = get_ops("compiled")
    args = _inputs(np.random.default_rng(3), 4, 64, 4, 400, 128, dtype, True)
    threads(1)
    want = _lstm(ops, *args)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        for n in (1, 2, 1):
            threads(n)
            for got, ref in zip(_lstm(ops, *args), want):
                np.testing.assert_array_equal(got, ref)


def _laid_out(a, perm, flip):
    """``a``'s values in memory of axis order ``perm`` (and ``flip``'s axes
    stored backwards): the same array, another layout."""
    inv = np.argsort(perm)
    b = np.ascontiguousarray(a.transpose(perm)).transpose(inv)
    for ax in flip:
        b = np.flip(np.ascontiguousarray(np.flip(b, ax)), ax)
    np.testing.assert_array_equal(b, a)
    return b


_PERMS = st.sampled_from([(0, 1, 2), (2, 1, 0), (1, 0, 2), (0, 2, 1), (1, 2, 0), (2, 0, 1)])
_FLIPS = st.sampled_from([(), (0,), (2,), (0, 1, 2)])


@settings(max_examples=60, deadline=None)
@given(N=st.integers(1, 20), T=st.integers(1, 30), Td=st.integers(1, 6), H=st.integers(2, 130),
       dtype=st.sampled_from([np.float32, np.float64]), which=st.sampled_from(["hs", "hd", "dout"]),
       perm=_PERMS, flip=_FLIPS, two=st.booleans(), seed=st.integers(0, 2**31))
def test_time_attention_in_any_memory_layout_is_the_books_steps(N, T, Td, H, dtype, which, perm,
                                                                 flip, two, seed):
    """TimeAttention on inputs in any memory order (Fortran, transposed,
    reversed): every array the NumPy twin's bit for bit, on one thread or
    two.  (An hs in Fortran order used to differ: the book's products
    follow its memory order, and so does NumPy's sum over them.)"""
    from fastnn.nlp.attention_layer import TimeAttention
    rng = np.random.default_rng(seed)
    arrays = {"hs": rng.standard_normal((N, T, H)).astype(dtype),
              "hd": rng.standard_normal((N, Td, H)).astype(dtype),
              "dout": rng.standard_normal((N, Td, H)).astype(dtype)}
    arrays[which] = _laid_out(arrays[which], perm, flip)

    def run(layer):
        out = layer.forward(arrays["hs"], arrays["hd"])
        return [out.copy()] + [g.copy() for g in layer.backward(arrays["dout"])] + [
            w.copy() for w in layer.attention_weights]

    ref = TimeAttention()
    ref.ops = get_ops("numpy")
    want = run(ref)
    old = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(2 if two else 1)
        got = run(TimeAttention())
    finally:
        fastnn.set_num_threads(old)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("N,H", [(40, 300), (33, 350), (64, 180)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rnn_of_a_wide_state_on_two_threads_is_the_one_thread_rnn(threads, N, H, dtype):
    """A TimeRNN within the per-step size with H past 256: its forward's
    h·Wh used to be split by columns on two threads (blas_gemm), which
    OpenBLAS rounds otherwise than the whole product when H exceeds its
    inner block (float64, H = 300: hs differed); now two blocks of batch
    rows or the whole product, the one-thread bits."""
    args = _inputs(np.random.default_rng(H), 1, N, 3, 10, H, dtype, True)
    _assert_one_thread_bits(threads, _rnn, args, 3)


@pytest.mark.parametrize("H", [63, 99, 101, 120, 128])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_row_blocks_on_two_threads_keep_the_one_thread_bits(threads, H, dtype):
    """The LSTM forward's recurrence in two blocks of batch rows (N = 128:
    rnn.pyx, _row_pieces) gives the one-thread hs, h and c.  OpenBLAS
    rounds a float64 block of h·Wh otherwise than the whole product when H
    is odd (H = 63, 99, 101 differed): there the product stays whole."""
    args = _inputs(np.random.default_rng(H), 4, 128, 3, 20, H, dtype, True)
    _assert_one_thread_bits(threads, _lstm, args, 3)


@pytest.mark.parametrize("cls,k", [("TimeLSTM", 4), ("TimeRNN", 1)])
def test_recurrent_gradients_on_two_threads(threads, cls, k):
    """The two-thread pipeline's backward (N > 1, a per-step layer) against
    a numerical gradient, with a carried state (set_state)."""
    from fastnn.nlp import time_layers as tl
    threads(2)
    rng = np.random.default_rng(2)
    N, T, D, H = 3, 4, 3, 5
    Wx, Wh, b = (rng.standard_normal((D, k * H)) * 0.5, rng.standard_normal((H, k * H)) * 0.5,
                 rng.standard_normal(k * H) * 0.1)
    xs, dhs = rng.standard_normal((N, T, D)), rng.standard_normal((N, T, H))
    h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    layer = getattr(tl, cls)(Wx, Wh, b, stateful=True)

    def f():
        layer.set_state(h0.copy(), c0.copy()) if k == 4 else layer.set_state(h0.copy())
        return float(np.sum(layer.forward(xs) * dhs))

    f()
    dx = layer.backward(dhs).copy()
    grads = [g.copy() for g in layer.grads]
    for x, g in [(xs, dx)] + list(zip(layer.params, grads)):
        np.testing.assert_allclose(g, num_grad(f, x), rtol=1e-6, atol=1e-7)
