"""Affine kernels (fastnn.ops.affine_forward/backward) and the fast Affine
layer against the reference (fastnn.reference.layers.Affine)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn import ops
from fastnn import layers as fast
from fastnn.reference import layers as ref
from _util import TOL, laid_out, rel_error

SETTINGS = settings()  # examples per run: the hypothesis profile (tests/conftest.py)

dtypes = st.sampled_from([np.float64, np.float32])
layouts = st.sampled_from(["C", "F", "strided", "padded"])
seeds = st.integers(0, 2**32 - 1)


def assert_close(got, want, dtype):
    assert got.dtype == np.dtype(dtype)
    assert rel_error(got, want) <= TOL[np.dtype(dtype)]


def reference(x, W, b, dout, weight_decay=0.0):
    """The reference layer's results in float64 on the same values."""
    layer = ref.Affine(W.astype(np.float64), b.astype(np.float64))
    out = layer.forward(x.astype(np.float64))
    dx = layer.backward(dout.astype(np.float64))
    return out, dx, layer.dW + weight_decay * layer.W, layer.db


# -- kernels ---------------------------------------------------------------------

@SETTINGS
@given(n=st.integers(1, 40), k=st.integers(1, 50), m=st.integers(1, 30), dtype=dtypes,
       lx=layouts, lw=layouts, ld=layouts, seed=seeds, decay=st.sampled_from([0.0, 0.1]))
def test_kernels_match_reference(n, k, m, dtype, lx, lw, ld, seed, decay):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, k)).astype(dtype)
    W = rng.standard_normal((k, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    dout = rng.standard_normal((n, m)).astype(dtype)
    want_out, want_dx, want_dW, want_db = reference(x, W, b, dout, decay)
    xl, Wl, dl = laid_out(x, lx), laid_out(W, lw), laid_out(dout, ld)

    out = ops.affine_forward(xl, Wl, b)
    assert out.flags.c_contiguous
    assert_close(out, want_out, dtype)
    dx, dW, db = ops.affine_backward(dl, xl, Wl, weight_decay=decay)
    assert_close(dx, want_dx, dtype)
    assert_close(dW, want_dW, dtype)
    assert_close(db, want_db, dtype)
    # Inputs are left alone.
    np.testing.assert_array_equal(xl, x)
    np.testing.assert_array_equal(dl, dout)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernels_write_into_given_buffers(dtype):
    rng = np.random.default_rng(1)
    x, W = rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)
    b, dout = rng.standard_normal(4).astype(dtype), rng.standard_normal((7, 4)).astype(dtype)
    out, dx, dW, db = (np.full((7, 4), np.nan, dtype), np.full((7, 5), np.nan, dtype),
                       np.full((5, 4), np.nan, dtype), np.full(4, np.nan, dtype))
    assert ops.affine_forward(x, W, b, out=out) is out
    got = ops.affine_backward(dout, x, W, dx=dx, dW=dW, db=db)
    assert got[0] is dx and got[1] is dW and got[2] is db
    want_out, want_dx, want_dW, want_db = reference(x, W, b, dout)
    for a, w in [(out, want_out), (dx, want_dx), (dW, want_dW), (db, want_db)]:
        assert_close(a, w, dtype)
    # compute_dx=False: no dx, the rest unchanged.
    dx2, dW2, db2 = ops.affine_backward(dout, x, W, compute_dx=False)
    assert dx2 is None
    np.testing.assert_array_equal(dW2, dW)
    np.testing.assert_array_equal(db2, db)


def test_kernels_degenerate_shapes():
    x, W, b = np.ones((3, 0)), np.ones((0, 2)), np.array([1.0, 2.0])
    np.testing.assert_array_equal(ops.affine_forward(x, W, b), [[1, 2]] * 3)
    dx, dW, db = ops.affine_backward(np.ones((3, 2)), x, W)
    assert dx.shape == (3, 0) and dW.shape == (0, 2)
    np.testing.assert_array_equal(db, [3, 3])
    assert ops.affine_forward(np.ones((0, 4)), np.ones((4, 2)), b).shape == (0, 2)


def test_nan_propagates():
    rng = np.random.default_rng(2)
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), np.zeros(5)
    x[1, 2] = np.nan
    out = ops.affine_forward(x, W, b)
    assert np.isnan(out[1]).all() and np.isfinite(np.delete(out, 1, axis=0)).all()
    dout = rng.standard_normal((4, 5))
    dout[2, 0] = np.nan
    dx, dW, db = ops.affine_backward(dout, np.nan_to_num(x), W)
    assert np.isnan(dx[2]).all() and np.isnan(dW[:, 0]).all() and np.isnan(db[0])
    assert np.isfinite(db[1:]).all()
    b[3] = np.nan
    assert np.isnan(ops.affine_forward(np.nan_to_num(x), W, b)[:, 3]).all()


