"""Convolution, Pooling, SimpleConvNet and DeepConvNet against central differences (float64)."""
import numpy as np
import pytest

from fastnn import get_backend
from fastnn.deep_convnet import DeepConvNet
from fastnn.simple_convnet import SimpleConvNet

from _util import BACKENDS, rel_error
from test_gradients import TOL, away_from_zero, check_layer


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("geom", [(1, 0), (1, 1), (2, 1), (3, 2)])
def test_convolution(backend, geom):
    stride, pad = geom
    L = get_backend(backend).layers
    rng = np.random.default_rng(10 + stride + pad)
    x = rng.standard_normal((2, 3, 7, 6))
    W = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    layer = L.Convolution(W, b, stride, pad)
    dout = rng.standard_normal(layer.forward(x).shape)

    def backward(d):
        dx = layer.backward(d)
        return {"x": dx, "W": layer.dW, "b": layer.db}
    check_layer(lambda: layer.forward(x), backward, {"x": x, "W": W, "b": b}, dout)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("window", [(2, 2, 2, 0), (3, 3, 2, 0), (2, 3, 1, 0), (2, 2, 3, 1)])
def test_pooling(backend, window):
    ph, pw, stride, pad = window
    L = get_backend(backend).layers
    rng = np.random.default_rng(20)
    # Distinct values far apart: no tie and no max switch within ±h.
    x = rng.permutation(2 * 3 * 8 * 8).reshape(2, 3, 8, 8) * 0.01 - 1.0
    layer = L.Pooling(ph, pw, stride, pad)
    dout = rng.standard_normal(layer.forward(x).shape)
    check_layer(lambda: layer.forward(x), lambda d: {"x": layer.backward(d)}, {"x": x}, dout)


def _check_net(net, x, t, sample=None, seed=5, h=1e-4):
    """Backprop against central differences; ``sample`` > 0 checks that many
    random entries of each parameter instead of all of them."""
    rng = np.random.default_rng(seed)
    for key, param in net.params.items():
        if key[0] == "b":
            # Nonzero biases: a zero-bias unit fed only zeros (a padded border
            # after ReLU) sits exactly on ReLU's kink.
            param[...] = 0.1 * rng.standard_normal(param.shape)
    np.random.seed(seed)
    state = np.random.get_state()
    analytic = {k: np.array(v, copy=True) for k, v in net.gradient(x, t).items()}
    assert set(analytic) == set(net.params)

    def loss():
        np.random.set_state(state)   # the same dropout masks as gradient()
        return net.loss(x, t)

    for key, param in net.params.items():
        flat = param.reshape(-1)
        if sample is None or flat.size <= sample:
            idx = np.arange(flat.size)
        else:
            idx = rng.choice(flat.size, sample, replace=False)
        numeric = np.empty(idx.size)
        for j, i in enumerate(idx):
            saved = flat[i]
            flat[i] = saved + h
            plus = loss()
            flat[i] = saved - h
            minus = loss()
            flat[i] = saved
            numeric[j] = (plus - minus) / (2 * h)
        err = rel_error(analytic[key].reshape(-1)[idx], numeric)
        assert err < TOL, "%s: relative error %.2e" % (key, err)


@pytest.mark.parametrize("backend", BACKENDS)
def test_simple_convnet(backend):
    np.random.seed(0)
    net = SimpleConvNet(input_dim=(2, 8, 8),
                        conv_param={'filter_num': 3, 'filter_size': 3, 'pad': 1, 'stride': 1},
                        hidden_size=6, output_size=4, weight_init_std=0.3, backend=backend)
    rng = np.random.default_rng(1)
    _check_net(net, rng.standard_normal((3, 2, 8, 8)), rng.integers(0, 4, 3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_simple_convnet_numerical_gradient_method(backend):
    """The network's own numerical_gradient (the book's gradient_check.py, batch 2)."""
    np.random.seed(0)
    net = SimpleConvNet(input_dim=(1, 6, 6),
                        conv_param={'filter_num': 2, 'filter_size': 3, 'pad': 0, 'stride': 1},
                        hidden_size=4, output_size=3, weight_init_std=0.5, backend=backend)
    x = np.random.rand(2, 1, 6, 6)
    t = np.array([1, 2])
    numeric = net.numerical_gradient(x, t)
    analytic = net.gradient(x, t)
    assert set(numeric) == set(net.params)
    for key in numeric:
        assert rel_error(analytic[key], numeric[key]) < TOL, key


@pytest.mark.parametrize("backend", BACKENDS)
def test_deep_convnet(backend):
    """Small filter counts (the book fixes 64·4·4 inputs to W7, so conv6 keeps
    64 filters and the input 28x28); dropout masks fixed by the global seed."""
    np.random.seed(0)
    small = [{'filter_num': n, 'filter_size': 3, 'pad': p, 'stride': 1}
             for n, p in [(2, 1), (2, 1), (3, 1), (3, 2), (3, 1), (64, 1)]]
    net = DeepConvNet(input_dim=(1, 28, 28), conv_param_1=small[0], conv_param_2=small[1],
                      conv_param_3=small[2], conv_param_4=small[3], conv_param_5=small[4],
                      conv_param_6=small[5], hidden_size=5, output_size=3, backend=backend)
    rng = np.random.default_rng(2)
    x = away_from_zero(rng, (2, 1, 28, 28))
    # Thousands of ReLU units: a step of 1e-4 often moves one across its kink;
    # 1e-6 rarely does, and float64 rounding (1e-10 here) stays far below TOL.
    _check_net(net, x, np.array([0, 2]), sample=12, h=1e-6)


def test_deep_convnet_numerical_gradient_method(monkeypatch):
    """DeepConvNet.numerical_gradient (not in the book): every loss evaluation
    sees the same dropout masks, and the random state is left for gradient()."""
    import fastnn._convnet as convnet
    seen = []

    def fake(f, x):
        seen.append((f(x), f(x)))
        return np.zeros_like(x)
    monkeypatch.setattr(convnet, "_numerical_gradient", fake)
    np.random.seed(0)
    net = DeepConvNet(hidden_size=4, output_size=3, backend="reference")
    x = np.random.default_rng(3).standard_normal((2, 1, 28, 28))
    t = np.array([0, 1])
    np.random.seed(4)
    before = np.random.get_state()[1].copy()
    grads = net.numerical_gradient(x, t)
    assert sorted(grads) == sorted(net.params)
    assert len(seen) == 16 and len({v for pair in seen for v in pair}) == 1
    assert np.array_equal(np.random.get_state()[1], before)
    np.random.seed(5)
    assert net.loss(x, t) != seen[0][0]   # other masks give another loss
