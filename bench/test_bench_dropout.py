"""Dropout: fastnn.layers.Dropout (book-exact and fast modes) against
fastnn.reference.layers.Dropout; one training forward and one backward.

``exact`` draws the book's mask from the global np.random bit for bit;
``fast`` uses its own MT19937 and one 32-bit draw per element.  ``copy`` is a
yardstick for memory traffic.
"""
import numpy as np
import pytest

from fastnn import layers as fast
from fastnn.reference import layers as ref

SHAPES = [(100, 100), (1000, 1000)]


def _layer(impl):
    if impl == "reference":
        return ref.Dropout(0.5)
    if impl == "fast-mode":
        return fast.Dropout(0.5, mode="fast", seed=0)
    return fast.Dropout(0.5)


@pytest.mark.parametrize("impl", ["exact", "fast-mode", "reference", "copy"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "%dx%d" % s)
def test_dropout_fwd_bwd(benchmark, shape, dtype, impl):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    d = rng.standard_normal(shape).astype(dtype)
    benchmark.group = "Dropout fwd+bwd %dx%d %s" % (shape + (dtype,))
    if impl == "copy":
        y = np.empty_like(x)
        benchmark(np.copyto, y, x)
        return
    layer = _layer(impl)
    np.random.seed(0)

    def run():
        layer.forward(x, train_flg=True)
        return layer.backward(d)
    benchmark(run)


@pytest.mark.parametrize("impl", ["exact", "reference"])
def test_dropout_inference(benchmark, impl):
    x = np.random.default_rng(0).standard_normal((1000, 1000))
    benchmark.group = "Dropout inference 1000x1000 float64"
    benchmark(_layer(impl).forward, x, False)
