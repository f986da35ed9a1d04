"""Affine: fastnn.layers.Affine against fastnn.reference.layers.Affine, and a
bare GEMM of the same shapes (the floor: ``np.matmul`` into a preallocated
output, NumPy's own BLAS).

100x784x100 is the book's first layer (batch 100, 784 pixels, 100 units),
100x100x100 a hidden layer, 1000x784x1000 a large one.  Forward and backward
are timed separately so each can be held against its GEMMs: forward is one
GEMM, backward two (dx and dW).
"""
import numpy as np
import pytest

from fastnn import layers as fast
from fastnn.reference import layers as ref

SHAPES = [(100, 784, 100), (100, 100, 100), (1000, 784, 1000)]
IDS = ["%dx%dx%d" % s for s in SHAPES]


def _data(shape, dtype):
    n, k, m = shape
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, k)).astype(dtype), rng.standard_normal((k, m)).astype(dtype),
            rng.standard_normal(m).astype(dtype), rng.standard_normal((n, m)).astype(dtype))


@pytest.mark.parametrize("impl", ["fast", "reference", "gemm"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_affine_forward(benchmark, shape, dtype, impl):
    x, W, b, _ = _data(shape, dtype)
    benchmark.group = "Affine fwd %s %s" % ("x".join(map(str, shape)), dtype)
    if impl == "gemm":
        out = np.empty((x.shape[0], W.shape[1]), dtype)
        benchmark(np.matmul, x, W, out=out)
    else:
        layer = (fast if impl == "fast" else ref).Affine(W, b)
        benchmark(layer.forward, x)


@pytest.mark.parametrize("impl", ["fast", "reference", "gemm"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_affine_backward(benchmark, shape, dtype, impl):
    x, W, b, dout = _data(shape, dtype)
    benchmark.group = "Affine bwd %s %s" % ("x".join(map(str, shape)), dtype)
    if impl == "gemm":
        dx, dW = np.empty_like(x), np.empty_like(W)

        def run():
            np.matmul(dout, W.T, out=dx)
            np.matmul(x.T, dout, out=dW)
        benchmark(run)
    else:
        layer = (fast if impl == "fast" else ref).Affine(W, b)
        layer.forward(x)
        benchmark(layer.backward, dout)


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_affine_first_layer_float32_images(benchmark, impl):
    """The book's pattern: float32 images into a float64 network, full step."""
    x, W, b, dout = _data((100, 784, 100), "float64")
    x = x.astype(np.float32)
    layer = (fast if impl == "fast" else ref).Affine(W, b)

    def run():
        layer.forward(x)
        return layer.backward(dout)
    benchmark.group = "Affine fwd+bwd 100x784x100 float32 x, float64 W"
    benchmark(run)
