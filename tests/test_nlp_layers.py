"""fastnn.nlp.layers: each layer against its NumPy twin (the same class with
``ops = get_ops('numpy')``) and against numerical gradients; float32 and
float64, contiguous and strided inputs; the book's list quirks; bad input."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from _util import TOL, laid_out, rel_error
from fastnn.backends import get_ops
from fastnn.nlp import config
from fastnn.nlp.layers import (Affine, Dropout, Embedding, MatMul, Sigmoid, SigmoidWithLoss,
                               Softmax, SoftmaxWithLoss)

DTYPES = [np.float32, np.float64]
LAYOUTS = ["C", "F", "strided"]
NUMPY = get_ops("numpy")


def twin(layer):
    """A NumPy twin: same class, same arrays copied, ops = NumpyOps."""
    import copy
    other = copy.deepcopy(layer)
    other.ops = NUMPY
    return other


def numerical_grad(f, x, h):
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        a = f()
        x[i] = old - h
        b = f()
        x[i] = old
        grad[i] = (float(a) - float(b)) / (2 * h)
    return grad


def _data(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("cls", [MatMul, Affine])
def test_dense_matches_numpy_twin(cls, dtype, layout):
    rng = np.random.default_rng(1)
    W = _data(rng, (6, 4), dtype)
    layer = cls(W) if cls is MatMul else cls(W, _data(rng, (4,), dtype))
    ref = twin(layer)
    x = laid_out(_data(rng, (5, 6), dtype), layout)
    dout = laid_out(_data(rng, (5, 4), dtype), layout)
    out, out_ref = layer.forward(x), ref.forward(x.copy())
    assert out.dtype == out_ref.dtype == dtype
    assert rel_error(out, out_ref) < TOL[np.dtype(dtype)]
    grads_before = [id(g) for g in layer.grads]
    dx, dx_ref = layer.backward(dout), ref.backward(dout.copy())
    assert rel_error(dx, dx_ref) < TOL[np.dtype(dtype)]
    # the gradients land in the very arrays of ``grads`` (the book writes them in place)
    assert [id(g) for g in layer.grads] == grads_before
    for g, r in zip(layer.grads, ref.grads):
        assert g.dtype == dtype
        assert rel_error(g, r) < TOL[np.dtype(dtype)]


@pytest.mark.parametrize("cls", [MatMul, Affine])
def test_dense_numerical_gradient(cls):
    rng = np.random.default_rng(2)
    W = rng.standard_normal((4, 3))
    layer = cls(W) if cls is MatMul else cls(W, rng.standard_normal(3))
    x = rng.standard_normal((5, 4))
    dout = rng.standard_normal((5, 3))

    def loss():
        return np.sum(layer.forward(x) * dout)
    loss()
    dx = layer.backward(dout)
    assert rel_error(dx, numerical_grad(loss, x, 1e-5)) < 1e-7
    for p, g in zip(layer.params, layer.grads):
        assert rel_error(g, numerical_grad(loss, p, 1e-5)) < 1e-7


def test_affine_any_rank_as_np_dot():
    rng = np.random.default_rng(3)
    layer = Affine(rng.standard_normal((4, 3)), rng.standard_normal(3))
    x = rng.standard_normal((2, 5, 4))
    np.testing.assert_allclose(layer.forward(x), np.dot(x, layer.params[0]) + layer.params[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_sigmoid(dtype):
    rng = np.random.default_rng(4)
    x = _data(rng, (6, 5), dtype)
    dout = _data(rng, (6, 5), dtype)
    for cls in (Softmax, Sigmoid):
        layer = cls()
        ref = twin(layer)
        assert rel_error(layer.forward(x), ref.forward(x)) < TOL[np.dtype(dtype)]
        assert rel_error(layer.backward(dout), ref.backward(dout)) < TOL[np.dtype(dtype)]
    for cls in (Softmax, Sigmoid):
        layer = cls()
        x64 = x.astype(np.float64)

        def loss():
            return np.sum(layer.forward(x64) * dout)
        loss()
        assert rel_error(layer.backward(dout.astype(np.float64)),
                         numerical_grad(loss, x64, 1e-6)) < 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("onehot", [False, True])
def test_softmax_with_loss(dtype, onehot):
    rng = np.random.default_rng(5)
    x = _data(rng, (7, 4), dtype)
    t = rng.integers(0, 4, 7)
    target = np.eye(4, dtype=dtype)[t] if onehot else t
    layer = SoftmaxWithLoss()
    ref = twin(layer)
    loss, loss_ref = layer.forward(x, target), ref.forward(x, target)
    assert abs(float(loss) - float(loss_ref)) <= TOL[np.dtype(dtype)] * abs(float(loss_ref))
    np.testing.assert_array_equal(layer.t, t)        # one-hot kept as labels, as the book
    assert rel_error(layer.backward(), ref.backward()) < TOL[np.dtype(dtype)]
    # dout other than 1: the book's order (y - onehot)·dout / N
    np.testing.assert_allclose(layer.backward(2.5), ref.backward(2.5), rtol=1e-5)
    x64 = x.astype(np.float64)
    layer64 = SoftmaxWithLoss()
    layer64.forward(x64, t)
    num = numerical_grad(lambda: layer64.forward(x64, t), x64, 1e-6)
    layer64.forward(x64, t)
    assert rel_error(layer64.backward(), num) < 1e-5   # the loss's +1e-7 inside the log


def test_sigmoid_with_loss():
    rng = np.random.default_rng(6)
    x = rng.standard_normal(8)
    t = rng.integers(0, 2, 8)
    layer = SigmoidWithLoss()
    ref = twin(layer)
    assert layer.forward(x, t) == ref.forward(x, t)
    np.testing.assert_array_equal(layer.backward(), ref.backward())
    layer.forward(x, t)
    num = numerical_grad(lambda: layer.forward(x, t), x, 1e-6)
    layer.forward(x, t)
    assert rel_error(layer.backward(), num) < 1e-5   # the loss's +1e-7 inside the log


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_book_stream(dtype):
    rng = np.random.default_rng(7)
    x = _data(rng, (9, 13), dtype)
    layer = Dropout(0.3)
    np.random.seed(11)
    out = layer.forward(x)
    np.random.seed(11)
    mask = np.random.rand(*x.shape) > 0.3
    np.testing.assert_array_equal(out, x * mask)
    np.testing.assert_array_equal(layer.backward(x), x * mask)
    np.testing.assert_array_equal(layer.forward(x, train_flg=False), x * (1.0 - 0.3))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("idx_shape", [(12,), (3, 5), (0,)])
def test_embedding_matches_numpy_twin(dtype, idx_shape):
    rng = np.random.default_rng(8)
    W = _data(rng, (10, 6), dtype)
    layer = Embedding(W)
    ref = twin(layer)
    idx = rng.integers(0, 4, idx_shape)         # few ids: many repeats
    np.testing.assert_array_equal(layer.forward(idx), ref.forward(idx))
    dout = laid_out(_data(rng, idx_shape + (6,), dtype), "strided")
    layer.grads[0][...] = 7                     # backward must start from zero
    assert layer.backward(dout) is None
    ref.backward(dout)
    np.testing.assert_array_equal(layer.grads[0], ref.grads[0])   # np.add.at's order: exact
    assert layer.grads[0].dtype == dtype


def test_embedding_numerical_gradient():
    rng = np.random.default_rng(9)
    W = rng.standard_normal((5, 3))
    layer = Embedding(W)
    idx = np.array([[0, 2, 2], [4, 0, 2]])
    dout = rng.standard_normal((2, 3, 3))

    def loss():
        return np.sum(layer.forward(idx) * dout)
    loss()
    layer.backward(dout)
    assert rel_error(layer.grads[0], numerical_grad(loss, W, 1e-6)) < 1e-8


@given(st.integers(1, 30), st.integers(1, 9), st.integers(0, 60), st.integers(0, 2 ** 32 - 1),
       st.sampled_from(DTYPES), st.sampled_from(["int32", "int64", "uint16"]))
def test_embedding_backward_op_property(V, D, n, seed, dtype, idx_dtype):
    rng = np.random.default_rng(seed)
    idx = rng.integers(-V, V, n).astype(idx_dtype) if idx_dtype != "uint16" \
        else rng.integers(0, V, n).astype(idx_dtype)
    dout = rng.standard_normal((n, D)).astype(dtype)
    a = rng.standard_normal((V, D)).astype(dtype)
    b = a.copy()
    get_ops().embedding_backward(a, idx, dout)
    NUMPY.embedding_backward(b, idx, dout)
    np.testing.assert_array_equal(a, b)


def test_embedding_backward_op_large_threads():
    """Large enough for the thread pool: still np.add.at's numbers."""
    rng = np.random.default_rng(10)
    V, D = 3000, 64
    idx = rng.integers(0, 50, (40, 35))
    dout = rng.standard_normal((40, 35, D)).astype(np.float32)
    a = np.ones((V, D), np.float32)
    b = a.copy()
    get_ops().embedding_backward(a, idx, dout)
    NUMPY.embedding_backward(b, idx, dout)
    np.testing.assert_array_equal(a, b)


