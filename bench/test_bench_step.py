"""The whole training step of the book's chapter-6 network: gradient + Adam update."""
import numpy as np
import pytest

from fastnn import get_backend
from fastnn.multi_layer_net_extend import MultiLayerNetExtend


def _step(backend, batch, dtype):
    np.random.seed(0)
    net = MultiLayerNetExtend(784, [100] * 5, 10, use_batchnorm=True, use_dropout=True,
                              dropout_ration=0.2, weight_decay_lambda=0.1,
                              backend=backend, dtype=dtype)
    opt = get_backend(backend).optimizer.Adam()
    rng = np.random.default_rng(0)
    x = rng.random((batch, 784)).astype(dtype)
    t = rng.integers(0, 10, batch)
    return lambda: opt.update(net.params, net.gradient(x, t))


@pytest.mark.parametrize("batch", [100, 1000])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["fast", "reference"])
def test_train_step(benchmark, backend, dtype, batch):
    benchmark.group = "train step b%d %s" % (batch, dtype)
    benchmark(_step(backend, batch, np.dtype(dtype)))
