"""Activation and softmax-loss kernels (fastnn.ops) and the fast Relu, Sigmoid
and SoftmaxWithLoss layers against the reference (fastnn.reference.layers)."""
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn import ops
from fastnn import layers as fast
from fastnn.reference import layers as ref
from _util import TOL, assert_close, laid_out

SETTINGS = settings()  # examples per run: the hypothesis profile (tests/conftest.py)




# -- strategies ----------------------------------------------------------------

shapes = st.lists(st.integers(1, 9), min_size=0, max_size=3).map(tuple)
dtypes = st.sampled_from([np.float64, np.float32])
layouts = st.sampled_from(["C", "F", "strided"])
seeds = st.integers(0, 2**32 - 1)


def values(rng, shape, dtype, special=True):
    """Normal values times 4, with zeros, -0.0, NaN and infinities sprinkled in."""
    a = np.asarray(4 * rng.standard_normal(shape)).astype(dtype)
    if special and a.size:
        flat = a.reshape(-1)
        for v in (0.0, -0.0, np.nan, np.inf, -np.inf):
            if rng.random() < 0.3:
                flat[rng.integers(flat.size)] = v
    return a


# -- ReLU ----------------------------------------------------------------------

@SETTINGS
@given(shape=shapes, dtype=dtypes, layout=layouts, seed=seeds, give_out=st.booleans())
def test_relu_matches_reference(shape, dtype, layout, seed, give_out):
    rng = np.random.default_rng(seed)
    x = laid_out(values(rng, shape, dtype), layout)
    dout = laid_out(values(rng, shape, dtype), layout)
    layer = ref.Relu()
    out_ref = layer.forward(x)
    dx_ref = layer.backward(dout)
    if give_out:
        out_buf, mask_buf, dx_buf = (np.empty(shape, dtype), np.empty(shape, bool),
                                     np.empty(shape, dtype))
        out, mask = ops.relu_forward(x, out=out_buf, mask=mask_buf)
        assert out is out_buf and mask is mask_buf
        dx = ops.relu_backward(dout, mask, out=dx_buf)
        assert dx is dx_buf
    else:
        out, mask = ops.relu_forward(x)
        dx = ops.relu_backward(dout, mask)
    # ReLU computes nothing that rounds: exact equality (NaN passes through,
    # -0.0 becomes +0.0 as the reference's out[mask] = 0 makes it).
    assert out.dtype == x.dtype and mask.dtype == np.bool_ and dx.dtype == dout.dtype
    assert np.array_equal(out, out_ref, equal_nan=True)
    assert np.array_equal(np.signbit(out), np.signbit(out_ref))
    assert np.array_equal(mask, layer.mask)
    assert np.array_equal(dx, dx_ref, equal_nan=True)


def test_relu_nan_passes_and_is_not_masked():
    x = np.array([np.nan, -1.0, 0.0, -0.0, 2.0])
    out, mask = ops.relu_forward(x)
    assert np.isnan(out[0]) and not mask[0]
    assert list(mask) == [False, True, True, True, False]
    assert list(out[1:]) == [0.0, 0.0, 0.0, 2.0] and not np.signbit(out[3])
    dx = ops.relu_backward(np.array([1.0, np.nan, np.nan, 3.0, np.nan]), mask)
    assert np.array_equal(dx, [1.0, 0.0, 0.0, 0.0, np.nan], equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_in_place_and_dout_untouched(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 5)).astype(dtype)
    expected = ref.Relu().forward(x)
    out, mask = ops.relu_forward(x, out=x)  # out may be x itself
    assert out is x and np.array_equal(x, expected)
    dout = rng.standard_normal((7, 5)).astype(dtype)
    keep = dout.copy()
    ops.relu_backward(dout, mask)
    assert np.array_equal(dout, keep)


