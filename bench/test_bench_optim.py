"""Optimizer updates: fastnn.optimizer against fastnn.reference.optimizer.

Sizes: the book's chapter-6 MLP (784-100x5-10 with batch norm: 22 arrays,
120,910 parameters), where per-array overhead matters, and one array of 1e6
parameters, where memory traffic does.  Two reference points in the 1e6
groups, measured in the same run:

* ``copy floor``: ``np.copyto`` moving the bytes an Adam step must move
  (read p, g, m, v and write p, m, v: 7 arrays).  glibc copies this large
  with non-temporal stores, so this is the DRAM streaming time: a
  pessimistic floor, since Adam's 4 arrays (32 MB in float64) largely stay
  in a 32 MB last-level cache between steps.
* ``in-place floor``: ``p += g; m *= 1; v *= 1`` with NumPy over arrays
  like Adam's: the same bytes, the same working set and the same in-place
  pattern (each of p, g, m, v read once, p, m, v written once), with
  trivial arithmetic.  This is the bandwidth floor the target refers to.
"""
import numpy as np
import pytest

from fastnn import optimizer as fast
from fastnn.reference import optimizer as ref
from fastnn.multi_layer_net_extend import MultiLayerNetExtend

NAMES = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]
IMPLS = {"fast": fast, "reference": ref}


def _mlp_params(dtype):
    np.random.seed(0)
    net = MultiLayerNetExtend(784, [100] * 5, 10, use_batchnorm=True, backend="reference",
                              dtype=dtype)
    rng = np.random.default_rng(0)
    grads = {k: (0.01 * rng.standard_normal(v.shape)).astype(dtype)
             for k, v in net.params.items()}
    return net.params, grads


@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("name", NAMES)
def test_mlp_update(benchmark, name, impl):
    params, grads = _mlp_params(np.float64)
    assert len(params) == 22
    opt = getattr(IMPLS[impl], name)()
    opt.update(params, grads)  # state created outside the timing
    benchmark.group = "%s MLP 22 arrays float64" % name
    benchmark(opt.update, params, grads)


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_mlp_adam_float32(benchmark, impl):
    params, grads = _mlp_params(np.float32)
    opt = IMPLS[impl].Adam()
    opt.update(params, grads)
    benchmark.group = "Adam MLP 22 arrays float32"
    benchmark(opt.update, params, grads)


N = 1_000_000


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_adam_1e6(benchmark, impl, dtype):
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal(N).astype(dtype)}
    grads = {"W": rng.standard_normal(N).astype(dtype)}
    opt = IMPLS[impl].Adam()
    opt.update(params, grads)
    benchmark.group = "Adam 1e6 %s" % dtype
    benchmark(opt.update, params, grads)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_adam_1e6_copy_floor(benchmark, dtype):
    # An Adam step moves 7 arrays of N elements (4 read, 3 written); a copy
    # of 3.5 N elements moves the same bytes (3.5 N read, 3.5 N written).
    src = np.ones(int(3.5 * N), dtype)
    dst = np.zeros_like(src)
    benchmark.group = "Adam 1e6 %s" % dtype
    benchmark.name = "copy floor (np.copyto, same bytes)"
    benchmark(np.copyto, dst, src)



@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_adam_1e6_in_place_floor(benchmark, dtype):
    rng = np.random.default_rng(0)
    p, g, m, v = (rng.standard_normal(N).astype(dtype) for _ in range(4))

    def stream():
        np.add(p, g, out=p)
        np.multiply(m, 1.0, out=m)
        np.multiply(v, 1.0, out=v)
    benchmark.group = "Adam 1e6 %s" % dtype
    benchmark.name = "in-place floor (p += g; m *= 1; v *= 1)"
    benchmark(stream)
