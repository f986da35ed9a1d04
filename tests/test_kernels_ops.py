"""The ops interface (fastnn.backends): CompiledOps gives NumpyOps's results
on every input, through its kernels or by calling super() for inputs they
do not take; the suite runs over both ops objects."""
import pickle

import numpy as np
import pytest
from hypothesis import given, strategies as st

from fastnn.backends import CompiledOps, NumpyOps, get_ops
from fastnn._kernels.pool import Pool
from _util import assert_close, laid_out, scaled_error

OPS = [NumpyOps(), CompiledOps()]
INPUTS = st.sampled_from(["f64", "f32", ">f8", "int", "f16", "F", "strided", "0d"])


def make(kind, rng, shape=(4, 5)):
    a = rng.standard_normal(shape)
    if kind == "0d":
        return np.array(a.ravel()[0])
    if kind in ("F", "strided"):
        return laid_out(a, kind)
    dtype = {"f64": np.float64, "f32": np.float32, ">f8": ">f8", "int": np.int64,
             "f16": np.float16}[kind]
    return (3 * a).astype(dtype)


def test_get_ops_and_the_class_layout():
    assert isinstance(get_ops(), CompiledOps) and isinstance(get_ops("numpy"), NumpyOps)
    assert issubclass(CompiledOps, NumpyOps) and get_ops() is get_ops()
    with pytest.raises(ValueError, match="ops must be"):
        get_ops("torch")
    assert isinstance(pickle.loads(pickle.dumps(Pool())), Pool)


@pytest.mark.parametrize("ops", OPS, ids=repr)
@given(kind=INPUTS, seed=st.integers(0, 2**32 - 1))
def test_relu_and_sigmoid_ops_equal_numpy_ops(ops, kind, seed):
    rng = np.random.default_rng(seed)
    x = make(kind, rng)
    dout = make(kind, rng, np.shape(x))
    want_out, want_mask = NumpyOps().relu_forward(x)
    out, mask = ops.relu_forward(x, Pool())
    assert np.array_equal(out, want_out) and np.array_equal(mask, want_mask)
    assert np.array_equal(ops.relu_backward(dout, mask, Pool()),
                          NumpyOps().relu_backward(dout, want_mask))
    with np.errstate(all="ignore"):
        y = ops.sigmoid_forward(x, Pool())
        want_y = NumpyOps().sigmoid_forward(x)
        assert np.asarray(y).dtype == np.asarray(want_y).dtype
        assert_close(np.asarray(y).astype(np.float64), np.asarray(want_y).astype(np.float64))
        assert_close(np.asarray(ops.sigmoid_backward(dout, want_y, Pool())).astype(np.float64),
                     np.asarray(NumpyOps().sigmoid_backward(dout, want_y)).astype(np.float64))


def test_outputs_come_from_the_layers_pool_and_are_reused_when_free():
    ops, pool = CompiledOps(), Pool()
    x = np.random.default_rng(0).standard_normal((3, 4))
    out1, mask1 = ops.relu_forward(x, pool)
    out2, _ = ops.relu_forward(x, pool)
    assert out2 is not out1            # out1 is still held here
    del out1, mask1
    out3, _ = ops.relu_forward(x, pool)
    assert out3 is not out2            # the freed buffer comes back, never the held one


@pytest.mark.parametrize("ops", OPS, ids=repr)
@given(dtype=st.sampled_from(["f8", "f4", ">f8"]),
       labels=st.sampled_from(["i8", ">i4", "u1", "onehot"]),
       eps=st.sampled_from([0.0, 0.1]), n=st.integers(1, 6), c=st.integers(2, 5),
       seed=st.integers(0, 2**32 - 1))