def test_relu_bad_arguments_are_named():
    x = np.ones((3, 4))
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        ops.relu_forward(x.astype(np.int32))
    with pytest.raises(TypeError, match="x must be a numpy.ndarray"):
        ops.relu_forward([1.0, 2.0])
    with pytest.raises(TypeError, match="out has dtype float32 but x has dtype float64"):
        ops.relu_forward(x, out=np.empty((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"out has shape \(4, 3\) but x"):
        ops.relu_forward(x, out=np.empty((4, 3)))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        ops.relu_forward(x, out=np.empty((4, 3)).T)
    ro = np.empty((3, 4))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        ops.relu_forward(x, out=ro)
    with pytest.raises(TypeError, match="mask must have dtype bool"):
        ops.relu_forward(x, mask=np.empty((3, 4), np.uint8))
    with pytest.raises(ValueError, match="mask must be C-contiguous"):
        ops.relu_forward(x, mask=np.empty((4, 3), bool).T)
    big = np.zeros(13)
    with pytest.raises(ValueError, match="out shares memory with x"):
        ops.relu_forward(big[:12].reshape(3, 4), out=big[1:].reshape(3, 4))
    with pytest.raises(TypeError, match="dout must have dtype"):
        ops.relu_backward(x.astype(np.float16), np.zeros((3, 4), bool))
    with pytest.raises(TypeError, match="mask must have dtype bool"):
        ops.relu_backward(x, np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"mask has shape \(4, 3\) but dout"):
        ops.relu_backward(x, np.zeros((4, 3), bool))
    # Non-native byte order: converted (tests/test_kernels_contract.py covers every kernel).
    assert np.array_equal(ops.relu_forward(x.astype(">f8"))[0], ops.relu_forward(x)[0])


# -- sigmoid -------------------------------------------------------------------

@SETTINGS
@given(shape=shapes, dtype=dtypes, layout=layouts, seed=seeds, give_out=st.booleans())
def test_sigmoid_matches_reference(shape, dtype, layout, seed, give_out):
    rng = np.random.default_rng(seed)
    x = laid_out(values(rng, shape, dtype), layout)
    dout = laid_out(values(rng, shape, dtype, special=False), layout)
    layer = ref.Sigmoid()
    with np.errstate(over="ignore"):
        y_ref = layer.forward(x)
    dx_ref = layer.backward(dout)
    with np.errstate(over="ignore"):
        if give_out:
            y = ops.sigmoid_forward(x, out=np.empty(shape, dtype))
            dx = ops.sigmoid_backward(dout, y, out=np.empty(shape, dtype))
        else:
            y = ops.sigmoid_forward(x)
            dx = ops.sigmoid_backward(dout, np.asarray(y_ref))
    assert_close(y, y_ref, dtype)
    assert_close(dx, layer.backward(dout) if give_out else dx_ref, dtype)
    # backward alone is exact given the same y: same three roundings
    assert np.array_equal(ops.sigmoid_backward(dout, np.asarray(y_ref)), dx_ref,
                          equal_nan=True)


def test_sigmoid_nan_and_limits():
    with np.errstate(over="ignore"):  # exp(1000), as NumPy warns
        y = ops.sigmoid_forward(np.array([np.nan, -np.inf, np.inf, -1000.0, 0.0]))
    assert np.isnan(y[0])
    assert list(y[1:]) == [0.0, 1.0, 0.0, 0.5]
    dx = ops.sigmoid_backward(np.array([np.nan, 1.0]), np.array([0.5, np.nan]))
    assert np.isnan(dx).all()


def test_sigmoid_bad_arguments_are_named():
    x = np.ones((2, 3))
    with pytest.raises(TypeError, match="y has dtype float32 but dout has dtype float64"):
        ops.sigmoid_backward(x, x.astype(np.float32))
    with pytest.raises(ValueError, match=r"y has shape \(3, 2\) but dout"):
        ops.sigmoid_backward(x, np.ones((3, 2)))
    with pytest.raises(TypeError, match="x must have dtype"):
        ops.sigmoid_forward(np.ones(3, np.int64))
    out = ops.sigmoid_forward(x, out=x)  # in place
    assert out is x


# -- softmax with cross-entropy ------------------------------------------------

def labels_for(rng, n, c, kind, dtype):
    t = rng.integers(0, c, n)
    if kind == "onehot":
        return np.eye(c, dtype=dtype)[t]
    return t.astype({"int64": np.int64, "int32": np.int32, "uint8": np.uint8,
                     "int16": np.int16, "uint64": np.uint64}[kind])


@SETTINGS
@given(n=st.integers(1, 40), c=st.integers(2, 30), dtype=dtypes, layout=layouts, seed=seeds,
       kind=st.sampled_from(["int64", "int32", "uint8", "int16", "uint64", "onehot"]),
       eps=st.sampled_from([0.0, 0.1, 0.35]), give_out=st.booleans())
def test_softmax_cross_entropy_matches_reference(n, c, dtype, layout, seed, kind, eps, give_out):
    rng = np.random.default_rng(seed)
    x = laid_out((5 * rng.standard_normal((n, c))).astype(dtype), layout)
    t = laid_out(labels_for(rng, n, c, kind, dtype), layout)
    layer = ref.SoftmaxWithLoss(label_smoothing=eps)
    loss_ref = layer.forward(x, t)
    dx_ref = layer.backward()
    y_out = np.empty((n, c), dtype) if give_out else None
    loss, y = ops.softmax_cross_entropy_forward(x, t, eps, y_out=y_out)
    if give_out:
        assert y is y_out
    dx = ops.softmax_cross_entropy_backward(y, t, eps)
    assert type(loss) is type(loss_ref) and loss.dtype == np.dtype(dtype)
    assert abs(loss - loss_ref) <= TOL[np.dtype(dtype)] * abs(loss_ref)
    assert_close(y, layer.y, dtype)
    assert_close(dx, dx_ref, dtype)
    if dtype == np.float64 and layout != "F":
        # exp/log are the same libm calls and the sums use NumPy's pairwise
        # blocking: float64 agrees bit for bit.  (Not for an F-ordered x:
        # NumPy then sums each row one element after another, and with
        # smoothing adds the loss terms in F memory order.)
        assert loss == loss_ref and np.array_equal(y, layer.y)
        assert np.array_equal(ops.softmax_cross_entropy_backward(layer.y, t, eps), dx_ref)


def test_softmax_large_rows_use_numpys_summation():
    # Rows longer than NumPy's 128-element pairwise block.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 1000)) * 3
    t = rng.integers(0, 1000, 3)
    layer = ref.SoftmaxWithLoss(label_smoothing=0.2)
    loss_ref = layer.forward(x, t)
    loss, y = ops.softmax_cross_entropy_forward(x, t, 0.2)
    assert loss == loss_ref and np.array_equal(y, layer.y)


def test_softmax_nan_propagates():
    x = np.array([[1.0, np.nan, 2.0], [0.0, 1.0, 2.0]])
    t = np.array([0, 2])
    loss, y = ops.softmax_cross_entropy_forward(x, t)
    assert np.isnan(loss) and np.isnan(y[0]).all() and not np.isnan(y[1]).any()
    dx = ops.softmax_cross_entropy_backward(y, t)
    assert np.isnan(dx[0]).all() and not np.isnan(dx[1]).any()
    with np.errstate(invalid="ignore"):
        assert np.isnan(ref.SoftmaxWithLoss().forward(x, t))
    # a NaN in one-hot labels: argmax reads it as the class, as NumPy's does
    onehot = np.array([[0.0, np.nan, 1.0], [1.0, 0.0, 0.0]])
    loss, _ = ops.softmax_cross_entropy_forward(x[1:].repeat(2, 0), onehot)
    layer = ref.SoftmaxWithLoss()
    assert loss == layer.forward(x[1:].repeat(2, 0), onehot)


@pytest.mark.parametrize("t, message", [
    (np.array([0, 3]), r"t must hold class indices in \[0, 3\), got values in \[0, 3\]"),
    (np.array([-1, 0]), r"t must hold class indices in \[0, 3\)"),
    (np.array([0, 200], np.uint8), r"t must hold class indices in \[0, 3\)"),
    (np.array([-5, 0], np.int16), r"t must hold class indices in \[0, 3\)"),
    (np.array([2**63, 0], np.uint64), r"t must hold class indices in \[0, 3\)"),
])
def test_labels_out_of_range_are_value_errors(t, message):
    x = np.zeros((2, 3))
    y = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=message):
        ops.softmax_cross_entropy_forward(x, t)
    with pytest.raises(ValueError, match=message):
        ops.softmax_cross_entropy_backward(y, t)
    with pytest.raises(ValueError, match=message):
        fast.SoftmaxWithLoss().forward(x, t)


def test_softmax_bad_arguments_are_named():
    x = np.zeros((2, 3))
    with pytest.raises(TypeError, match="t must hold integer class indices, got dtype float64"):
        ops.softmax_cross_entropy_forward(x, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="t has 3 labels but x has 2 rows"):
        ops.softmax_cross_entropy_forward(x, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="t holds one-hot rows of dtype float32 but x has"):
        ops.softmax_cross_entropy_forward(x, np.eye(3, dtype=np.float32)[:2])
    with pytest.raises(ValueError, match=r"t has shape \(2, 4\) but x"):
        ops.softmax_cross_entropy_forward(x, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="t must be class indices of shape"):
        ops.softmax_cross_entropy_forward(x, np.zeros((2, 3, 1), np.int64))
    with pytest.raises(TypeError, match="t must be a numpy.ndarray"):
        ops.softmax_cross_entropy_forward(x, [0, 1])
    with pytest.raises(ValueError, match="x must be 2-dimensional"):
        ops.softmax_cross_entropy_forward(np.zeros(3), np.array([0]))
    with pytest.raises(ValueError, match="x must have at least one row and one column"):
        ops.softmax_cross_entropy_forward(np.zeros((0, 3)), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        ops.softmax_cross_entropy_forward(x, np.array([0, 1]), 1.0)
    with pytest.raises(TypeError, match="y_out has dtype float32 but x has dtype float64"):
        ops.softmax_cross_entropy_forward(x, np.array([0, 1]), y_out=np.empty((2, 3), np.float32))
    with pytest.raises(ValueError, match="y has 2 rows|t has 3 labels but y has 2 rows"):
        ops.softmax_cross_entropy_backward(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="out shares memory with t"):
        t = np.eye(3)[:2].copy()
        ops.softmax_cross_entropy_backward(np.full((2, 3), 1 / 3), t, out=t)


def test_softmax_in_place_outputs():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 5))
    t = rng.integers(0, 5, 4)
    layer = ref.SoftmaxWithLoss()
    loss_ref = layer.forward(x, t)
    dx_ref = layer.backward()
    loss, y = ops.softmax_cross_entropy_forward(x, t, y_out=x)  # y written over x
    assert y is x and loss == loss_ref and np.array_equal(x, layer.y)
    dx = ops.softmax_cross_entropy_backward(y, t, out=y)  # dx written over y
    assert dx is y and np.array_equal(dx, dx_ref)


