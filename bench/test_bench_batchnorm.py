"""BatchNormalization: fastnn.layers against fastnn.reference.layers.

Each case runs one training forward and one backward, as a training step
does (plus inference forward alone).  1000x1000 is the size of the brief's
target; 100x100 the book's MLP.  ``copy`` is the floor's yardstick: the
memory-bandwidth floor of forward+backward is the bytes that must move —
read x, write xc, xn and out; read dout and xn, write dx: 7 arrays — over
the bandwidth of a copy, which moves 2 arrays, i.e. 3.5 copy times.
"""
import numpy as np
import pytest

from fastnn import layers as fast
from fastnn.reference import layers as ref

SHAPES = [(100, 100), (1000, 1000)]


def _data(shape, dtype):
    rng = np.random.default_rng(0)
    d = shape[1]
    return (rng.standard_normal(shape).astype(dtype) * 2 + 1, rng.uniform(0.5, 2, d).astype(dtype),
            rng.standard_normal(d).astype(dtype), rng.standard_normal(shape).astype(dtype))


@pytest.mark.parametrize("impl", ["fast", "reference", "copy"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "%dx%d" % s)
def test_batchnorm_train_fwd_bwd(benchmark, shape, dtype, impl):
    x, gamma, beta, dout = _data(shape, dtype)
    benchmark.group = "BatchNorm train fwd+bwd %dx%d %s" % (shape + (dtype,))
    if impl == "copy":
        y = np.empty_like(x)
        benchmark(np.copyto, y, x)
        return
    layer = (fast if impl == "fast" else ref).BatchNormalization(gamma, beta)

    def run():
        layer.forward(x, train_flg=True)
        return layer.backward(dout)
    benchmark(run)


@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "%dx%d" % s)
def test_batchnorm_inference(benchmark, shape, impl):
    x, gamma, beta, _ = _data(shape, "float64")
    layer = (fast if impl == "fast" else ref).BatchNormalization(gamma, beta)
    layer.forward(x, train_flg=True)
    benchmark.group = "BatchNorm inference %dx%d float64" % shape
    benchmark(layer.forward, x, False)