@pytest.mark.parametrize("call, exc, words", [
    (lambda: ops.affine_forward(np.ones((2, 3), np.int64), np.ones((3, 2)), np.ones(2)),
     TypeError, ["x", "float32 or float64"]),
    (lambda: ops.affine_forward(np.ones((2, 3)), np.ones((3, 2), np.float32), np.ones(2)),
     TypeError, ["W", "float32", "x"]),
    (lambda: ops.affine_forward(np.ones((2, 3)), np.ones((4, 2)), np.ones(2)),
     ValueError, ["W", "(4, 2)", "x.shape[1]"]),
    (lambda: ops.affine_forward(np.ones(3), np.ones((3, 2)), np.ones(2)),
     ValueError, ["x", "2-dimensional"]),
    (lambda: ops.affine_forward(np.ones((2, 3)), np.ones((3, 2)), np.ones(3)),
     ValueError, ["b", "(2,)"]),
    (lambda: ops.affine_forward(np.ones((2, 3)), np.ones((3, 2)), np.ones(2),
                                out=np.ones((2, 3))), ValueError, ["out", "(2, 2)"]),
    (lambda: ops.affine_forward(np.ones((2, 3)), np.ones((3, 2)), np.ones(2),
                                out=np.ones((2, 2), np.float32)), TypeError, ["out", "float64"]),
    (lambda: ops.affine_forward(np.ones((2, 3)), np.ones((3, 2)), np.ones(2),
                                out=np.ones((2, 2), order="F")), ValueError, ["out", "C-contig"]),
    (lambda: ops.affine_backward(np.ones((2, 2)), np.ones((3, 3)), np.ones((3, 2))),
     ValueError, ["x", "dout", "rows"]),
    (lambda: ops.affine_backward(np.ones((2, 2)), np.ones((2, 3)), np.ones((3, 4))),
     ValueError, ["W", "(3, 2)"]),
    (lambda: ops.affine_backward(np.ones((2, 2)), np.ones((2, 3)), np.ones((3, 2)),
                                 dW=np.ones((3, 2), np.float32)), TypeError, ["dW"]),
])
def test_bad_arguments_are_named(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value)


def test_output_overlapping_an_input_is_refused():
    x, W, b = np.ones((2, 2)), np.ones((2, 2)), np.ones(2)
    with pytest.raises(ValueError, match="out shares memory with x"):
        ops.affine_forward(x, W, b, out=x)
    with pytest.raises(ValueError, match="dW shares memory with W"):
        ops.affine_backward(np.ones((2, 2)), x, W, dW=W)


# -- the layer -----------------------------------------------------------------------

@SETTINGS
@given(shapes=st.lists(st.sampled_from([(5, 6), (1, 6), (3, 2, 3), (4, 1, 2, 3), (9, 6)]),
                       min_size=1, max_size=5),
       dtype=dtypes, seed=seeds)