# -- fast layers ---------------------------------------------------------------

@SETTINGS
@given(shape=shapes, dtype=dtypes, layout=layouts, seed=seeds, steps=st.integers(1, 3))
def test_fast_relu_and_sigmoid_layers_match_reference(shape, dtype, layout, seed, steps):
    rng = np.random.default_rng(seed)
    for cls in ("Relu", "Sigmoid"):
        lf, lr = getattr(fast, cls)(), getattr(ref, cls)()
        for _ in range(steps):
            x = laid_out(values(rng, shape, dtype, special=cls == "Relu"), layout)
            d = laid_out(values(rng, shape, dtype, special=False), layout)
            yf = lf.forward(x)
            yr = lr.forward(x)
            dxf = lf.backward(d)
            dxr = lr.backward(d)
            assert_close(yf, yr, dtype)
            assert_close(dxf, dxr, dtype)
            if cls == "Relu":
                assert lf.mask.dtype == np.bool_ and np.array_equal(lf.mask, lr.mask)
            else:
                assert lf.out is yf


@SETTINGS
@given(shape=shapes, dtype=dtypes, layout=layouts, seed=seeds, steps=st.integers(1, 3))
def test_fast_tanh_layer_is_numpys_bit_for_bit(shape, dtype, layout, seed, steps):
    # forward: NumPy's own np.tanh into the buffer; backward: dout·(1 - y²)
    # fused, rounded in NumPy's order -- the same bits, NaN and inf included.
    rng = np.random.default_rng(seed)
    lf, lr = fast.Tanh(), ref.Tanh()
    assert lr.ops.name == "numpy" and lf.ops.name == "compiled"
    for _ in range(steps):
        x = laid_out(values(rng, shape, dtype), layout)
        d = laid_out(values(rng, shape, dtype), layout)
        yf, yr = lf.forward(x), lr.forward(x)
        dxf, dxr = lf.backward(d), lr.backward(d)
        for a, b in ((yf, yr), (dxf, dxr)):
            a, b = np.asarray(a), np.asarray(b)
            assert a.dtype == b.dtype == dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        assert lf.out is yf


