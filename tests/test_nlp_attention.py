"""The sequel's attention layers (chapter 8): TimeAttention's whole-sequence
kernels bit for bit against the book's step-by-step formulas (NumpyOps),
numerical gradients, NumPy's summation orders they rely on, and (with
FASTNN_BOOK2_DIR) the book's own classes."""
import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from _util import num_grad

from fastnn.backends import get_ops
from fastnn.nlp.attention_layer import Attention, AttentionWeight, TimeAttention, WeightSum

BOOK2 = os.environ.get("FASTNN_BOOK2_DIR")


def _run(layer, hs, hd, dout):
    out = layer.forward(hs, hd)
    return (out,) + tuple(layer.backward(dout)) + tuple(layer.attention_weights)


def _equal(xs, ys):
    assert len(xs) == len(ys)
    for x, y in zip(xs, ys):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


@settings(max_examples=40, deadline=None)
@given(N=st.integers(1, 6), T=st.integers(1, 12), Td=st.integers(1, 6), H=st.integers(1, 140),
       dtype=st.sampled_from([np.float32, np.float64]), strided=st.booleans(),
       seed=st.integers(0, 2**31))
def test_time_attention_is_the_books_steps_bit_for_bit(N, T, Td, H, dtype, strided, seed):
    rng = np.random.default_rng(seed)
    hs = rng.standard_normal((N, T, H)).astype(dtype)
    hd = rng.standard_normal((N, Td, H)).astype(dtype)
    if strided:
        hs = np.repeat(hs, 2, axis=2)[:, :, ::2]
        hd = np.repeat(hd, 2, axis=0)[::2]
    dout = rng.standard_normal((N, Td, H)).astype(dtype)
    fast, ref = TimeAttention(), TimeAttention()
    ref.ops = get_ops("numpy")
    _equal(_run(fast, hs, hd, dout), _run(ref, hs, hd, dout))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_time_attention_split_over_threads_is_the_books_steps(dtype):
    """At sizes that split the four passes over batch rows (attention.pyx,
    _run) on two threads, every array is still the book's steps bit for bit."""
    import fastnn
    rng = np.random.default_rng(7)
    hs = rng.standard_normal((80, 8, 64)).astype(dtype)
    hd = rng.standard_normal((80, 4, 64)).astype(dtype)
    dout = rng.standard_normal((80, 4, 64)).astype(dtype)
    old = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(2)
        fast = [_run(TimeAttention(), hs, hd, dout) for _ in range(3)]
    finally:
        fastnn.set_num_threads(old)
    ref = TimeAttention()
    ref.ops = get_ops("numpy")
    for got in fast:
        _equal(got, _run(ref, hs, hd, dout))


def test_numpy_sums_the_middle_axis_row_by_row_from_zero():
    # What the kernels reproduce for np.sum(..., axis=1) with H >= 2 (and why
    # H = 1, which NumPy sums pairwise, is left to NumpyOps).
    rng = np.random.default_rng(1)
    for shape in [(3, 200, 2), (2, 29, 256), (1, 1000, 8)]:
        x = rng.standard_normal(shape)
        acc = np.zeros((shape[0], shape[2])) + x[:, 0, :]
        for t in range(1, shape[1]):
            acc = acc + x[:, t, :]
        np.testing.assert_array_equal(np.sum(x, axis=1), acc)
    assert not np.signbit(np.sum(np.full((1, 3, 2), -0.0), axis=1)).any()


def test_time_attention_gradients_are_numerical_gradients():
    rng = np.random.default_rng(2)
    hs, hd = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 3, 3))
    w = rng.standard_normal((2, 3, 3))
    layer = TimeAttention()

    def f():
        return float(np.sum(layer.forward(hs, hd) * w))
    f()
    dhs, dhd = layer.backward(w.copy())
    for x, analytic in ((hs, dhs), (hd, dhd)):
        np.testing.assert_allclose(analytic, num_grad(f, x), rtol=1e-6, atol=1e-8)


def test_single_step_layers_compose_to_time_attention():
    rng = np.random.default_rng(3)
    hs, h = rng.standard_normal((3, 5, 4)), rng.standard_normal((3, 4))
    step = Attention()
    out = step.forward(hs, h)
    whole = TimeAttention()
    np.testing.assert_array_equal(out, whole.forward(hs, h[:, None, :])[:, 0])
    dc = rng.standard_normal((3, 4))
    dhs, dh = step.backward(dc)
    dhs2, dhd = whole.backward(dc[:, None, :])
    np.testing.assert_array_equal(dhs, dhs2)
    np.testing.assert_array_equal(dh, dhd[:, 0])
    a = AttentionWeight().forward(hs, h)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    np.testing.assert_array_equal(WeightSum().forward(hs, a), out)


def test_bad_shapes_get_clear_errors():
    layer = TimeAttention()
    with pytest.raises(ValueError, match="encoder states"):
        layer.forward(np.zeros((2, 3)), np.zeros((2, 1, 3)))
    with pytest.raises(ValueError, match="N and H must agree"):
        layer.forward(np.zeros((2, 3, 4)), np.zeros((2, 1, 5)))
    with pytest.raises(ValueError, match="decoder states"):
        layer.forward(np.zeros((2, 3, 4)), np.zeros((2, 4)))


@pytest.mark.skipif(not BOOK2, reason="set FASTNN_BOOK2_DIR to the sequel's checkout")
def test_the_books_time_attention_gives_the_same_numbers(monkeypatch):
    monkeypatch.syspath_prepend(BOOK2)
    monkeypatch.syspath_prepend(os.path.join(BOOK2, "ch08"))
    for key in [k for k in sys.modules if k == "common" or k.startswith("common.")
                or k == "attention_layer"]:
        monkeypatch.delitem(sys.modules, key)
    import attention_layer as book
    rng = np.random.default_rng(4)
    hs = rng.standard_normal((16, 29, 64)).astype("f")
    hd = rng.standard_normal((16, 11, 64)).astype("f")
    dout = rng.standard_normal((16, 11, 64)).astype("f")
    _equal(_run(TimeAttention(), hs, hd, dout), _run(book.TimeAttention(), hs, hd, dout))


def test_weight_sum_checks_its_weights():
    with pytest.raises(ValueError, match="a must be"):
        WeightSum().forward(np.zeros((2, 3, 4)), np.zeros((2, 4)))
