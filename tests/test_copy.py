"""Networks, layers and optimizers pickle and deepcopy on both backends, and a
copy is a network of its own: same predictions, trained without touching the
original (or being touched by it), with its own buffer pool and thread guard."""
import copy
import importlib
import pickle

import numpy as np
import pytest

from _util import BACKENDS


def _pickled(obj):
    return pickle.loads(pickle.dumps(obj))


COPIERS = {"deepcopy": copy.deepcopy, "pickle": _pickled}


def _mlp(backend):
    from fastnn.multi_layer_net import MultiLayerNet
    return MultiLayerNet(12, [8, 6], 4, weight_decay_lambda=0.01, backend=backend)


def _mlp_extend(backend):
    from fastnn.multi_layer_net_extend import MultiLayerNetExtend
    return MultiLayerNetExtend(12, [8, 6], 4, use_batchnorm=True, use_dropout=True,
                               dropout_ration=0.2, backend=backend)


def _simple_convnet(backend):
    from fastnn.simple_convnet import SimpleConvNet
    return SimpleConvNet((1, 8, 8), {"filter_num": 3, "filter_size": 3, "pad": 0, "stride": 1},
                         hidden_size=6, output_size=4, weight_init_std=0.1, backend=backend)


def _deep_convnet(backend):
    from fastnn.deep_convnet import DeepConvNet
    return DeepConvNet(hidden_size=6, output_size=4, backend=backend)


NETWORKS = {"MultiLayerNet": (_mlp, (12,)), "MultiLayerNetExtend": (_mlp_extend, (12,)),
            "SimpleConvNet": (_simple_convnet, (1, 8, 8)),
            "DeepConvNet": (_deep_convnet, (1, 28, 28))}


def _data(shape, n=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n,) + shape), rng.integers(0, 4, n)


def _train(net, x, t, steps=2, seed=7):
    """A few Adam steps with the dropout masks fixed by ``seed``."""
    from fastnn.optimizer import Adam
    from fastnn.reference.optimizer import Adam as RefAdam
    opt = (RefAdam if net.backend.name == "reference" else Adam)(lr=0.01)
    np.random.seed(seed)
    for _ in range(steps):
        opt.update(net.params, net.gradient(x, t))


def _snapshot(arrays):
    return {k: np.array(v, copy=True) for k, v in arrays.items()}


def _params(net):
    return _snapshot(net.params)


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _all_layers(net):
    layers = net.layers.values() if isinstance(net.layers, dict) else net.layers
    return list(layers) + [net.last_layer]


@pytest.mark.parametrize("copier", sorted(COPIERS))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_deepcopy_trains_independently(name, backend, copier):
    build, shape = NETWORKS[name]
    np.random.seed(0)
    net = build(backend)
    x, t = _data(shape)
    _train(net, x, t)                         # pools, masks, BN statistics in use
    twin = COPIERS[copier](net)
    assert twin.backend is net.backend
    np.testing.assert_array_equal(twin.predict(x), net.predict(x))

    before = _params(net)
    _train(twin, x, t, steps=3)
    _assert_same(_params(net), before)        # the original did not move
    trained = _params(twin)
    assert any(not np.array_equal(trained[k], before[k]) for k in before)

    _train(net, x, t, steps=3)                # the same steps on the original...
    _assert_same(_params(net), trained)       # ...give the copy's weights, bit for bit
    _assert_same(_params(twin), trained)      # and leave the copy alone
    np.testing.assert_array_equal(twin.predict(x), net.predict(x))


@pytest.mark.parametrize("copier", sorted(COPIERS))
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_copied_network_has_its_own_pool_and_guard(name, copier):
    build, shape = NETWORKS[name]
    np.random.seed(0)
    net = build("fast")
    x, t = _data(shape)
    _train(net, x, t, steps=1)
    twin = COPIERS[copier](net)
    assert twin._buffers is not None and twin._buffers is not net._buffers
    for mine, theirs in zip(_all_layers(twin), _all_layers(net)):
        if hasattr(theirs, "_pool"):
            assert mine._pool is twin._buffers
            assert mine.ops is theirs.ops            # the shared ops object stays shared
        if getattr(theirs, "_guard", None) is not None:
            assert getattr(mine, "_guard", None) is not theirs._guard
            theirs._guard.writers = 1                # the original "in use" by a thread
    try:
        _train(twin, x, t, steps=1)                  # the copy is free to train
    finally:
        for layer in _all_layers(net):
            if getattr(layer, "_guard", None) is not None:
                layer._guard.writers = 0