def test_embedding_backward_op_out_of_range_is_an_index_error():
    dW = np.zeros((4, 2), np.float32)
    for ops in (get_ops(), NUMPY):
        with pytest.raises(IndexError):
            ops.embedding_backward(dW, np.array([0, 4]), np.ones((2, 2), np.float32))


def test_embedding_bad_ids():
    layer = Embedding(np.zeros((5, 2), np.float32))
    with pytest.raises(ValueError, match="token id 5"):
        layer.forward(np.array([0, 5]))
    with pytest.raises(ValueError, match="token id -1"):
        layer.forward(np.array([-1]))
    with pytest.raises(TypeError, match="integer"):
        layer.forward(np.array([0.0, 1.0]))


def test_params_are_lists_and_float32_kept():
    W = np.zeros((3, 2), np.float32)
    for layer in (MatMul(W), Affine(W, np.zeros(2, np.float32)), Embedding(W)):
        assert isinstance(layer.params, list) and isinstance(layer.grads, list)
        assert layer.params[0] is W
        assert all(g.dtype == np.float32 for g in layer.grads)


def test_gpu_flag_refused():
    with pytest.raises(config.GPUNotSupportedError, match="CPU"):
        config.GPU = True
    assert config.GPU is False
    config.__dict__["GPU"] = True          # set by other means: the layers still refuse
    try:
        with pytest.raises(config.GPUNotSupportedError):
            MatMul(np.zeros((2, 2)))
    finally:
        config.__dict__["GPU"] = False