def test_tanh_of_other_dtypes_takes_numpys_formula():
    x = np.array([[-2, 0, 3]], dtype=np.int32)
    layer = fast.Tanh()
    np.testing.assert_array_equal(layer.forward(x), np.tanh(x))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 3), np.float16)),
                                  np.ones((1, 3), np.float16) * (1 - np.tanh(x) ** 2))


@SETTINGS
@given(n=st.integers(1, 30), c=st.integers(2, 12), dtype=dtypes, seed=seeds,
       kind=st.sampled_from(["int64", "uint8", "onehot"]), eps=st.sampled_from([0.0, 0.1]))
def test_fast_softmax_layer_matches_reference(n, c, dtype, seed, kind, eps):
    rng = np.random.default_rng(seed)
    lf = fast.SoftmaxWithLoss(label_smoothing=eps)
    lr = ref.SoftmaxWithLoss(label_smoothing=eps)
    for _ in range(2):
        x = (3 * rng.standard_normal((n, c))).astype(dtype)
        t = labels_for(rng, n, c, kind, dtype)
        loss_f, loss_r = lf.forward(x, t), lr.forward(x, t)
        assert type(loss_f) is type(loss_r)
        assert abs(loss_f - loss_r) <= TOL[np.dtype(dtype)] * abs(loss_r)
        assert lf.t is t and lf.loss == loss_f
        assert_close(lf.y, lr.y, dtype)
        assert_close(lf.backward(), lr.backward(), dtype)


