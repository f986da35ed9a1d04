"""fastnn.nlp.time_layers: every layer against numerical gradients (float64)
on both ops, the compiled ops against the NumPy twin (the book's loops) on
random shapes, and the errors of bad input.

Tolerances: the compiled forward passes do the book's arithmetic (NumPy's own
exp/tanh loops, the book's operation order), so they agree with the twin to
BLAS's rounding; the backward passes compute dWx and dWh as one GEMM over
all N·T rows where the book adds T per-step GEMMs, measured at up to ~6
machine epsilons of the largest entry (float32 and float64, Rnnlm's and
BetterRnnlm's shapes).  The checks below allow 32 epsilons.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from _util import num_grad

from fastnn.backends import get_ops
from fastnn.nlp import time_layers as tl
from fastnn._kernels.rnn import _numpy_loop

OPS = ("compiled", "numpy")


def _use(layer, ops):
    """Put ``layer`` (and its sub-layers) on the named ops."""
    for obj in (layer, getattr(layer, "forward_lstm", None), getattr(layer, "backward_lstm", None)):
        if obj is not None and hasattr(obj, "ops"):
            obj.ops = get_ops(ops)
    return layer


def _close(a, b, eps_count=32, floor=1e-30):
    """max |a - b| within eps_count machine epsilons of max(max |b|, floor):
    ``floor`` is the size of the terms a sum adds (a gradient summed over
    rows can cancel far below its terms, and its rounding is the terms')."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    scale = max(float(np.abs(b).max()), floor) if b.size else 1.0
    err = float(np.abs(a - b).max()) / scale if b.size else 0.0
    assert err <= eps_count * np.finfo(b.dtype).eps, err


def _weights(rng, D, H, k, dtype=np.float64):
    return ((rng.standard_normal((D, k * H)) * 0.5).astype(dtype),
            (rng.standard_normal((H, k * H)) * 0.5).astype(dtype),
            (rng.standard_normal(k * H) * 0.1).astype(dtype))


# -- gradient checks (float64, both ops) ---------------------------------------------

@pytest.mark.parametrize("ops", OPS)
@pytest.mark.parametrize("cls,k", [(tl.TimeRNN, 1), (tl.TimeLSTM, 4), (tl.TimeGRU, 3)])
def test_time_recurrent_gradients(ops, cls, k):
    rng = np.random.default_rng(1)
    N, T, D, H = 2, 3, 3, 2
    layer = _use(cls(*_weights(rng, D, H, k)), ops)
    xs = rng.standard_normal((N, T, D))
    R = rng.standard_normal((N, T, H))

    def loss():
        return float(np.sum(layer.forward(xs) * R))
    loss()
    dxs = layer.backward(R.copy())
    grads = [g.copy() for g in layer.grads]
    np.testing.assert_allclose(dxs, num_grad(loss, xs), rtol=1e-6, atol=1e-9)
    for p, g in zip(layer.params, grads):
        np.testing.assert_allclose(g, num_grad(loss, p), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("ops", OPS)
@pytest.mark.parametrize("cls,k", [(tl.RNN, 1), (tl.LSTM, 4), (tl.GRU, 3)])
def test_one_step_gradients(ops, cls, k):
    rng = np.random.default_rng(2)
    N, D, H = 3, 4, 3
    layer = _use(cls(*_weights(rng, D, H, k)), ops)
    x = rng.standard_normal((N, D))
    h = rng.standard_normal((N, H))
    c = rng.standard_normal((N, H))
    Rh, Rc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    lstm = cls is tl.LSTM

    def loss():
        if lstm:
            hn, cn = layer.forward(x, h, c)
            return float(np.sum(hn * Rh) + np.sum(cn * Rc))
        return float(np.sum(layer.forward(x, h) * Rh))
    loss()
    if lstm:
        dx, dh, dc = layer.backward(Rh.copy(), Rc.copy())
        np.testing.assert_allclose(dc, num_grad(loss, c), rtol=1e-6, atol=1e-9)
    else:
        dx, dh = layer.backward(Rh.copy())
    grads = [g.copy() for g in layer.grads]
    np.testing.assert_allclose(dx, num_grad(loss, x), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dh, num_grad(loss, h), rtol=1e-6, atol=1e-9)
    for p, g in zip(layer.params, grads):
        np.testing.assert_allclose(g, num_grad(loss, p), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("ops", OPS)
def test_bilstm_gradients(ops):
    rng = np.random.default_rng(3)
    N, T, D, H = 2, 3, 3, 2
    layer = _use(tl.TimeBiLSTM(*_weights(rng, D, H, 4), *_weights(rng, D, H, 4)), ops)
    xs = rng.standard_normal((N, T, D))
    R = rng.standard_normal((N, T, 2 * H))

    def loss():
        return float(np.sum(layer.forward(xs) * R))
    loss()
    dxs = layer.backward(R.copy())
    grads = [g.copy() for g in layer.grads]
    np.testing.assert_allclose(dxs, num_grad(loss, xs), rtol=1e-6, atol=1e-9)
    for p, g in zip(layer.params, grads):
        np.testing.assert_allclose(g, num_grad(loss, p), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("ops", OPS)
@pytest.mark.parametrize("fortran", [False, True])
def test_affine_softmax_embedding_gradients(ops, fortran):
    """TimeEmbedding → TimeAffine (W C- or Fortran-ordered, as the tied
    layer's embed_W.T) → TimeSoftmaxWithLoss with ignored labels."""
    rng = np.random.default_rng(4)
    N, T, D, V = 3, 4, 3, 7
    E = rng.standard_normal((V, D))
    W = np.asfortranarray(rng.standard_normal((D, V))) if fortran else rng.standard_normal((D, V))
    emb = _use(tl.TimeEmbedding(E), ops)
    aff = _use(tl.TimeAffine(W, rng.standard_normal(V)), ops)
    sm = _use(tl.TimeSoftmaxWithLoss(), ops)
    ids = rng.integers(0, V, (N, T))
    ids[0, 0] = ids[1, 0] = ids[2, 3] = 5          # repeated ids
    ts = rng.integers(0, V, (N, T))
    ts[1, 2] = -1                                   # ignore_label

    def loss():
        return float(sm.forward(aff.forward(emb.forward(ids)), ts))
    loss()
    emb.backward(aff.backward(sm.backward()))
    gE, gW, gb = emb.grads[0].copy(), aff.grads[0].copy(), aff.grads[1].copy()
    assert aff.grads[0].flags.f_contiguous == fortran
    np.testing.assert_allclose(gE, num_grad(loss, E), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gW, num_grad(loss, W), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gb, num_grad(loss, aff.params[1]), rtol=1e-6, atol=1e-9)
    # the input gradient of TimeAffine, through the loss
    xs = rng.standard_normal((N, T, D))

    def loss_x():
        return float(sm.forward(aff.forward(xs), ts))
    loss_x()
    dxs = aff.backward(sm.backward())
    np.testing.assert_allclose(dxs, num_grad(loss_x, xs), rtol=1e-6, atol=1e-9)


def test_sigmoid_loss_and_simple_variants_gradients():
    rng = np.random.default_rng(5)
    N, T, D, V = 3, 4, 3, 5
    xs = rng.standard_normal((N, T))
    ts = rng.integers(0, 2, (N, T))
    layer = tl.TimeSigmoidWithLoss()
    layer.forward(xs, ts)
    np.testing.assert_allclose(layer.backward(), num_grad(lambda: layer.forward(xs, ts), xs),
                               rtol=1e-4, atol=1e-6)
    x3 = rng.standard_normal((N, T, V))
    t2 = rng.integers(0, V, (N, T))
    simple, fused = tl.Simple_TimeSoftmaxWithLoss(), tl.TimeSoftmaxWithLoss()
    np.testing.assert_allclose(simple.forward(x3, t2), fused.forward(x3, t2), rtol=1e-6)
    np.testing.assert_allclose(simple.backward(), fused.backward(), rtol=1e-6, atol=1e-9)
    W, b = rng.standard_normal((D, V)).astype('f'), rng.standard_normal(V).astype('f')
    x = rng.standard_normal((N, T, D)).astype('f')
    sa, ta = tl.Simple_TimeAffine(W, b), tl.TimeAffine(W, b)
    np.testing.assert_allclose(sa.forward(x), ta.forward(x), rtol=1e-5, atol=1e-6)
    d = rng.standard_normal((N, T, V)).astype('f')
    np.testing.assert_allclose(sa.backward(d), ta.backward(d), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sa.dW, ta.grads[0], rtol=1e-5, atol=1e-5)


# -- the compiled ops against the NumPy twin ------------------------------------------

shapes = st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(0, 7), st.integers(1, 9))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes, dtype=st.sampled_from([np.float32, np.float64]),
       kind=st.sampled_from(["rnn", "lstm", "gru"]), seed=st.integers(0, 2**31 - 1),
       strided=st.booleans())
def test_compiled_matches_numpy(shape, dtype, kind, seed, strided):
    N, T, D, H = shape
    k = {"rnn": 1, "gru": 3, "lstm": 4}[kind]
    rng = np.random.default_rng(seed)
    Wx, Wh, b = _weights(rng, D, H, k, dtype)
    xs = rng.standard_normal((N, 2 * T if strided else T, D)).astype(dtype)
    if strided:
        xs = xs[:, ::2]                      # not contiguous: copied once by the kernel
    dhs = rng.standard_normal((N, T, H)).astype(dtype)
    cls = {"rnn": tl.TimeRNN, "gru": tl.TimeGRU, "lstm": tl.TimeLSTM}[kind]
    out = {}
    for ops in OPS:
        layer = _use(cls(Wx, Wh, b, stateful=True), ops)
        hs1 = layer.forward(xs)
        hs2 = layer.forward(xs)              # stateful: starts from the last h (and c)
        dxs = layer.backward(dhs)
        out[ops] = [hs1, hs2, dxs, layer.dh] + [g.copy() for g in layer.grads]
    # O(1) data: the terms of every sum are O(1); a gradient adds N·T of them
    for a, bb in zip(out["compiled"], out["numpy"]):
        _close(a, bb, 32 + 4 * N * T, floor=1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["exp", "tanh"])
def test_kernels_use_numpys_own_exp_and_tanh(dtype, name):
    x = np.random.default_rng(6).standard_normal(10007).astype(dtype) * 30
    x[:4] = [np.inf, -np.inf, np.nan, 0.0]
    np.testing.assert_array_equal(_numpy_loop(name, x.copy()), getattr(np, name)(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_forward_is_the_books_arithmetic(dtype):
    """Small shapes (one BLAS block): the compiled forward pass and the
    backward pass's dxs/db equal the twin's bit for bit."""
    rng = np.random.default_rng(7)
    Wx, Wh, b = _weights(rng, 5, 4, 4, dtype)
    xs = rng.standard_normal((3, 6, 5)).astype(dtype)
    res = {}
    for ops in OPS:
        layer = _use(tl.TimeLSTM(Wx, Wh, b), ops)
        hs = layer.forward(xs)
        dxs = layer.backward(np.ones_like(hs))
        res[ops] = (hs, layer.h, layer.c, dxs, layer.grads[2].copy())
    for a, bb in zip(res["compiled"], res["numpy"]):
        np.testing.assert_array_equal(a, bb)


def test_softmax_loss_matches_twin_exactly():
    rng = np.random.default_rng(8)
    for dtype in (np.float32, np.float64):
        xs = (rng.standard_normal((4, 5, 300)) * 5).astype(dtype)
        ts = rng.integers(0, 300, (4, 5))
        ts[0, :2] = -1
        res = []
        for ops in OPS:
            layer = _use(tl.TimeSoftmaxWithLoss(), ops)
            res.append((layer.forward(xs, ts), layer.backward().copy()))
        assert res[0][0] == res[1][0]
        np.testing.assert_array_equal(res[0][1], res[1][1])



@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(V=st.integers(1, 70), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16),
       special=st.lists(st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30]),
                        max_size=6))
def test_softmax_loss_rows_with_special_values_match_twin(V, dtype, seed, special):
    """The row max runs on vectors of lanes (rnn_loops.h fastnn_shift_row):
    any row length (the lanes' tail), NaN and infinities anywhere, rows of
    signed zeros: the same loss and gradient bits as the book's NumPy."""
    rng = np.random.default_rng(seed)
    xs = (rng.standard_normal((3, 4, V)) * 4).astype(dtype)
    xs[0, 0] = 0.0
    xs[0, 0, ::2] = -0.0
    for value in special:
        xs[tuple(rng.integers(0, d) for d in xs.shape)] = value
    ts = rng.integers(0, V, (3, 4))
    res = []
    for ops in OPS:
        layer = _use(tl.TimeSoftmaxWithLoss(), ops)
        with np.errstate(all="ignore"):
            res.append((layer.forward(xs, ts), layer.backward().copy()))
    assert res[0][0] == res[1][0] or (np.isnan(res[0][0]) and np.isnan(res[1][0]))
    np.testing.assert_array_equal(res[0][1], res[1][1])

def test_embedding_backward_repeated_ids_matches_add_at():
    rng = np.random.default_rng(9)
    V, D = 6, 37
    W = rng.standard_normal((V, D)).astype(np.float32)
    ids = rng.integers(0, 3, (8, 5))                 # many repeats
    dout = rng.standard_normal((8, 5, D)).astype(np.float32)
    layer = tl.TimeEmbedding(W)
    np.testing.assert_array_equal(layer.forward(ids), W[ids])
    layer.backward(dout)
    ref = np.zeros((V, D), np.float64)
    np.add.at(ref, ids.ravel(), dout.reshape(-1, D).astype(np.float64))
    np.testing.assert_allclose(layer.grads[0], ref, rtol=1e-5, atol=1e-5)
    twin = tl.TimeEmbedding(W)
    twin.ops = get_ops("numpy")
    twin.forward(ids)
    twin.backward(dout)
    np.testing.assert_array_equal(layer.grads[0], twin.grads[0])   # the book's order
    assert not layer.grads[0][3:].any()


def test_dropout_is_the_books_mask_stream():
    rng = np.random.default_rng(10)
    xs = rng.standard_normal((4, 5, 6)).astype(np.float32)
    for ratio in (0.5, 0.3):
        np.random.seed(3)
        flg = np.random.rand(*xs.shape) > ratio
        mask = flg.astype(np.float32) * (1 / (1.0 - ratio))
        after = np.random.rand()
        for ops in OPS:
            layer = _use(tl.TimeDropout(ratio), ops)
            np.random.seed(3)
            out = layer.forward(xs)
            assert np.random.rand() == after            # same draws consumed
            np.testing.assert_array_equal(out, xs * mask)
            np.testing.assert_array_equal(layer.backward(xs), xs * mask)
            np.testing.assert_array_equal(layer.mask, mask)
        layer.train_flg = False
        assert layer.forward(xs) is xs


@pytest.mark.parametrize("ops", OPS)
def test_state_api(ops):
    rng = np.random.default_rng(11)
    Wx, Wh, b = _weights(rng, 3, 2, 4, np.float32)
    layer = _use(tl.TimeLSTM(Wx, Wh, b, stateful=True), ops)
    xs = rng.standard_normal((2, 4, 3)).astype(np.float32)
    whole = layer.forward(xs)
    layer.reset_state()
    first = layer.forward(xs[:, :2])
    second = layer.forward(xs[:, 2:])              # carries h and c
    _close(np.concatenate([first, second], axis=1), whole)
    h, c = layer.h.copy(), layer.c.copy()
    layer.set_state(h, c)
    again = layer.forward(xs[:, :1])
    layer.set_state(h, c)
    _close(layer.forward(xs[:, :1]), again)
    assert whole.dtype == np.float32 and layer.h.dtype == np.float32
    plain = _use(tl.TimeLSTM(Wx, Wh, b), ops)
    _close(plain.forward(xs[:, 2:]), plain.forward(xs[:, 2:]))   # not stateful: restarts


# -- bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("ops", OPS)
def test_errors(ops):
    rng = np.random.default_rng(12)
    Wx, Wh, b = _weights(rng, 3, 2, 4, np.float32)
    lstm = _use(tl.TimeLSTM(Wx, Wh, b, stateful=True), ops)
    with pytest.raises(ValueError, match="T = 0"):
        lstm.forward(np.zeros((2, 0, 3), np.float32))
    with pytest.raises(ValueError, match="Wx"):
        lstm.forward(np.zeros((2, 3, 4), np.float32))
    lstm.forward(np.zeros((2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="reset_state"):
        lstm.forward(np.zeros((5, 3, 3), np.float32))        # stateful h of batch 2
    emb = _use(tl.TimeEmbedding(np.zeros((10, 3), np.float32)), ops)
    for bad in (np.array([[0, 10]]), np.array([[-1, 2]])):
        with pytest.raises(ValueError, match="outside"):
            emb.forward(bad)
    with pytest.raises(TypeError, match="integer"):
        emb.forward(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="T = 0"):
        emb.forward(np.zeros((2, 0), np.int64))
    sm = _use(tl.TimeSoftmaxWithLoss(), ops)
    with pytest.raises(ValueError, match="outside"):
        sm.forward(np.zeros((1, 2, 4), np.float32), np.array([[0, 4]]))
    with pytest.raises(ValueError, match="shape"):
        sm.forward(np.zeros((1, 2, 4), np.float32), np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match="V = 0"):         # every label ignored, no classes
        sm.forward(np.zeros((1, 2, 0), np.float32), np.full((1, 2), -1))


@pytest.mark.parametrize("dtype,D,H", [(np.float32, 100, 100), (np.float64, 100, 100),
                                       (np.float32, 9, 21), (np.float64, 16, 6)])
def test_small_lstm_backward_is_the_books_order(dtype, D, H):
    """Rnnlm's LSTM (D = H = 100, float32), and widths that leave a tail to
    the gate loops' vectors of lanes or fill none: dWx/dWh are summed step by
    step in the book's order (rnn.pyx, PER_STEP_BYTES), so on one thread
    every gradient equals the twin's (the book's loops) bit for bit."""
    import fastnn
    rng = np.random.default_rng(13)
    Wx, Wh, b = _weights(rng, D, H, 4, dtype)
    xs = rng.standard_normal((20, 35, D)).astype(dtype)
    dhs = rng.standard_normal((20, 35, H)).astype(dtype)
    threadpoolctl = pytest.importorskip("threadpoolctl")
    old = fastnn.get_num_threads()
    fastnn.set_num_threads(1)
    try:
        res = {}
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            for ops in OPS:
                layer = _use(tl.TimeLSTM(Wx, Wh, b), ops)
                hs = layer.forward(xs)
                res[ops] = [hs, layer.backward(dhs)] + [g.copy() for g in layer.grads]
    finally:
        fastnn.set_num_threads(old)
    for a, bb in zip(res["compiled"], res["numpy"]):
        np.testing.assert_array_equal(a, bb)


@pytest.mark.parametrize("cls,k,N,H", [(tl.TimeLSTM, 4, 128, 100), (tl.TimeLSTM, 4, 40, 64),
                                       (tl.TimeRNN, 1, 64, 64)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_per_step_layers_on_two_threads_keep_the_books_order(cls, k, N, H, dtype):
    """On two threads a small layer's backward runs as a pipeline (rnn.pyx,
    _pipe_piece: step t's dh and the gates of t-1 on one thread, step t's
    dWx/dWh on the other), its forward's input products step by step over
    the pool (_step_inputs) and, for N = 128, its recurrence in two blocks of
    batch rows (_row_pieces): every product of the book's order, so every
    array equals the twin's and the one-thread result bit for bit, whichever
    way the pool runs each region (several steps: it times both)."""
    import fastnn
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(15)
    D = 100
    Wx, Wh, b = _weights(rng, D, H, k, dtype)
    xs = rng.standard_normal((N, 6, D)).astype(dtype)
    dhs = rng.standard_normal((N, 6, H)).astype(dtype)
    old = fastnn.get_num_threads()
    res = {}
    try:
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            for ops, threads in (("numpy", 1), ("compiled", 1), ("compiled", 2)):
                fastnn.set_num_threads(threads)
                layer = _use(cls(Wx, Wh, b), ops)
                for _ in range(6):
                    hs = layer.forward(xs)
                    res[ops, threads] = ([hs.copy(), layer.backward(dhs).copy()]
                                         + [g.copy() for g in layer.grads])
    finally:
        fastnn.set_num_threads(old)
    for key in (("compiled", 1), ("compiled", 2)):
        for a, bb in zip(res[key], res["numpy", 1]):
            np.testing.assert_array_equal(a, bb)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_lstm_forward_in_row_blocks_is_the_one_thread_forward(dtype):
    """A layer past the per-step size (D = 400) with a small Wh (H = 128)
    runs its forward recurrence in blocks of batch rows on two threads: hs
    and the state carried to the next call are the one-thread arrays bit for
    bit."""
    import fastnn
    rng = np.random.default_rng(16)
    Wx, Wh, b = _weights(rng, 400, 128, 4, dtype)
    xs = rng.standard_normal((64, 4, 400)).astype(dtype)
    old = fastnn.get_num_threads()
    res = []
    try:
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            layer = tl.TimeLSTM(Wx, Wh, b, stateful=True)
            out = [layer.forward(xs).copy() for _ in range(4)]
            res.append(out + [layer.h.copy(), layer.c.copy()])
    finally:
        fastnn.set_num_threads(old)
    for a, bb in zip(*res):
        np.testing.assert_array_equal(a, bb)


def test_book_order_switch_makes_large_layers_exact():
    """A layer past 1 MiB of weights (D = H = 300) sums dWx/dWh in one GEMM
    by default; rnn.book_order(True) makes it step by step, the twin's bits."""
    import fastnn
    from fastnn._kernels import rnn
    rng = np.random.default_rng(14)
    Wx, Wh, b = _weights(rng, 300, 300, 4, np.float32)
    xs = rng.standard_normal((6, 5, 300)).astype(np.float32)
    dhs = rng.standard_normal((6, 5, 300)).astype(np.float32)
    threadpoolctl = pytest.importorskip("threadpoolctl")
    old_threads = fastnn.get_num_threads()
    fastnn.set_num_threads(1)
    before = rnn.book_order(True)
    try:
        assert rnn.book_order() is True
        res = {}
        # NumPy's BLAS on one thread too: split over threads, it rounds otherwise
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            for ops in OPS:
                layer = _use(tl.TimeLSTM(Wx, Wh, b), ops)
                layer.forward(xs)
                res[ops] = [layer.backward(dhs)] + [g.copy() for g in layer.grads]
    finally:
        rnn.book_order(before)
        fastnn.set_num_threads(old_threads)
    for a, bb in zip(res["compiled"], res["numpy"]):
        np.testing.assert_array_equal(a, bb)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(N=st.integers(1, 5), T=st.integers(1, 5), D=st.integers(1, 150), V=st.integers(2, 40),
       dtype=st.sampled_from([np.float32, np.float64]), fortran=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_embedding_affine_loss_compiled_matches_numpy(N, T, D, V, dtype, fortran, seed):
    """TimeEmbedding → TimeAffine → TimeSoftmaxWithLoss on random shapes (ids
    drawn from few values, so they repeat; some labels ignored; W C- or
    Fortran-ordered): the compiled ops against the twin."""
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((V, D)).astype(dtype)
    W = rng.standard_normal((D, V)).astype(dtype)
    W = np.asfortranarray(W) if fortran else W
    b = rng.standard_normal(V).astype(dtype)
    ids = rng.integers(0, min(V, 3), (N, T))
    ts = rng.integers(-1, V, (N, T))
    out = {}
    for ops in OPS:
        emb, aff, sm = (_use(tl.TimeEmbedding(E), ops), _use(tl.TimeAffine(W, b), ops),
                        _use(tl.TimeSoftmaxWithLoss(), ops))
        if (ts == -1).all():
            ts[0, 0] = 0
        loss = sm.forward(aff.forward(emb.forward(ids)), ts)
        dx = aff.backward(sm.backward())
        emb.backward(dx)
        out[ops] = [np.asarray(loss), dx, aff.grads[0].copy(), aff.grads[1].copy(),
                    emb.grads[0].copy()]
    for a, bb in zip(out["compiled"][:4], out["numpy"][:4]):
        _close(a, bb, 32 + 4 * N * T, floor=1.0)
    # dW of the embedding sums rows of dx, which may cancel: its error is
    # bounded by the rows' size (dx's own rounding times the rows added)
    dx = out["numpy"][1]
    bound = 32 * np.finfo(dtype).eps * float(np.abs(dx).max()) * N * T
    assert float(np.abs(out["compiled"][4] - out["numpy"][4]).max()) <= bound


# -- the output layer and its loss as Rnnlm and BetterRnnlm run them -------------------

@pytest.mark.parametrize("ops", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("V,N,T,ignore", [(37, 3, 5, False), (300, 4, 7, True), (1, 2, 3, False)])
def test_loss_backward_writes_the_affine_bias_gradient(ops, dtype, V, N, T, ignore):
    """time_softmax_loss_backward(..., db=) gives the dx of plain backward and
    db = np.sum(dx, axis=0) bit for bit (the compiled ops in one pass by
    column blocks); a db it cannot write into directly still gets the sum."""
    rng = np.random.default_rng(V + N)
    xs = (rng.standard_normal((N, T, V)) * 3).astype(dtype)
    ts = rng.integers(0, V, (N, T))
    if ignore:
        ts[0, :3] = -1
    plain = _use(tl.TimeSoftmaxWithLoss(), ops)
    plain.forward(xs.copy(), ts)
    dx_plain = plain.backward().copy()
    want = np.sum(dx_plain.reshape(-1, V), axis=0)
    for db in (np.full(V, np.nan, dtype), np.full((V, 2), np.nan, dtype)[:, 0]):
        layer = _use(tl.TimeSoftmaxWithLoss(), ops)
        layer.forward(xs.copy(), ts)
        dx = layer._backward(1, db)
        np.testing.assert_array_equal(dx, dx_plain)
        np.testing.assert_array_equal(db, want)


@pytest.mark.parametrize("ops", OPS)
def test_loss_forward_overwrite_gives_the_same_loss(ops):
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((2, 6, 50)).astype(np.float32)
    ts = rng.integers(0, 50, (2, 6))
    a, b = _use(tl.TimeSoftmaxWithLoss(), ops), _use(tl.TimeSoftmaxWithLoss(), ops)
    scratch = xs.copy()
    assert a.forward(xs, ts) == b._forward(scratch, ts, True)
    np.testing.assert_array_equal(a.backward(), b.backward())
    if ops == "compiled":       # the softmax went over the scratch scores
        assert np.shares_memory(b.cache[1], scratch)
    else:
        np.testing.assert_array_equal(scratch, xs)


def _lm_twins(cls, kw, seed=0):
    np.random.seed(seed)
    fused = cls(**kw)

    class Plain(cls):           # an overridden predict: forward takes the book's path
        def predict(self, *args, **kws):
            return super().predict(*args, **kws)

        def backward(self, dout=1):
            dout = self.loss_layer.backward(dout)
            for layer in reversed(self.layers):
                dout = layer.backward(dout)
            return dout
    np.random.seed(seed)
    return fused, Plain(**kw)


@pytest.mark.parametrize("name", ["Rnnlm", "BetterRnnlm"])
def test_language_models_fused_output_layer_changes_no_bit(name):
    """Rnnlm's and BetterRnnlm's forward let the loss overwrite the scores, and
    their backward takes the bias gradient from the loss's pass: the losses,
    every gradient and the parameters after SGD steps equal the layer-by-layer
    path's bit for bit; scores a caller got from predict are left alone."""
    from fastnn.nlp.rnnlm import Rnnlm
    from fastnn.nlp.better_rnnlm import BetterRnnlm
    from fastnn.nlp.optimizer import SGD
    from fastnn.nlp.util import clip_grads
    cls, kw = {"Rnnlm": (Rnnlm, dict(vocab_size=300, wordvec_size=20, hidden_size=24)),
               "BetterRnnlm": (BetterRnnlm, dict(vocab_size=300, wordvec_size=24,
                                                 hidden_size=24))}[name]
    fused, plain = _lm_twins(cls, kw)
    rng = np.random.default_rng(5)
    opts = [SGD(20.0), SGD(20.0)]
    for step in range(3):
        xs = rng.integers(0, 300, (4, 6))
        ts = rng.integers(0, 300, (4, 6))
        held = shown = None
        if name == "Rnnlm":     # scores a caller holds; then both start from one state
            held = fused.predict(xs)
            shown = held.copy()
            fused.reset_state()
            plain.reset_state()
        np.random.seed(step)
        loss_f = fused.forward(xs, ts)
        np.random.seed(step)
        loss_p = plain.forward(xs, ts)
        assert loss_f == loss_p
        if held is not None:
            np.testing.assert_array_equal(held, shown)
        fused.backward()
        plain.backward()
        for g_f, g_p in zip(fused.grads, plain.grads):
            np.testing.assert_array_equal(g_f, g_p)
        for model, opt in zip((fused, plain), opts):
            clip_grads(model.grads, 0.25)
            opt.update(model.params, model.grads)
    for p_f, p_p in zip(fused.params, plain.params):
        np.testing.assert_array_equal(p_f, p_p)