@pytest.mark.parametrize("layout", ["F", "strided"])
def test_embedding_backward_op_on_a_non_contiguous_dW(layout):
    rng = np.random.default_rng(12)
    idx = rng.integers(0, 3, 9)
    dout = rng.standard_normal((9, 4)).astype(np.float32)
    a = laid_out(rng.standard_normal((6, 4)).astype(np.float32), layout)
    b = a.copy()
    assert get_ops().embedding_backward(a, idx, dout) is a     # in place, whatever the layout
    NUMPY.embedding_backward(b, idx, dout)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("ops", ["compiled", "numpy"])
def test_two_layer_net_numerical_gradient(ops):
    from fastnn.nlp.two_layer_net import TwoLayerNet
    np.random.seed(3)
    net = TwoLayerNet(3, 5, 4)
    for layer in net.layers + [net.loss_layer]:
        layer.ops = get_ops(ops)
    for p in net.params:          # away from the tiny 0.01 scale, so every term counts
        p[...] = np.random.randn(*p.shape)
    x = np.random.randn(6, 3)
    t = np.random.randint(0, 4, 6)
    net.forward(x, t)
    net.backward()
    grads = [g.copy() for g in net.grads]
    for p, g in zip(net.params, grads):
        num = numerical_grad(lambda: net.forward(x, t), p, 1e-6)
        # (the loss's log(y + 1e-7) is not quite the log the gradient differentiates)
        assert rel_error(g, num) < 1e-4


@pytest.mark.parametrize("ops", ["compiled", "numpy"])
@pytest.mark.parametrize("cls", [MatMul, Affine, Embedding])
def test_parameter_gradients_on_both_ops(cls, ops):
    rng = np.random.default_rng(13)
    W = rng.standard_normal((5, 3))
    layer = {MatMul: lambda: MatMul(W), Affine: lambda: Affine(W, rng.standard_normal(3)),
             Embedding: lambda: Embedding(W)}[cls]()
    layer.ops = get_ops(ops)
    x = np.array([0, 4, 4, 1]) if cls is Embedding else rng.standard_normal((4, 5))
    dout = rng.standard_normal((4, 3))

    def loss():
        return np.sum(layer.forward(x) * dout)
    loss()
    layer.backward(dout)
    for p, g in zip(layer.params, layer.grads):
        assert rel_error(g, numerical_grad(loss, p, 1e-6)) < 1e-8