def test_fast_layers_defer_to_reference():
    # Inputs the kernels do not take give the reference's results.
    xi = np.array([[-2, 0, 3]])
    assert np.array_equal(fast.Relu().forward(xi), ref.Relu().forward(xi))
    rf, rr = fast.Relu(), ref.Relu()
    rf.forward(xi), rr.forward(xi)
    d = np.array([[1.0, 2.0, 3.0]])
    assert np.array_equal(rf.backward(d), rr.backward(d))
    with np.errstate(all="ignore"):
        assert np.array_equal(fast.Sigmoid().forward(xi), ref.Sigmoid().forward(xi))
    x16 = np.array([0.5, -1.0], np.float16)
    assert fast.Sigmoid().forward(x16).dtype == np.float16
    # mixed dtypes in sigmoid backward: the reference promotes to float64
    sf, sr = fast.Sigmoid(), ref.Sigmoid()
    x32 = np.array([0.5, -1.0], np.float32)
    sf.forward(x32), sr.forward(x32)
    d64 = np.array([1.0, 2.0])
    out = sf.backward(d64)
    assert out.dtype == sr.backward(d64).dtype == np.float64
    assert np.array_equal(out, d64 * (1.0 - sf.out) * sf.out)
    # float32 scores with float64 one-hot labels: the reference's backward is float64
    x = np.array([[0.1, 0.2, 0.3]], np.float32)
    t = np.array([[0.0, 1.0, 0.0]])
    lf, lr = fast.SoftmaxWithLoss(), ref.SoftmaxWithLoss()
    assert lf.forward(x, t) == lr.forward(x, t)
    assert lf.backward().dtype == lr.backward().dtype == np.float64
    # A NumPy float64 smoothing factor with float32 scores: float64 arithmetic
    lf = fast.SoftmaxWithLoss(label_smoothing=np.float64(0.1))
    lr = ref.SoftmaxWithLoss(label_smoothing=np.float64(0.1))
    ti = np.array([1])
    assert lf.forward(x, ti) == lr.forward(x, ti)
    assert np.array_equal(lf.backward(), lr.backward())


