"""Batch-norm kernels (fastnn.ops.batchnorm_*) and the fast BatchNormalization
layer against the reference (fastnn.reference.layers.BatchNormalization)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastnn
from fastnn import ops
from fastnn import layers as fast
from fastnn.reference import layers as ref
from fastnn._kernels import batchnorm as _k
from _util import TOL, laid_out, rel_error

SETTINGS = settings()  # examples per run: the hypothesis profile (tests/conftest.py)
EPS = 10e-7

dtypes = st.sampled_from([np.float64, np.float32])
layouts = st.sampled_from(["C", "F", "strided", "padded"])
seeds = st.integers(0, 2**32 - 1)


def data(rng, n, d, dtype, offset=0.0):
    """Columns with their own scale and an offset up to ``offset`` scales."""
    scale = rng.uniform(0.1, 10, d)
    x = rng.standard_normal((n, d)) * scale + offset * scale * rng.uniform(-1, 1, d)
    gamma = rng.uniform(0.5, 2, d) * rng.choice([-1, 1], d)
    beta = rng.standard_normal(d)
    return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype)


# -- kernels -----------------------------------------------------------------------

@SETTINGS
@given(n=st.integers(1, 40), d=st.integers(1, 30), dtype=dtypes, layout=layouts,
       offset=st.sampled_from([0.0, 1.0, 10.0]), seed=seeds)
def test_kernels_match_reference(n, d, dtype, layout, offset, seed):
    """One training step (float32 compared with the float64 reference on the
    same values: it measures our error, not the float32 reference's)."""
    _check_step(n, d, dtype, layout, offset, seed)


@settings(SETTINGS, max_examples=max(10, SETTINGS.max_examples // 4))
@given(n=st.integers(2 * _k.ROWS, 700), d=st.integers(1, 40), dtype=dtypes, layout=layouts,
       offset=st.sampled_from([0.0, 1.0, 10.0]), seed=seeds, threads=st.sampled_from([1, 2, 3]))
def test_row_blocks_match_reference(n, d, dtype, layout, offset, seed, threads):
    """From 2·ROWS rows the kernels run over blocks of ROWS rows and combine
    the blocks' statistics (Chan's update for mean and M2, sums in block
    order): the same tolerances, the last block short or not."""
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(threads)
    try:
        _check_step(n, d, dtype, layout, offset, seed)
    finally:
        fastnn.set_num_threads(before)


def _check_step(n, d, dtype, layout, offset, seed):
    rng = np.random.default_rng(seed)
    x, gamma, beta = data(rng, n, d, dtype, offset)
    dout = rng.standard_normal((n, d)).astype(dtype)
    rm0, rv0 = rng.random(d).astype(dtype), rng.random(d).astype(dtype)
    tol = TOL[np.dtype(dtype)]

    r = ref.BatchNormalization(gamma.astype(np.float64), beta.astype(np.float64),
                               momentum=0.8, running_mean=rm0.astype(np.float64),
                               running_var=rv0.astype(np.float64))
    want = r.forward(x.astype(np.float64), train_flg=True)
    want_dx = r.backward(dout.astype(np.float64))

    rm, rv = rm0.copy(), rv0.copy()
    out, xc, xn, std = ops.batchnorm_forward_train(laid_out(x, layout), gamma, beta, rm, rv,
                                                   momentum=0.8)
    for got in (out, xc, xn, std, rm, rv):
        assert got.dtype == np.dtype(dtype)
    # x - mean cancels when a column's spread is small next to its values
    # (two close rows, an offset): the error of xc is eps·|x|, so the errors
    # of xn, out and dx scale with cond = |x|/std per column, not with 1.
    cond = np.maximum(1.0, np.abs(x.astype(np.float64)).max(axis=0) / r.std)
    assert rel_error(out, want, scale=np.abs(want) + np.abs(gamma) * cond) <= tol
    assert rel_error(xc, r.xc, scale=np.abs(r.xc) + r.std * cond) <= tol
    assert rel_error(xn, r.xn, scale=cond * np.ones_like(xn)) <= tol   # xn is O(1)
    np.testing.assert_allclose(std, r.std, rtol=tol)
    np.testing.assert_allclose(rm, r.running_mean, rtol=tol, atol=tol * np.abs(x).max())
    np.testing.assert_allclose(rv, r.running_var, rtol=tol)

    dx, dgamma, dbeta = ops.batchnorm_backward(laid_out(dout, layout), xn, std, gamma)
    assert rel_error(dx, want_dx, scale=gamma / r.std * dout * cond) <= tol
    assert rel_error(dgamma, r.dgamma, scale=np.linalg.norm(dout, axis=0) * cond) <= tol
    assert rel_error(dbeta, r.dbeta, scale=np.linalg.norm(dout, axis=0)) <= tol

    y = ops.batchnorm_forward_infer(laid_out(x, layout), gamma, beta, rm, rv)
    want_y = r.forward(x.astype(np.float64), train_flg=False)
    scale = np.abs(gamma) * np.abs(x - rm) / np.sqrt(rv.astype(np.float64) + EPS) + np.abs(beta)
    assert rel_error(y, want_y, scale=scale) <= tol


def test_kernels_into_given_buffers_and_without_running_stats():
    rng = np.random.default_rng(1)
    x, gamma, beta = data(rng, 6, 5, np.float64)
    bufs = [np.full((6, 5), np.nan) for _ in range(3)] + [np.full(5, np.nan)]
    got = ops.batchnorm_forward_train(x, gamma, beta, None, None, 0.9, 1e-6, *bufs)
    assert all(g is b for g, b in zip(got, bufs))
    r = ref.BatchNormalization(gamma, beta)
    np.testing.assert_allclose(got[0], r.forward(x), rtol=1e-12, atol=1e-13)
    dx, dg, db = np.empty((6, 5)), np.empty(5), np.empty(5)
    assert ops.batchnorm_backward(np.ones((6, 5)), got[2], got[3], gamma, dx, dg, db)[0] is dx


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(8, 12), (5, 2, 3, 2)])
def test_layer_running_statistics_and_inference_over_steps(dtype, shape):
    rng = np.random.default_rng(2)
    d = int(np.prod(shape[1:]))
    _, gamma, beta = data(rng, 1, d, dtype)
    f = fast.BatchNormalization(gamma, beta, momentum=0.7)
    r = ref.BatchNormalization(gamma.astype(np.float64), beta.astype(np.float64), momentum=0.7)
    tol = TOL[np.dtype(dtype)]
    rm = None
    for step in range(4):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(dtype)
        dout = rng.standard_normal(shape).astype(dtype)
        out = f.forward(x, train_flg=True)
        want = r.forward(x.astype(np.float64), train_flg=True)
        assert out.shape == shape and out.dtype == np.dtype(dtype)
        assert rel_error(out, want) <= tol
        if rm is None:
            rm, rv = f.running_mean, f.running_var
            assert rm.dtype == np.dtype(dtype) and rm.shape == (d,)
        assert f.running_mean is rm and f.running_var is rv      # updated in place
        np.testing.assert_allclose(rm, r.running_mean, rtol=tol, atol=tol)
        np.testing.assert_allclose(rv, r.running_var, rtol=tol)
        dx = f.backward(dout)
        want_dx = r.backward(dout.astype(np.float64))
        assert dx.shape == shape
        scale = (gamma / r.std) * dout.reshape(shape[0], -1)
        assert rel_error(dx.reshape(shape[0], -1), want_dx.reshape(shape[0], -1), scale) <= tol
        assert f.batch_size == shape[0] and f.xc.shape == (shape[0], d)
        assert rel_error(f.xc, r.xc) <= tol and rel_error(f.xn, r.xn) <= tol
        y = f.forward(x[::-1], train_flg=False)
        assert rel_error(y, r.forward(x[::-1].astype(np.float64), train_flg=False)) <= tol


def test_layer_updates_given_running_arrays_in_place():
    rng = np.random.default_rng(3)
    rm, rv = np.ones(4), np.ones(4)
    f = fast.BatchNormalization(np.ones(4), np.zeros(4), running_mean=rm, running_var=rv)
    x = rng.standard_normal((6, 4))
    f.forward(x)
    assert f.running_mean is rm
    np.testing.assert_allclose(rm, 0.9 + 0.1 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * x.var(axis=0), rtol=1e-12)


def test_layer_buffers_reused_and_never_overwritten_while_held():
    rng = np.random.default_rng(4)
    f = fast.BatchNormalization(np.ones(5), np.zeros(5))
    x1, x2 = rng.standard_normal((7, 5)), rng.standard_normal((7, 5))
    y1 = f.forward(x1)
    xn1 = f.xn
    kept, kept_xn = y1.copy(), xn1.copy()
    y2 = f.forward(x2)
    assert y2 is not y1 and f.xn is not xn1
    np.testing.assert_array_equal(y1, kept)
    np.testing.assert_array_equal(xn1, kept_xn)
    del y1, y2, xn1
    p = f.forward(x1).ctypes.data
    f.backward(x2)
    assert f.forward(x1).ctypes.data == p
    # Changing shapes still give the reference's numbers.
    r = ref.BatchNormalization(np.ones(5), np.zeros(5))
    for n in (3, 9, 3, 1, 9):
        x = rng.standard_normal((n, 5))
        assert rel_error(f.forward(x), r.forward(x)) <= 1e-12


def test_layer_defers_other_dtypes_to_the_reference():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    f = fast.BatchNormalization(np.ones(3), np.zeros(3))          # float64 gamma
    r = ref.BatchNormalization(np.ones(3), np.zeros(3))
    np.testing.assert_array_equal(f.forward(x), r.forward(x))
    dout = rng.standard_normal((6, 3))
    np.testing.assert_array_equal(f.backward(dout), r.backward(dout))


def test_nan_stays_in_its_column():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 4))
    x[2, 1] = np.nan
    out, xc, xn, std = ops.batchnorm_forward_train(x, np.ones(4), np.zeros(4))
    assert np.isnan(out[:, 1]).all() and np.isnan(std[1])
    assert np.isfinite(np.delete(out, 1, axis=1)).all()
    dout = rng.standard_normal((5, 4))
    dout[0, 3] = np.nan
    dx, dg, db = ops.batchnorm_backward(dout, np.nan_to_num(xn), np.nan_to_num(std, nan=1.0),
                                        np.ones(4))
    assert np.isnan(dx[:, 3]).all() and np.isnan(dg[3]) and np.isnan(db[3])
    assert np.isfinite(dx[:, :3]).all()