def _layers(backend):
    mod = importlib.import_module("fastnn.layers" if backend == "fast"
                                  else "fastnn.reference.layers")
    rng = np.random.default_rng(1)
    W2, b2 = rng.standard_normal((12, 5)), rng.standard_normal(5)
    W4, b4 = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    flat, image = rng.standard_normal((4, 12)), rng.standard_normal((4, 3, 6, 6))
    return [
        (mod.Relu(), flat), (mod.Sigmoid(), flat), (mod.Affine(W2, b2), flat),
        (mod.BatchNormalization(np.ones(12), np.zeros(12)), flat),
        (mod.Dropout(0.3), flat), (mod.Convolution(W4, b4, 1, 1), image),
        (mod.Pooling(2, 2, stride=2), image),
    ]


def _step(layer, x, seed):
    """forward (training) then backward with a fixed dout: (out, dx, grads)."""
    np.random.seed(seed)
    takes_flag = type(layer).__name__ in ("BatchNormalization", "Dropout")
    out = layer.forward(x, True) if takes_flag else layer.forward(x)
    out = np.array(out, copy=True)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    dx = np.array(layer.backward(dout), copy=True)
    grads = {k: np.array(getattr(layer, k), copy=True) for k in ("dW", "db", "dgamma", "dbeta")
             if getattr(layer, k, None) is not None}
    return out, dx, grads


@pytest.mark.parametrize("copier", sorted(COPIERS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_copied_layer_computes_on_its_own(backend, copier):
    for layer, x in _layers(backend):
        name = type(layer).__name__
        _step(layer, x, seed=1)
        twin = COPIERS[copier](layer)
        assert type(twin) is type(layer)
        if hasattr(layer, "_pool"):
            assert twin._pool is not layer._pool
            assert twin.ops is layer.ops             # the shared ops object stays shared
        # The copy on other data must not change what the original computes.
        twin_step = _step(twin, x[::-1] * 2.0, seed=2)
        mine = _step(layer, x[::-1] * 2.0, seed=2)
        for got, want in zip(twin_step[:2], mine[:2]):
            np.testing.assert_array_equal(got, want, err_msg=name)
        _assert_same(twin_step[2], mine[2])
        if hasattr(layer, "running_mean"):
            np.testing.assert_array_equal(twin.running_mean, layer.running_mean)
            assert twin.running_mean is not layer.running_mean


OPTIMIZERS = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


@pytest.mark.parametrize("copier", sorted(COPIERS))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_copied_optimizer_keeps_its_own_state(name, backend, copier):
    mod = importlib.import_module("fastnn.optimizer" if backend == "fast"
                                  else "fastnn.reference.optimizer")
    rng = np.random.default_rng(3)
    params = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    grads = [{k: rng.standard_normal(v.shape) for k, v in params.items()} for _ in range(5)]
    opt = getattr(mod, name)()
    for g in grads[:2]:
        opt.update(params, g)
    twin, twin_params = COPIERS[copier]((opt, params))
    for attr in ("v", "h", "m"):                 # state dicts copied, not shared
        state, twin_state = getattr(opt, attr, None), getattr(twin, attr, None)
        if state is not None:
            assert twin_state is not state
            for key in state:
                np.testing.assert_array_equal(twin_state[key], state[key])
                assert twin_state[key] is not state[key]
    assert twin_params["W"] is not params["W"]
    untouched = _snapshot(params)
    for g in grads[2:]:
        twin.update(twin_params, g)
    _assert_same(params, untouched)
    for g in grads[2:]:
        opt.update(params, g)
    assert any(not np.array_equal(untouched[k], params[k]) for k in params)
    _assert_same(twin_params, params)
    if hasattr(opt, "iter"):
        assert twin.iter == opt.iter
