"""Activation layers and the softmax loss: fastnn.layers against fastnn.reference.layers.

Each case runs one forward and one backward pass of a layer, as a training
step does; 100x100 is the book's MLP (batch 100, 100 units), 1000x1000 a
large batch.
"""
import numpy as np
import pytest

from fastnn import layers as fast
from fastnn.reference import layers as ref

IMPLS = {"fast": fast, "reference": ref}
SHAPES = [(100, 100), (1000, 1000)]


def _fwd_bwd(layer, x, d):
    def run():
        layer.forward(x)
        return layer.backward(d)
    return run


@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "%dx%d" % s)
@pytest.mark.parametrize("name", ["Relu", "Sigmoid", "Tanh"])
def test_activation_fwd_bwd(benchmark, name, shape, dtype, impl):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    d = rng.standard_normal(shape).astype(dtype)
    benchmark.group = "%s fwd+bwd %dx%d %s" % (name, shape[0], shape[1], dtype)
    benchmark(_fwd_bwd(getattr(IMPLS[impl], name)(), x, d))


@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "%dx%d" % s)
def test_relu_forward_only(benchmark, shape, impl):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    benchmark.group = "Relu fwd %dx%d float64" % shape
    benchmark(IMPLS[impl].Relu().forward, x)


@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("batch", [100, 1000])
def test_softmax_with_loss(benchmark, batch, smoothing, impl):
    rng = np.random.default_rng(0)
    x = 3 * rng.standard_normal((batch, 10))
    t = rng.integers(0, 10, batch).astype(np.uint8)  # MNIST labels are uint8
    layer = IMPLS[impl].SoftmaxWithLoss(label_smoothing=smoothing)

    def run():
        layer.forward(x, t)
        return layer.backward()
    benchmark.group = "SoftmaxWithLoss fwd+bwd %dx10 eps=%g" % (batch, smoothing)
    benchmark(run)
