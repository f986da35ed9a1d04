"""CNN layers and networks (the book's chapters 7-8): fastnn against the reference.

Run with ``pytest bench/test_bench_conv.py --benchmark-only``.  The
networks' step is gradient + Adam at batch 100 (what ``bench/compare.py``
holds against the network's own im2col GEMMs); the layer cases are the
shapes of SimpleConvNet's first layer and of DeepConvNet's second.
"""
import numpy as np
import pytest

from fastnn import get_backend
from fastnn.deep_convnet import DeepConvNet
from fastnn.simple_convnet import SimpleConvNet

BACKENDS = ["fast", "reference"]


def _step(cls, backend, dtype):
    np.random.seed(0)
    net = cls(backend=backend, dtype=dtype)
    opt = get_backend(backend).optimizer.Adam()
    rng = np.random.default_rng(0)
    x = rng.random((100, 1, 28, 28)).astype(dtype)
    t = rng.integers(0, 10, 100)
    return lambda: opt.update(net.params, net.gradient(x, t))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cls", [SimpleConvNet, DeepConvNet], ids=["simple", "deep"])
def test_convnet_step(benchmark, cls, dtype, backend):
    benchmark.group = "%s step b100 %s" % (cls.__name__, dtype)
    benchmark(_step(cls, backend, np.dtype(dtype)))


# (x shape, W shape, pad): SimpleConvNet's conv, DeepConvNet's conv2
CONVS = [((100, 1, 28, 28), (30, 1, 5, 5), 0), ((100, 16, 28, 28), (16, 16, 3, 3), 1)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CONVS, ids=["simple-conv1", "deep-conv2"])
def test_convolution_fwd_bwd(benchmark, case, backend):
    xs, ws, pad = case
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal(xs), rng.standard_normal(ws), np.zeros(ws[0])
    layer = get_backend(backend).layers.Convolution(W, b, 1, pad)
    dout = rng.standard_normal(layer.forward(x).shape)
    benchmark.group = "Convolution fwd+bwd %s" % (xs,)

    def fb():
        layer.forward(x)
        layer.backward(dout)
    benchmark(fb)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pooling_fwd_bwd(benchmark, backend):
    x = np.random.default_rng(0).standard_normal((100, 30, 24, 24))
    dout = np.ones((100, 30, 12, 12))
    layer = get_backend(backend).layers.Pooling(2, 2, 2)
    benchmark.group = "Pooling 2x2 fwd+bwd (100, 30, 24, 24)"

    def fb():
        layer.forward(x)
        layer.backward(dout)
    benchmark(fb)
