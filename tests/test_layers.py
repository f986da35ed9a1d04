"""Batch norm's running statistics and inference mode, dropout's scaling, seeding."""
import numpy as np
import pytest

from fastnn import get_backend

from _util import BACKENDS


@pytest.mark.parametrize("backend", BACKENDS)
def test_batchnorm_running_statistics_and_inference(backend):
    L = get_backend(backend).layers
    rng = np.random.default_rng(0)
    gamma, beta = rng.uniform(0.5, 2, 3), rng.standard_normal(3)
    bn = L.BatchNormalization(gamma, beta, momentum=0.9)
    x1 = rng.standard_normal((8, 3)) * 3 + 1
    x2 = rng.standard_normal((8, 3)) - 2

    bn.forward(x1, train_flg=True)
    # Running statistics start at zero: one step leaves 0.1 of the batch's.
    np.testing.assert_allclose(bn.running_mean, 0.1 * x1.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.1 * x1.var(axis=0), rtol=1e-12)
    bn.forward(x2, train_flg=True)
    want_mean = 0.9 * 0.1 * x1.mean(axis=0) + 0.1 * x2.mean(axis=0)
    want_var = 0.9 * 0.1 * x1.var(axis=0) + 0.1 * x2.var(axis=0)
    np.testing.assert_allclose(bn.running_mean, want_mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, want_var, rtol=1e-12)

    # Training mode normalises with the batch's own (biased) statistics.
    out = bn.forward(x1, train_flg=True)
    xn = (x1 - x1.mean(axis=0)) / np.sqrt(x1.var(axis=0) + 1e-6)
    np.testing.assert_allclose(out, gamma * xn + beta, rtol=1e-10, atol=1e-12)

    # Inference uses the running statistics and leaves them alone.
    rm, rv = bn.running_mean.copy(), bn.running_var.copy()
    out = bn.forward(x2, train_flg=False)
    want = gamma * (x2 - rm) / np.sqrt(rv + 1e-6) + beta
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, rm)
    np.testing.assert_array_equal(bn.running_var, rv)