def test_softmax_ops_equal_numpy_ops(ops, dtype, labels, eps, n, c, seed):
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal((n, c))).astype(dtype)
    idx = rng.integers(0, c, n)
    t = np.eye(c, dtype=x.dtype)[idx] if labels == "onehot" else idx.astype(labels)
    loss, y = ops.softmax_cross_entropy_forward(x, t, eps, Pool())
    want_loss, want_y = NumpyOps().softmax_cross_entropy_forward(x, t, eps)
    native = np.dtype(dtype).newbyteorder("=")
    assert_close(np.asarray(loss).astype(native), np.asarray(want_loss).astype(native))
    assert_close(y.astype(native), want_y.astype(native))
    assert_close(ops.softmax_cross_entropy_backward(y, t, eps, Pool()).astype(native),
                 NumpyOps().softmax_cross_entropy_backward(want_y, t, eps).astype(native))


@pytest.mark.parametrize("ops", OPS, ids=repr)
@given(kind=INPUTS, mode=st.sampled_from(["exact", "fast"]), inverted=st.booleans(),
       ratio=st.sampled_from([0.0, 0.25, 0.5, 0.9]), bitgen=st.sampled_from(["MT19937", "PCG64"]),
       seed=st.integers(0, 2**32 - 1))
def test_dropout_ops_equal_numpy_ops_draw_for_draw(ops, kind, mode, inverted, ratio, bitgen,
                                                   seed):
    rng = np.random.default_rng(seed)
    x = make(kind, rng)
    dout = make(kind, rng, np.shape(x))

    def generator():
        return (np.random.Generator(getattr(np.random, bitgen)(seed)) if mode == "fast"
                else None)
    results = []
    for impl in (ops, NumpyOps()):
        np.random.seed(seed % 2**32)
        out, mask = impl.dropout_forward(x, ratio, True, mode, generator(), inverted, Pool())
        dx = impl.dropout_backward(dout, mask, ratio, inverted, Pool())
        test_out, none = impl.dropout_forward(x, ratio, False, mode, None, inverted, Pool())
        assert none is None
        results.append((out, mask, dx, test_out, np.random.random()))
    for got, want in zip(*results):
        assert np.array_equal(got, want)   # the same draws, the same arithmetic


