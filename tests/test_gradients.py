"""Every layer's and network's backward pass against the numerical gradient (float64)."""
import numpy as np
import pytest

from fastnn._activations import ACTIVATIONS

from fastnn import get_backend
from fastnn.gradient import numerical_gradient
from fastnn.multi_layer_net import MultiLayerNet
from fastnn.multi_layer_net_extend import MultiLayerNetExtend

from _util import BACKENDS, rel_error, seeded

TOL = 1e-6   # gradient checks: finite differences against the analytic gradient


def away_from_zero(rng, shape, margin=0.05):
    """Values with |x| >= margin, so ReLU's kink is never inside the finite difference."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin, x)


def check_layer(forward, backward, inputs, out_grad, seed=None):
    """Compare backward(out_grad) against d/d(input) of sum(forward() * out_grad).

    ``inputs`` maps names to arrays the layer reads by reference (x, W, ...);
    ``backward`` returns a dict of analytic gradients with the same names.
    """
    if seed is not None:
        forward = seeded(forward, seed)
    forward()
    analytic = {k: np.array(v, copy=True) for k, v in backward(out_grad).items()}
    for name, arr in inputs.items():
        numeric = numerical_gradient(lambda _: float(np.sum(forward() * out_grad)), arr)
        err = rel_error(analytic[name], numeric)
        assert err < TOL, "%s: relative error %.2e" % (name, err)


@pytest.mark.parametrize("backend", BACKENDS)
class TestLayerGradients:
    def test_affine_2d_and_4d(self, backend):
        L = get_backend(backend).layers
        rng = np.random.default_rng(1)
        for shape in [(4, 6), (3, 2, 2, 3)]:
            x = rng.standard_normal(shape)
            W = rng.standard_normal((12 if len(shape) == 4 else 6, 5))
            b = rng.standard_normal(5)
            layer = L.Affine(W, b)
            dout = rng.standard_normal((shape[0], 5))

            def backward(d, layer=layer):
                dx = layer.backward(d)
                return {"x": dx, "W": layer.dW, "b": layer.db}
            check_layer(lambda layer=layer, x=x: layer.forward(x), backward,
                        {"x": x, "W": W, "b": b}, dout)

    def test_relu(self, backend):
        L = get_backend(backend).layers
        rng = np.random.default_rng(2)
        x = away_from_zero(rng, (5, 7))
        layer = L.Relu()
        check_layer(lambda: layer.forward(x), lambda d: {"x": layer.backward(d)},
                    {"x": x}, rng.standard_normal((5, 7)))

    @pytest.mark.parametrize("name", ["Sigmoid", "Tanh"])
    def test_sigmoid_and_tanh(self, backend, name):
        L = get_backend(backend).layers
        rng = np.random.default_rng(3)
        x = rng.standard_normal((5, 7))
        layer = getattr(L, name)()
        check_layer(lambda: layer.forward(x), lambda d: {"x": layer.backward(d)},
                    {"x": x}, rng.standard_normal((5, 7)))

    @pytest.mark.parametrize("shape", [(6, 5), (4, 2, 3, 2)])
    def test_batchnorm(self, backend, shape):
        L = get_backend(backend).layers
        rng = np.random.default_rng(4)
        x = rng.standard_normal(shape)
        d = int(np.prod(shape[1:]))
        gamma = 1 + 0.1 * rng.standard_normal(d)
        beta = rng.standard_normal(d)
        layer = L.BatchNormalization(gamma, beta)

        def backward(dout):
            dx = layer.backward(dout)
            return {"x": dx, "gamma": layer.dgamma, "beta": layer.dbeta}
        check_layer(lambda: layer.forward(x, train_flg=True), backward,
                    {"x": x, "gamma": gamma, "beta": beta}, rng.standard_normal(shape))

    def test_dropout(self, backend):
        L = get_backend(backend).layers
        rng = np.random.default_rng(5)
        x = rng.standard_normal((8, 9))
        layer = L.Dropout(0.3)
        check_layer(lambda: layer.forward(x, train_flg=True),
                    lambda d: {"x": layer.backward(d)}, {"x": x},
                    rng.standard_normal((8, 9)), seed=7)

    @pytest.mark.parametrize("labels", ["index", "onehot"])
    @pytest.mark.parametrize("smoothing", [0.0, 0.1])
    def test_softmax_with_loss(self, backend, labels, smoothing):
        L = get_backend(backend).layers
        rng = np.random.default_rng(6)
        x = rng.standard_normal((5, 4))
        t = rng.integers(0, 4, 5)
        if labels == "onehot":
            t = np.eye(4)[t]
        layer = L.SoftmaxWithLoss(label_smoothing=smoothing)
        layer.forward(x, t)
        analytic = np.array(layer.backward(1), copy=True)
        numeric = numerical_gradient(lambda _: layer.forward(x, t), x)
        # The loss takes log(y + 1e-7) while the gradient is the exact (y - t)/N:
        # that costs a relative 1e-7/y, about 4e-7 for y ~ 1/4.
        assert rel_error(analytic, numeric) < TOL


def _net_gradient_check(net, x, t, seed=3):
    np.random.seed(seed)
    analytic = {k: np.array(v, copy=True) for k, v in net.gradient(x, t).items()}
    if isinstance(net, MultiLayerNet):
        loss = seeded(lambda: net.loss(x, t), seed)
    else:
        loss = seeded(lambda: net.loss(x, t, train_flg=True), seed)
    for key, param in net.params.items():
        numeric = numerical_gradient(lambda _: loss(), param)
        idx = int(key[1:]) if key[0] == "b" and key[1:].isdigit() else None
        if net.use_batchnorm and idx is not None and idx <= net.hidden_layer_num:
            # A bias feeding batch norm cannot change the output (BN subtracts
            # the batch mean): its gradient is exactly zero, so compare
            # absolutely rather than relatively.
            assert np.abs(analytic[key]).max() < 1e-12, key
            assert np.abs(numeric).max() < 1e-9, key
            continue
        err = rel_error(analytic[key], numeric)
        assert err < TOL, "%s: relative error %.2e" % (key, err)
    assert set(analytic) == set(net.params)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_multi_layer_net_gradient(backend, activation):
    np.random.seed(0)
    net = MultiLayerNet(6, [5, 4], 3, activation=activation, weight_decay_lambda=0.1,
                        backend=backend)
    rng = np.random.default_rng(8)
    _net_gradient_check(net, rng.standard_normal((4, 6)), rng.integers(0, 3, 4))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_multi_layer_net_extend_gradient(backend, activation):
    """BN, dropout and weight decay together; a batch of 4 (BN needs at least 2)."""
    np.random.seed(0)
    net = MultiLayerNetExtend(6, [5, 4], 3, activation=activation, weight_decay_lambda=0.1,
                              use_dropout=True, dropout_ration=0.2, use_batchnorm=True,
                              backend=backend)
    rng = np.random.default_rng(9)
    _net_gradient_check(net, rng.standard_normal((4, 6)), rng.integers(0, 3, 4))


def test_gradient_check_catches_a_wrong_backward():
    """The check above can fail: a Sigmoid whose backward forgets a factor is caught."""
    L = get_backend("reference").layers

    class BadSigmoid(L.Sigmoid):
        def backward(self, dout):
            return dout * self.out  # missing (1 - out)

    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 7))
    layer = BadSigmoid()
    with pytest.raises(AssertionError):
        check_layer(lambda: layer.forward(x), lambda d: {"x": layer.backward(d)},
                    {"x": x}, rng.standard_normal((5, 7)))