def test_layer_matches_reference_with_changing_shapes(shapes, dtype, seed):
    """Buffers are reused across calls; shapes change between them."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((6, 4)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    f, r = fast.Affine(W, b), ref.Affine(W.astype(np.float64), b.astype(np.float64))
    for shape in shapes:
        x = rng.standard_normal(shape).astype(dtype)
        dout = rng.standard_normal((shape[0], 4)).astype(dtype)
        assert_close(f.forward(x), r.forward(x.astype(np.float64)), dtype)
        dx = f.backward(dout)
        want = r.backward(dout.astype(np.float64))
        assert dx.shape == x.shape
        assert_close(dx, want, dtype)
        assert_close(f.dW, r.dW, dtype)
        assert_close(f.db, r.db, dtype)
        assert f.original_x_shape == shape and f.x.shape == (shape[0], 6)


def test_layer_keeps_references_and_never_overwrites_held_results():
    rng = np.random.default_rng(3)
    W, b = rng.standard_normal((5, 3)), rng.standard_normal(3)
    layer = fast.Affine(W, b)
    assert layer.W is W and layer.b is b
    x1, x2 = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    y1 = layer.forward(x1)
    kept = y1.copy()
    y2 = layer.forward(x2)              # y1 is still held: a new buffer
    assert y2 is not y1
    np.testing.assert_array_equal(y1, kept)
    W *= 2                              # an optimizer's in-place update is seen
    np.testing.assert_allclose(layer.forward(x1), x1 @ W + b, rtol=1e-13)


def test_layer_reuses_buffers_nobody_holds():
    rng = np.random.default_rng(4)
    layer = fast.Affine(rng.standard_normal((5, 3)), rng.standard_normal(3))
    x, dout = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    p_out = layer.forward(x).ctypes.data
    p_dx = layer.backward(dout).ctypes.data
    dW = layer.dW
    for _ in range(3):
        assert layer.forward(x).ctypes.data == p_out
        assert layer.backward(dout).ctypes.data == p_dx
        assert layer.dW is dW           # parameter gradients: overwritten in place


def test_need_input_grad_and_weight_decay():
    rng = np.random.default_rng(5)
    W, b = rng.standard_normal((6, 3)), rng.standard_normal(3)
    x, dout = rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    f, r = fast.Affine(W, b), ref.Affine(W, b)
    assert f.need_input_grad is True and f.weight_decay == 0
    f.forward(x), r.forward(x)
    want_dx = r.backward(dout)
    f.need_input_grad = False
    assert f.backward(dout) is None
    assert rel_error(f.dW, r.dW) <= 1e-12 and rel_error(f.db, r.db) <= 1e-12
    f.need_input_grad = True
    f.weight_decay = 0.25
    assert rel_error(f.backward(dout), want_dx) <= 1e-12
    assert rel_error(f.dW, r.dW + 0.25 * W) <= 1e-12


@pytest.mark.parametrize("xdtype", [np.float32, np.uint8, np.int64, np.bool_])
def test_layer_mixed_dtypes_follow_numpy_promotion(xdtype):
    """The book feeds float32 images into a float64 network."""
    rng = np.random.default_rng(6)
    W, b = rng.standard_normal((12, 4)), rng.standard_normal(4)
    x = (rng.random((3, 2, 6)) * 5).astype(xdtype)
    dout = rng.standard_normal((3, 4))
    f, r = fast.Affine(W, b), ref.Affine(W, b)
    for _ in range(2):
        got, want = f.forward(x), r.forward(x)
        assert got.dtype == want.dtype == np.float64
        assert rel_error(got, want) <= 1e-12
        dx = f.backward(dout)
        assert dx.dtype == np.float64 and dx.shape == x.shape
        assert rel_error(dx, r.backward(dout)) <= 1e-12
        assert rel_error(f.dW, r.dW) <= 1e-12


def test_layer_defers_exotic_dtypes_to_the_reference():
    rng = np.random.default_rng(7)
    W, b = rng.standard_normal((3, 2)).astype(np.float32), np.zeros(2, np.float32)
    x = rng.standard_normal((4, 3))                       # float64 into float32
    f, r = fast.Affine(W, b), ref.Affine(W, b)
    got = f.forward(x)
    assert got.dtype == r.forward(x).dtype == np.float64
    np.testing.assert_array_equal(got, r.forward(x))
    dout = rng.standard_normal((4, 2))
    np.testing.assert_array_equal(f.backward(dout), r.backward(dout))
    np.testing.assert_array_equal(f.dW, r.dW)


def test_layer_names_a_feature_mismatch():
    layer = fast.Affine(np.ones((4, 2)), np.zeros(2))
    with pytest.raises(ValueError, match=r"x has 3 features.*W has shape \(4, 2\)"):
        layer.forward(np.ones((2, 3)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_weight_decay_term_is_numpys_product_to_the_bit(dtype):
    # dW = xᵀ·dout + λ·W: the λ·W term is computed in C for a C-contiguous W;
    # with dout = 0 it is the whole of dW and must equal NumPy's product.
    rng = np.random.default_rng(3)
    W = rng.standard_normal((7, 5)).astype(dtype)
    for Wl in (W, np.asfortranarray(W)):
        layer = fast.Affine(Wl, np.zeros(5, dtype))
        layer.weight_decay = 0.1
        layer.forward(rng.standard_normal((4, 7)).astype(dtype))
        layer.backward(np.zeros((4, 5), dtype))
        assert layer.dW.dtype == np.dtype(dtype)
        assert np.array_equal(layer.dW, np.multiply(Wl, 0.1))


def test_layer_fast_path_defers_byteswapped_and_subclassed_arrays():
    # The C fast path takes native float arrays only; anything else runs
    # the Python method (cast or reference), with the reference's numbers.
    rng = np.random.default_rng(4)
    W = rng.standard_normal((6, 3))
    b = rng.standard_normal(3)
    x = rng.standard_normal((5, 6))
    dout = rng.standard_normal((5, 3))
    want = ref.Affine(W, b)
    want_out = want.forward(x)
    want_dx = want.backward(dout)
    for xi, Wi in ((x.astype(">f8"), W), (x, W.astype(">f8")), (x.view(np.matrix), W)):
        layer = fast.Affine(Wi, b)
        out = layer.forward(xi)
        dx = layer.backward(dout)
        assert rel_error(out, want_out) <= 1e-12
        assert rel_error(dx, want_dx) <= 1e-12
        assert rel_error(layer.dW, want.dW) <= 1e-12
        assert rel_error(layer.db, want.db) <= 1e-12