@pytest.mark.parametrize("ops", OPS, ids=repr)
@given(kind=INPUTS, seed=st.integers(0, 2**32 - 1), n=st.integers(1, 6))
def test_batchnorm_ops_equal_numpy_ops(ops, kind, seed, n):
    rng = np.random.default_rng(seed)
    if kind == "0d":
        kind = "f64"
    x = make(kind, rng, (n, 5))
    dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    gamma, beta = (1 + rng.random(5)).astype(dt), rng.standard_normal(5).astype(dt)
    rm, rv = rng.standard_normal(5).astype(dt), (1 + rng.random(5)).astype(dt)
    dout = make(kind, rng, (n, 5))
    got = ops.batchnorm_forward_train(x, gamma, beta, rm.copy(), rv.copy(), 0.9, 1e-6, Pool())
    want = NumpyOps().batchnorm_forward_train(x, gamma, beta, rm.copy(), rv.copy(), 0.9, 1e-6)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    _, xc, xn, std, rm2, rv2 = want
    for g, w in zip(ops.batchnorm_backward(dout, xn, xc, std, gamma, n, Pool()),
                    NumpyOps().batchnorm_backward(dout, xn, xc, std, gamma, n)):
        scale = float(np.max(np.abs(gamma / std))) * max(1.0, float(np.max(np.abs(dout))))
        # NaN where float16 overflows must sit in the same places (assert_allclose's equal_nan)
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-4 * scale)
    np.testing.assert_allclose(
        ops.batchnorm_forward_infer(x, gamma, beta, rm2, rv2, 1e-6, Pool()),
        NumpyOps().batchnorm_forward_infer(x, gamma, beta, rm2, rv2, 1e-6), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("ops", OPS, ids=repr)
@given(kind=INPUTS, wdtype=st.sampled_from([np.float64, np.float32]), decay=st.booleans(),
       need_dx=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_affine_ops_equal_numpy_ops(ops, kind, wdtype, decay, need_dx, seed):
    rng = np.random.default_rng(seed)
    if kind == "0d":
        kind = "f64"
    x = make(kind, rng, (4, 2, 3))
    W, b = rng.standard_normal((6, 5)).astype(wdtype), rng.standard_normal(5).astype(wdtype)
    out, x2, x_dtype = ops.affine_forward(x, W, b, Pool())
    want, w_x2, w_x_dtype = NumpyOps().affine_forward(x, W, b)
    assert out.dtype == want.dtype and x_dtype == w_x_dtype == x.dtype
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    dout = rng.standard_normal(want.shape).astype(want.dtype)
    lam = 0.25 if decay else 0.0
    got = ops.affine_backward(dout, x2, W, x_dtype, need_dx, lam, Pool())
    exp = NumpyOps().affine_backward(dout, w_x2, W, w_x_dtype, need_dx, lam)
    for g, w in zip(got, exp):
        if w is None:
            assert g is None
        else:
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


# -- convolution and max pooling ----------------------------------------------------

@pytest.mark.parametrize("ops", OPS, ids=repr)
@given(kind=INPUTS, wdtype=st.sampled_from([np.float64, np.float32]), need_dx=st.booleans(),
       stride=st.integers(1, 2), pad=st.integers(0, 1), seed=st.integers(0, 2**32 - 1))
def test_conv_ops_equal_numpy_ops(ops, kind, wdtype, need_dx, stride, pad, seed):
    rng = np.random.default_rng(seed)
    x = make("f64" if kind == "0d" else kind, rng, (2, 3, 5, 6))
    W, b = rng.standard_normal((4, 3, 3, 2)).astype(wdtype), rng.standard_normal(4).astype(wdtype)
    out, kx, col, col_W = ops.conv_forward(x, W, b, stride, pad, Pool())
    want, w_x, w_col, w_col_W = NumpyOps().conv_forward(x, W, b, stride, pad)
    # the least precise float among x (dout is of its kind) and W sets the rounding
    bits = min(a.dtype.itemsize for a in (x, W) if a.dtype.kind == "f")
    tol = {8: 1e-12, 4: 2e-5, 2: 4e-3}[bits]
    if isinstance(ops, CompiledOps) and np.result_type(x.dtype, W.dtype) == W.dtype:
        assert out.dtype == W.dtype and out.flags.c_contiguous and col is None   # the kernels
    assert out.shape == want.shape and scaled_error(out, want) <= tol
    assert col is None or np.array_equal(col, w_col)
    assert np.array_equal(col_W, w_col_W)
    dout = make(kind if kind != "0d" else "f64", rng, want.shape)
    dx, dW, db = ops.conv_backward(dout, kx, col, col_W, W, stride, pad, need_dx, Pool())
    w_dx, w_dW, w_db = NumpyOps().conv_backward(dout, w_x, w_col, w_col_W, W, stride, pad,
                                                need_dx)
    assert (dx is None) == (w_dx is None) == (not need_dx)
    for g, w in ((dx, w_dx), (dW, w_dW)):
        if w is not None:
            assert g.shape == w.shape and scaled_error(g, w) <= tol
    # db is a sum that can cancel (and the float16 oracle rounds every
    # partial sum): its error is relative to the summands
    summands = np.abs(np.asarray(dout, np.float64)).sum(axis=(0, 2, 3))
    assert db.shape == w_db.shape
    assert np.max(np.abs(db.astype(np.float64) - w_db)) <= tol * max(summands.max(), 1.0)


@pytest.mark.parametrize("ops", OPS, ids=repr)
@given(kind=INPUTS, window=st.sampled_from([(2, 2, 2), (3, 3, 1), (2, 3, 2)]),
       ties=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_maxpool_ops_equal_numpy_ops(ops, kind, window, ties, seed):
    ph, pw, stride = window
    rng = np.random.default_rng(seed)
    x = make("f64" if kind == "0d" else kind, rng, (2, 3, 6, 7))
    if ties:
        x = np.round(x)
    out, kx, arg = ops.maxpool_forward(x, ph, pw, stride, 0, Pool())
    want, w_x, w_arg = NumpyOps().maxpool_forward(x, ph, pw, stride, 0)
    if isinstance(ops, CompiledOps) and x.dtype.kind == "f" and x.itemsize >= 4:
        assert out.dtype == x.dtype.newbyteorder("=") and arg.dtype == np.uint8
    assert np.array_equal(out, want) and np.array_equal(arg, w_arg)
    dout = make("f64" if kind == "0d" else kind, rng, want.shape)
    dx = ops.maxpool_backward(dout, kx, arg, ph, pw, stride, 0, Pool())
    w_dx = NumpyOps().maxpool_backward(dout, w_x, w_arg, ph, pw, stride, 0)
    tol = 2e-5 if dx.dtype == np.float32 else 1e-12
    assert dx.shape == x.shape and scaled_error(dx, w_dx) <= tol   # overlaps: another sum order


def test_conv_ops_refuse_a_dout_of_another_shape():
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((2, 1, 5, 5)), rng.standard_normal((2, 1, 3, 3)), np.zeros(2)
    out, kx, col, col_W = CompiledOps().conv_forward(x, W, b)
    with pytest.raises(ValueError, match="dout has shape"):
        CompiledOps().conv_backward(out[:1], kx, col, col_W, W)
    out, kx, arg = CompiledOps().maxpool_forward(x, 2, 2)
    with pytest.raises(ValueError, match="dout has shape"):
        CompiledOps().maxpool_backward(out[:, :, :1], kx, arg, 2, 2)


STEPS = {"sgd_step": (0.1,), "momentum_step": (0.1, 0.9), "nesterov_step": (0.1, 0.9),
         "adagrad_step": (0.1,), "rmsprop_step": (0.1, 0.99), "adam_step": (0.01, 0.9, 0.999)}
N_STATES = {"sgd_step": 0, "adam_step": 2}


def _run_steps(ops, name, params, grads_seq, keys=None):
    """Three ``name`` steps of ``ops`` on ``params``; (params, states) or the exception type."""
    states = [{} for _ in range(N_STATES.get(name, 1))]
    try:
        with np.errstate(all="ignore"):
            for grads in grads_seq:
                getattr(ops, name)(params, grads, *states, *STEPS[name], keys=keys)
    except Exception as e:  # noqa: BLE001  (the same error from both, as the reference)
        return type(e)
    return params, states


@pytest.mark.parametrize("ops", OPS, ids=repr)
@pytest.mark.parametrize("name", sorted(STEPS))
@given(kind=INPUTS, gkind=INPUTS, subset=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_optimizer_steps_equal_numpy_ops(ops, name, kind, gkind, subset, seed):
    # A params dict mixing what the kernels take (float64 "b", maybe "a")
    # with what NumPy must do (a Python float, other dtypes and layouts);
    # ``keys`` restricts the update to some keys.
    rng = np.random.default_rng(seed)
    a = make(kind, rng)
    grads_seq = [{"a": make(gkind, rng, np.shape(a)), "b": rng.standard_normal(3),
                  "c": float(rng.standard_normal())} for _ in range(3)]
    keys = ["a", "c"] if subset else None
    b0 = rng.standard_normal(3)

    def fresh():
        return {"a": a.copy(), "b": b0.copy(), "c": 1.5}
    got = _run_steps(ops, name, fresh(), grads_seq, keys)
    want = _run_steps(NumpyOps(), name, fresh(), grads_seq, keys)
    if isinstance(want, type):
        assert got is want
        return
    (gp, gs), (wp, ws) = got, want
    if subset:
        assert np.array_equal(gp["b"], b0)
    for k in wp:
        assert np.asarray(gp[k]).dtype == np.asarray(wp[k]).dtype
        assert_close(np.asarray(gp[k]).astype(np.float64), np.asarray(wp[k]).astype(np.float64))
    for g_state, w_state in zip(gs, ws):
        assert g_state.keys() == w_state.keys()
        for k in w_state:
            assert_close(np.asarray(g_state[k]).astype(np.float64),
                         np.asarray(w_state[k]).astype(np.float64))