def test_fast_layer_outputs_are_never_overwritten_while_held():
    rng = np.random.default_rng(3)
    for cls in (fast.Relu, fast.Sigmoid):
        layer = cls()
        x1, x2 = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
        y1 = layer.forward(x1)
        keep = y1.copy()
        y2 = layer.forward(x2)
        assert y2 is not y1 and np.array_equal(y1, keep)
        d1 = layer.backward(x1)
        keep = d1.copy()
        d2 = layer.backward(x2)
        assert d2 is not d1 and np.array_equal(d1, keep)
    relu = fast.Relu()
    relu.forward(rng.standard_normal(6))
    m1 = relu.mask
    keep = m1.copy()
    relu.forward(rng.standard_normal(6))
    assert relu.mask is not m1 and np.array_equal(m1, keep)


@pytest.mark.skipif(not hasattr(sys, "getrefcount"), reason="needs reference counts")
def test_fast_layers_reuse_buffers_in_a_training_loop():
    # A held output (the next layer keeps its input) costs one extra buffer;
    # after that no step allocates.
    rng = np.random.default_rng(4)
    relu, soft = fast.Relu(), fast.SoftmaxWithLoss()
    held = None
    seen = set()
    x = rng.standard_normal((8, 10))
    t = rng.integers(0, 10, 8)
    for step in range(6):
        out = relu.forward(x)
        held = out  # as Affine keeps self.x
        soft.forward(out, t)
        dx = relu.backward(soft.backward())
        if step >= 2:
            seen.add(id(out))
        del dx
    assert len(seen) == 2  # two buffers alternate
    assert held is not None


def test_fast_network_matches_reference_with_activation_layers():
    from fastnn.multi_layer_net_extend import MultiLayerNetExtend
    for act in ("relu", "sigmoid"):
        np.random.seed(0)
        nf = MultiLayerNetExtend(12, [9, 7], 4, activation=act, backend="reference",
                                 use_batchnorm=True)
        np.random.seed(0)
        nr = MultiLayerNetExtend(12, [9, 7], 4, activation=act, backend="reference",
                                 use_batchnorm=True)
        for key in nf.layers:
            if key.startswith("Activation"):
                nf.layers[key] = getattr(fast, "Relu" if act == "relu" else "Sigmoid")()
        nf.last_layer = fast.SoftmaxWithLoss()
        rng = np.random.default_rng(0)
        for _ in range(3):
            x = rng.standard_normal((5, 12))
            t = rng.integers(0, 4, 5).astype(np.uint8)
            gf, gr = nf.gradient(x, t), nr.gradient(x, t)
            for key in gr:
                assert np.array_equal(gf[key], gr[key]), (act, key)
                nf.params[key] -= 0.1 * gf[key]
                nr.params[key] -= 0.1 * gr[key]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, ">f8"])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_relu_layer_fast_path_and_its_fallbacks_match_reference(dtype, layout):
    # C-contiguous native floats take the C fast path; other layouts and
    # byte orders run the Python method; all give the reference's results.
    rng = np.random.default_rng(6)
    x = laid_out(rng.standard_normal((6, 5)).astype(dtype), layout)
    dout = laid_out(rng.standard_normal((6, 5)).astype(dtype), layout)
    r, want = fast.Relu(), ref.Relu()
    for _ in range(3):
        out, dx = r.forward(x), r.backward(dout)
        w_out, w_dx = want.forward(x), want.backward(dout)
        assert np.array_equal(out, w_out) and np.array_equal(dx, w_dx)
        assert np.array_equal(r.mask, want.mask) and r.mask.dtype == np.bool_