@pytest.mark.parametrize("n", [2 * _k.ROWS, 3 * _k.ROWS - 1, 1000])
def test_row_blocks_give_identical_results_on_any_thread_count(n):
    """The row blocks are the same on every thread count, and combined on
    one thread in block order: 1, 2, 3 and 7 threads give the same bits,
    training, backward, inference and running statistics."""
    rng = np.random.default_rng(n)
    d = 100
    x, gamma, beta = data(rng, n, d, np.float64, 1.0)
    dout = rng.standard_normal((n, d))
    results = {}
    for threads in (1, 2, 3, 7):
        rm, rv = np.zeros(d), np.ones(d)
        fw = ops.batchnorm_forward_train(x, gamma, beta, rm, rv, num_threads=threads)
        bw = ops.batchnorm_backward(dout, fw[2], fw[3], gamma, num_threads=threads)
        inf = ops.batchnorm_forward_infer(x, gamma, beta, rm, rv, num_threads=threads)
        results[threads] = fw + bw + (rm, rv, inf)
    for threads in (2, 3, 7):
        for a, b in zip(results[threads], results[1]):
            np.testing.assert_array_equal(a, b)


def test_row_blocks_keep_nan_and_inf_in_their_column():
    """A NaN or an infinity in a later block: the column's statistics are the
    reference's (an infinite column's mean is NumPy's inf, its spread NaN),
    the other columns untouched."""
    rng = np.random.default_rng(8)
    n, d = 5 * _k.ROWS + 3, 5
    x = rng.standard_normal((n, d))
    x[3 * _k.ROWS + 1, 1] = np.nan
    x[4 * _k.ROWS + 2, 3] = np.inf
    gamma, beta = np.ones(d), np.zeros(d)
    out, xc, xn, std = ops.batchnorm_forward_train(x, gamma, beta)
    r = ref.BatchNormalization(gamma, beta)
    with np.errstate(invalid="ignore"):
        want = r.forward(x, train_flg=True)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
    np.testing.assert_array_equal(np.isnan(std), np.isnan(r.std))
    np.testing.assert_array_equal(xc[:, 3], r.xc[:, 3])       # x - inf, as NumPy
    ok = [0, 2, 4]
    assert rel_error(out[:, ok], want[:, ok]) <= 1e-12
    dout = rng.standard_normal((n, d))
    dout[2 * _k.ROWS + 5, 4] = np.nan
    dx, dg, db = ops.batchnorm_backward(dout, np.nan_to_num(xn), np.nan_to_num(std, nan=1.0),
                                        gamma)
    assert np.isnan(dx[:, 4]).all() and np.isnan(dg[4]) and np.isnan(db[4])
    assert np.isfinite(dx[:, :4]).all()


