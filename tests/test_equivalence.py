"""The compiled backend trains exactly like the reference, and float32 stays float32."""
import os

import numpy as np
import pytest

from fastnn import get_backend
from fastnn.multi_layer_net_extend import MultiLayerNetExtend

from _util import FASHION_DIR


def _load(n_train=5000):
    if os.path.isdir(FASHION_DIR):
        from fastnn.datasets import load_fashion_mnist
        (x, t), _ = load_fashion_mnist()
    else:  # the bundled sample is Fashion-MNIST too
        from fastnn.datasets import load_sample
        (x, t), _ = load_sample()
    return x[:n_train], t[:n_train]


def _run(backend, x, t, steps=100, dtype=np.float64, record_masks=False):
    """A seeded training run; returns losses, batch indices and (optionally) dropout masks."""
    np.random.seed(2024)
    net = MultiLayerNetExtend(784, [100] * 5, 10, use_batchnorm=True, use_dropout=True,
                              dropout_ration=0.2, weight_decay_lambda=0.1,
                              backend=backend, dtype=dtype)
    opt = get_backend(backend).optimizer.Adam(lr=0.001)
    x = x.astype(dtype)
    losses, batches, masks = [], [], []
    for _ in range(steps):
        idx = np.random.choice(len(x), 100)
        grads = net.gradient(x[idx], t[idx])
        losses.append(float(net.last_layer.loss) + net.weight_decay_loss())
        if record_masks:
            masks.append([np.array(net.layers["Dropout%d" % i].mask) for i in range(1, 6)])
        opt.update(net.params, grads)
        batches.append(idx)
    return np.array(losses), batches, masks, net


@pytest.mark.slow
def test_seeded_100_step_run_matches_the_reference():
    x, t = _load()
    ref = _run("reference", x, t, record_masks=True)
    fast = _run("fast", x, t, record_masks=True)
    for a, b in zip(ref[1], fast[1]):
        np.testing.assert_array_equal(a, b)                 # same batches
    for ma, mb in zip(ref[2], fast[2]):
        for a, b in zip(ma, mb):
            np.testing.assert_array_equal(a, b)             # same dropout masks
    np.testing.assert_allclose(fast[0], ref[0], rtol=1e-8)  # same losses
    assert ref[0][-1] < ref[0][0] - 0.5                     # and it did learn
    for key in ref[3].params:
        np.testing.assert_allclose(fast[3].params[key], ref[3].params[key],
                                   rtol=1e-6, atol=1e-9, err_msg=key)


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_float32_end_to_end(backend):
    x, t = _load(500)
    losses, _, _, net = _run(backend, x, t, steps=5, dtype=np.float32)
    for key, p in net.params.items():
        assert p.dtype == np.float32, key
    grads = net.gradient(x[:50].astype(np.float32), t[:50])
    for key, g in grads.items():
        assert g.dtype == np.float32, key
    assert net.predict(x[:10].astype(np.float32)).dtype == np.float32
    for i in range(1, 6):
        bn = net.layers["BatchNorm%d" % i]
        assert bn.running_mean.dtype == np.float32 and bn.running_var.dtype == np.float32
    assert np.all(np.isfinite(losses))


def test_float32_agrees_with_float64():
    x, t = _load(1000)
    l64 = _run("fast", x, t, steps=20)[0]
    l32 = _run("fast", x, t, steps=20, dtype=np.float32)[0]
    np.testing.assert_allclose(l32, l64, rtol=1e-3)


def test_book_data_float32_into_float64_network():
    """load_mnist gives float32 images; the book's float64 network promotes them."""
    x, t = _load(200)
    assert x.dtype == np.float32
    outs = []
    for backend in ["reference", "fast"]:
        np.random.seed(1)
        net = MultiLayerNetExtend(784, [50], 10, use_batchnorm=True, backend=backend)
        y = net.predict(x[:64], train_flg=True)
        assert y.dtype == np.float64
        outs.append(np.array(y))
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-12, atol=1e-13)