@pytest.mark.parametrize("backend", BACKENDS)
def test_batchnorm_4d_is_per_activation(backend):
    """The book flattens (N, C, H, W) to (N, C*H*W): one statistic per activation."""
    L = get_backend(backend).layers
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 2, 3, 3))
    d = 18
    bn = L.BatchNormalization(np.ones(d), np.zeros(d))
    out = bn.forward(x, train_flg=True)
    assert out.shape == x.shape
    flat = out.reshape(6, -1)
    np.testing.assert_allclose(flat.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(flat.var(axis=0), 1, rtol=1e-4)
    assert bn.running_mean.shape == (d,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_train_and_test_scaling(backend):
    L = get_backend(backend).layers
    x = np.full((200, 500), 2.0)
    drop = L.Dropout(0.3)
    np.random.seed(0)
    out = drop.forward(x, train_flg=True)
    kept = out != 0
    np.testing.assert_array_equal(out[kept], 2.0)          # not rescaled (non-inverted)
    assert abs(kept.mean() - 0.7) < 0.005
    np.testing.assert_array_equal(np.asarray(drop.mask), kept)
    np.testing.assert_array_equal(drop.backward(np.ones_like(x)), kept.astype(float))
    np.testing.assert_allclose(drop.forward(x, train_flg=False), 2.0 * 0.7)


def test_dropout_seeded_runs_repeat_and_match_the_book():
    """After np.random.seed, both backends draw the book's mask: rand(*shape) > ratio."""
    x = np.random.default_rng(2).standard_normal((37, 53))
    np.random.seed(123)
    book_mask = np.random.rand(*x.shape) > 0.5
    for backend in BACKENDS:
        drop = get_backend(backend).layers.Dropout()
        for _ in range(2):
            np.random.seed(123)
            out = drop.forward(x)
            np.testing.assert_array_equal(np.asarray(drop.mask), book_mask)
            np.testing.assert_array_equal(out, x * book_mask)


@pytest.mark.parametrize("backend", BACKENDS)
def test_affine_keeps_references_to_params(backend):
    """Optimizers update the network's arrays in place; the layer must see it."""
    L = get_backend(backend).layers
    W, b = np.ones((3, 2)), np.zeros(2)
    layer = L.Affine(W, b)
    x = np.ones((1, 3))
    np.testing.assert_array_equal(layer.forward(x), [[3.0, 3.0]])
    W *= 2
    b += 1
    np.testing.assert_array_equal(layer.forward(x), [[7.0, 7.0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_relu_and_sigmoid_values(backend):
    L = get_backend(backend).layers
    x = np.array([[-1.0, 0.0, 2.0]])
    relu = L.Relu()
    np.testing.assert_array_equal(relu.forward(x), [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(np.asarray(relu.mask), [[True, True, False]])
    np.testing.assert_array_equal(relu.backward(np.ones_like(x)), [[0.0, 0.0, 1.0]])
    sig = L.Sigmoid()
    np.testing.assert_allclose(sig.forward(x), 1 / (1 + np.exp(-x)), rtol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_with_loss_labels_or_onehot(backend):
    L = get_backend(backend).layers
    x = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    t = np.array([2, 0])
    a, b = L.SoftmaxWithLoss(), L.SoftmaxWithLoss()
    la, lb = a.forward(x, t), b.forward(x, np.eye(3)[t])
    e = np.exp([1.0, 2.0, 3.0])
    want = -(np.log(e[2] / e.sum() + 1e-7) + np.log(1 / 3 + 1e-7)) / 2
    assert la == pytest.approx(want, rel=1e-12) and lb == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(a.backward(), b.backward(), rtol=1e-14)


# -- inverted dropout --------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_default_is_the_books_non_inverted(backend):
    L = get_backend(backend).layers
    assert L.Dropout(0.5).inverted is False
    from fastnn.multi_layer_net_extend import MultiLayerNetExtend
    net = MultiLayerNetExtend(4, [3], 2, use_dropout=True, backend=backend)
    assert net.layers["Dropout1"].inverted is False


@pytest.mark.parametrize("inverted", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_expected_activation_at_train_and_test_time(backend, inverted):
    """Inverted: E[train output] = x and test output = x.  The book's: E[train
    output] = keep·x and test output = keep·x.  Either way train and test agree
    in expectation."""
    L = get_backend(backend).layers
    ratio = 0.3
    keep = 1 - ratio
    layer = L.Dropout(ratio, inverted=inverted)
    x = np.full((400, 500), 2.0)
    np.random.seed(0)
    train = layer.forward(x, train_flg=True)
    test = layer.forward(x, train_flg=False)
    expected = 2.0 if inverted else 2.0 * keep
    assert abs(train.mean() - expected) < 0.01 * expected   # 200,000 draws
    assert np.array_equal(test, np.full_like(x, expected))
    kept = train != 0
    assert np.all(train[kept] == (2.0 / keep if inverted else 2.0))


@pytest.mark.parametrize("mode", ["exact", "fast"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["C", "strided", "int"])
def test_inverted_dropout_fast_equals_reference(dtype, mode, layout):
    from fastnn import layers as fast
    from fastnn.reference import layers as ref
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 7)).astype(dtype)
    if layout == "strided":
        x = np.repeat(x, 2, axis=1)[:, ::2]
    elif layout == "int":
        x = (10 * x).astype(np.int64)
    dout = rng.standard_normal((6, 7)).astype(dtype)
    f = fast.Dropout(0.4, mode=mode, seed=3 if mode == "fast" else None, inverted=True)
    r = ref.Dropout(0.4, inverted=True)
    for step in range(3):
        np.random.seed(step)
        got = f.forward(x, train_flg=True)
        if mode == "fast":
            r.mask = f.mask.copy()          # the fast stream is not the book's
            want = x * r.mask / (1.0 - 0.4)
        else:
            np.random.seed(step)
            want = r.forward(x, train_flg=True)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert np.array_equal(f.backward(dout), r.backward(dout))
        assert np.array_equal(f.forward(x, train_flg=False), r.forward(x, train_flg=False))


def test_network_with_inverted_dropout_fast_equals_reference():
    from fastnn.multi_layer_net_extend import MultiLayerNetExtend
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((20, 8)), rng.integers(0, 3, 20)
    grads = {}
    for backend in BACKENDS:
        np.random.seed(5)
        net = MultiLayerNetExtend(8, [6, 6], 3, use_dropout=True, dropout_ration=0.3,
                                  use_batchnorm=True, dropout_inverted=True, backend=backend)
        assert net.layers["Dropout1"].inverted is True
        np.random.seed(6)
        grads[backend] = {k: v.copy() for k, v in net.gradient(x, t).items()}
        pred = net.predict(x, train_flg=False)
        grads[backend]["pred"] = pred.copy()
    for k, v in grads["reference"].items():
        np.testing.assert_allclose(grads["fast"][k], v, rtol=1e-10, atol=1e-12, err_msg=k)


# -- the last backward pass's gradient arrays handed back in ---------------------------
# dW/db are overwritten in place by the next backward pass; one that reads them
# (as dout, or as the input of the forward pass) must still get the reference's
# numbers (found by scripts/attack: the kernels wrote dW while reading it).

def _gradients_as_reference(script, layers):
    got, want = (script(layer) for layer in layers)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def _dout_is_dW(layer, x, dout):
    layer.forward(2 * x)
    return layer.backward(layer.dW), layer.dW, layer.db


def _dout_is_db(layer, x, dout):
    layer.forward(2 * x)
    return layer.backward(layer.db[None, :]), layer.dW, layer.db


def _x_is_dW(layer, x, dout):
    out = layer.forward(layer.dW)
    return out, layer.backward(dout), layer.dW, layer.db


@pytest.mark.parametrize("then,rows", [(_dout_is_dW, 50), (_dout_is_db, 1), (_x_is_dW, 50)],
                         ids=["dout is dW", "dout is db", "forward of dW"])
def test_affine_given_its_own_gradient_arrays_back_matches_reference(then, rows):
    from fastnn import layers as fast
    from fastnn.reference import layers as ref
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((50, 50)), rng.standard_normal(50)
    x, dout = rng.standard_normal((rows, 50)), rng.standard_normal((rows, 50))

    def script(layer):
        layer.forward(x)
        layer.backward(dout)
        return then(layer, x, dout)
    _gradients_as_reference(script, (fast.Affine(W.copy(), b.copy()),
                                     ref.Affine(W.copy(), b.copy())))


def test_convolution_backward_given_its_own_dW_as_dout_matches_reference():
    from fastnn import layers as fast
    from fastnn.reference import layers as ref
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    x, dout = rng.standard_normal((3, 3, 3, 3)), rng.standard_normal((3, 4, 3, 3))

    def script(layer):
        layer.forward(x)
        layer.backward(dout)
        layer.forward(2 * x)
        dx = layer.backward(layer.dW.reshape(3, 4, 3, 3))   # dW has dout's size
        return dx, layer.dW, layer.db
    _gradients_as_reference(script, (fast.Convolution(W.copy(), b.copy(), 1, 1),
                                     ref.Convolution(W.copy(), b.copy(), 1, 1)))