def test_threads_give_identical_results():
    rng = np.random.default_rng(7)
    n, d = 400, 700                       # above the parallel threshold
    assert n * d >= _k.PARALLEL_MIN_SIZE
    x, gamma, beta = data(rng, n, d, np.float64)
    dout = rng.standard_normal((n, d))
    results = []
    for threads in (1, 2):
        rm, rv = np.zeros(d), np.ones(d)
        fw = ops.batchnorm_forward_train(x, gamma, beta, rm, rv, num_threads=threads)
        bw = ops.batchnorm_backward(dout, fw[2], fw[3], gamma, num_threads=threads)
        inf = ops.batchnorm_forward_infer(x, gamma, beta, rm, rv, num_threads=threads)
        results.append(fw + bw + (rm, rv, inf))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: ops.batchnorm_forward_train(np.ones((3, 2), np.int32), np.ones(2), np.ones(2)),
     TypeError, ["x", "float32 or float64"]),
    (lambda: ops.batchnorm_forward_train(np.ones(3), np.ones(2), np.ones(2)),
     ValueError, ["x", "2-dimensional"]),
    (lambda: ops.batchnorm_forward_train(np.ones((3, 2)), np.ones(3), np.ones(2)),
     ValueError, ["gamma", "(2,)"]),
    (lambda: ops.batchnorm_forward_train(np.ones((3, 2)), np.ones(2, np.float32), np.ones(2)),
     TypeError, ["gamma", "float32", "x"]),
    (lambda: ops.batchnorm_forward_train(np.ones((3, 2)), np.ones(2), np.ones(2),
                                         np.zeros(2), None), ValueError, ["running_var"]),
    (lambda: ops.batchnorm_forward_train(np.ones((3, 2)), np.ones(2), np.ones(2),
                                         np.zeros(2), np.zeros(4)[::2]),
     ValueError, ["running_var", "in place"]),
    (lambda: ops.batchnorm_forward_train(np.ones((0, 2)), np.ones(2), np.ones(2)),
     ValueError, ["x", "at least one row"]),
    (lambda: ops.batchnorm_forward_train(np.ones((3, 2)), np.ones(2), np.ones(2),
                                         out=np.ones((2, 3))), ValueError, ["out", "(3, 2)"]),
    (lambda: ops.batchnorm_forward_infer(np.ones((3, 2)), np.ones(2), np.ones(2),
                                         np.zeros(2), np.ones(3)), ValueError, ["running_var"]),
    (lambda: ops.batchnorm_backward(np.ones((3, 2)), np.ones((3, 3)), np.ones(2), np.ones(2)),
     ValueError, ["xn", "dout"]),
    (lambda: ops.batchnorm_backward(np.ones((3, 2)), np.ones((3, 2)), np.ones(2, np.float32),
                                    np.ones(2)), TypeError, ["std", "dout"]),
    (lambda: ops.batchnorm_backward(np.ones((3, 2)), np.ones((3, 2)), np.ones(2), np.ones(2),
                                    num_threads=0), ValueError, ["num_threads"]),
])
def test_bad_arguments_are_named(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value)


def test_read_only_running_stats_are_refused():
    rm = np.zeros(2)
    rm.flags.writeable = False
    with pytest.raises(ValueError, match="running_mean"):
        ops.batchnorm_forward_train(np.ones((3, 2)), np.ones(2), np.ones(2), rm, np.zeros(2))


def test_layer_fast_path_defers_byteswapped_inputs_and_parameters():
    # The C fast path takes native float arrays only; anything else runs the
    # reference code, with the reference's numbers.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 4))
    dout = rng.standard_normal((8, 4))
    g = rng.standard_normal(4)
    b = rng.standard_normal(4)
    want = ref.BatchNormalization(g.copy(), b.copy())
    want_out = want.forward(x, True)
    want_dx = want.backward(dout)
    for xi, gi in ((x.astype(">f8"), g), (x, g.astype(">f8"))):
        layer = fast.BatchNormalization(gi, b.copy())
        out = layer.forward(xi, True)
        dx = layer.backward(dout)
        np.testing.assert_allclose(out, want_out, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, want_dx, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer.running_mean, want.running_mean, rtol=1e-12,
                                   atol=1e-15)
