"""The buffer pool (fastnn/_kernels/pool.pyx) and a network's one pool for
all its layers (fastnn._on_ops.share_buffers): arrays come back most
recently used first, never while someone holds them, and a network's
training step settles into a fixed set of buffers."""
import pickle
import sys

import numpy as np
import pytest

from fastnn import get_backend
from fastnn._kernels.pool import PER_LAYER, Pool
from fastnn._on_ops import OnOps
from fastnn.deep_convnet import DeepConvNet
from fastnn.multi_layer_net_extend import MultiLayerNetExtend
from fastnn.simple_convnet import SimpleConvNet

needs_refcounts = pytest.mark.skipif(not hasattr(sys, "getrefcount"),
                                     reason="the pool reads reference counts")


@needs_refcounts
def test_take_returns_the_free_array_taken_last_and_never_a_held_one():
    pool = Pool()
    a, b, c = (pool.get((3, 4), np.float64) for _ in range(3))
    assert len({id(a), id(b), id(c)}) == 3          # all held: three arrays
    ia, ic = id(a), id(c)
    del a, c
    got = pool.get((3, 4), np.float64)
    assert id(got) == ic                             # the free one taken last
    again = pool.get((3, 4), np.float64)
    assert id(again) == ia and again is not got and again is not b
    del got
    assert id(pool.get((3, 4), np.float64)) == ic    # freed, and taken last: back first
    assert len(pool) == 3


@needs_refcounts
def test_take_matches_shape_and_dtype():
    pool = Pool()
    ids = {}
    for shape, dtype in [((3, 4), np.float64), ((4, 3), np.float64), ((3, 4), np.float32),
                         ((12,), np.float64), ((3, 4), np.bool_)]:
        arr = pool.get(shape, dtype)
        assert arr.shape == shape and arr.dtype == dtype and arr.flags.c_contiguous
        ids[shape, dtype] = id(arr)
        del arr
    assert len(pool) == 5                            # no array serves another shape/dtype
    for (shape, dtype), i in ids.items():
        assert id(pool.get(shape, dtype)) == i
    # A byte-swapped dtype is asked for as the native one.
    assert pool.get((3, 4), ">f8").dtype == np.dtype("=f8")


@needs_refcounts
def test_capacity_drops_the_array_taken_longest_ago():
    pool = Pool(3)
    held = [pool.get((2,), np.float64) for _ in range(5)]
    assert len(pool) == 3                            # the two oldest left the pool...
    first = held[0]
    held[0][:] = 7.0
    del held[1:]
    for _ in range(4):
        assert pool.get((2,), np.float64) is not first
    np.testing.assert_array_equal(first, 7.0)        # ...and live on with their holder
    with pytest.raises(ValueError, match="capacity"):
        Pool(0)


def test_pickled_pool_keeps_its_capacity_not_its_arrays():
    pool = Pool(40)
    kept = pool.get((5,), np.float64)
    copy = pickle.loads(pickle.dumps(pool))
    assert isinstance(copy, Pool) and copy.capacity == 40 and len(copy) == 0
    assert kept.shape == (5,)


def _fast_layers(net):
    layers = list(net.layers.values()) if isinstance(net.layers, dict) else list(net.layers)
    return [layer for layer in layers + [net.last_layer] if isinstance(layer, OnOps)]


@pytest.mark.parametrize("make", [
    lambda: MultiLayerNetExtend(12, [9, 7], 4, use_batchnorm=True, use_dropout=True),
    lambda: SimpleConvNet(input_dim=(1, 10, 10),
                          conv_param={'filter_num': 3, 'filter_size': 3, 'pad': 0, 'stride': 1},
                          hidden_size=6, output_size=4),
    lambda: DeepConvNet(),
], ids=["mlp", "simple", "deep"])
def test_a_network_gives_its_fast_layers_one_pool(make):
    net = make()
    layers = _fast_layers(net)
    assert len(layers) >= 5
    pools = {id(layer._pool) for layer in layers}
    assert len(pools) == 1
    assert layers[0]._pool.capacity == PER_LAYER * len(layers)
    # Pickling the layers keeps the sharing (and the capacity).
    copied = pickle.loads(pickle.dumps(layers))
    assert len({id(layer._pool) for layer in copied}) == 1
    assert copied[0]._pool is not layers[0]._pool
    assert copied[0]._pool.capacity == layers[0]._pool.capacity


def test_reference_networks_take_nothing_from_their_pool():
    # The same layer classes on NumpyOps, whose results are NumPy's new arrays.
    net = MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, use_dropout=True,
                              backend="reference")
    x, t = np.random.default_rng(0).standard_normal((4, 6)), np.array([0, 1, 2, 0])
    net.gradient(x, t)
    net.predict(x, train_flg=False)
    assert all(layer.ops.name == "numpy" for layer in net.layers.values())
    assert len(net._buffers) == 0


def _mlp(backend):
    np.random.seed(1)
    return MultiLayerNetExtend(20, [16, 16, 16], 5, use_batchnorm=True, use_dropout=True,
                               dropout_ration=0.2, weight_decay_lambda=0.05, backend=backend)


def _warm_mlp(seed):
    """A trained-for-three-steps network on batch 8, its pool, its batch, an rng."""
    rng = np.random.default_rng(seed)
    x, t = rng.standard_normal((8, 20)), rng.integers(0, 5, 8)
    net = _mlp("fast")
    for _ in range(3):
        net.gradient(x, t)
    return net, next(iter(net.layers.values()))._pool, x, t, rng


@needs_refcounts
def test_shared_pool_training_matches_the_reference_and_keeps_held_outputs():
    rng = np.random.default_rng(7)
    x, t = rng.standard_normal((8, 20)), rng.integers(0, 5, 8)
    fast_net, ref_net = _mlp("fast"), _mlp("reference")
    fast_opt = get_backend("fast").optimizer.Adam()
    ref_opt = get_backend("reference").optimizer.Adam()
    held = []
    for step in range(6):
        np.random.seed(100 + step)
        fg = fast_net.gradient(x, t)
        np.random.seed(100 + step)
        rg = ref_net.gradient(x, t)
        for key in rg:
            np.testing.assert_allclose(fg[key], rg[key], rtol=1e-9, atol=1e-12, err_msg=key)
        fast_opt.update(fast_net.params, fg)
        ref_opt.update(ref_net.params, rg)
        # Outputs a caller keeps are never reused by the layers that share the pool.
        out = fast_net.predict(x, train_flg=False)
        held.append((out, out.copy()))
    for out, copy in held:
        np.testing.assert_array_equal(out, copy)
    assert len({id(out) for out, _ in held}) == len(held)


@needs_refcounts
def test_a_training_step_settles_into_the_same_buffers():
    net, pool, x, t, _ = _warm_mlp(8)
    opt = get_backend("fast").optimizer.Adam()
    seen = []
    for _ in range(40):
        opt.update(net.params, net.gradient(x, t))
        seen.append(sorted(id(a) for a in pool.arrays()))
    # Nothing allocated, nothing swept away once warm (sweeps run every
    # capacity takes, several times over these steps).
    assert all(ids == seen[-1] for ids in seen[-30:])
    assert len(seen[-1]) < pool.capacity


@needs_refcounts
def test_periodic_sweep_lets_go_of_what_nobody_takes():
    # A pool no network drives (a layer used on its own).
    pool = Pool(4)
    old = pool.get((3,), np.float64)
    kept = pool.get((5,), np.float64)
    old_id = id(old)
    del old
    for _ in range(8):                       # two sweeps' worth of other takes
        pool.get((2,), np.float64)
    assert old_id not in {id(a) for a in pool.arrays()}
    assert any(a is kept for a in pool.arrays())  # held: never let go


@needs_refcounts
def test_buffers_of_shapes_no_longer_asked_for_are_let_go():
    # Inference on other batch sizes between training steps (the reviewer's
    # case: 915 MB kept by a SimpleConvNet) leaves nothing behind once
    # training goes on, but a result the caller keeps.
    net, pool, x, t, rng = _warm_mlp(9)
    shapes = {a.shape for a in pool.arrays()}
    for n in (50, 49, 48):
        net.predict(rng.standard_normal((n, 20)))
    assert any(a.shape[0] == 48 for a in pool.arrays())
    held = net.predict(rng.standard_normal((51, 20)))    # a result the caller keeps
    for _ in range(20):
        net.gradient(x, t)
    assert {a.shape for a in pool.arrays()} - shapes == {held.shape}
    assert any(a is held for a in pool.arrays())         # held: kept, never reused


@needs_refcounts
def test_a_network_lets_go_of_batch_sizes_after_two_passes():
    net, pool, x, t, rng = _warm_mlp(10)
    for n in range(50, 40, -1):               # ten predictions, ten batch sizes
        net.predict(rng.standard_normal((n, 20)))
        sizes = {a.shape[0] for a in pool.arrays() if a.ndim == 2} - {8}
        assert sizes <= {n, n + 1, n + 2}       # this pass's and the two before
    for _ in range(2):                         # the last prediction's pass and one more
        net.gradient(x, t)
    assert {a.shape[0] for a in pool.arrays() if a.ndim == 2} == {8, 41}
    net.gradient(x, t)                         # taken in neither of the last two passes
    assert {a.shape[0] for a in pool.arrays() if a.ndim == 2} == {8}


@needs_refcounts
def test_training_and_inference_on_another_batch_size_alternate_without_allocating():
    # Two passes of memory: evaluating between steps does not evict the
    # step's buffers (nor the evaluation's).
    net, pool, x, t, rng = _warm_mlp(11)
    xe = rng.standard_normal((13, 20))
    opt = get_backend("fast").optimizer.Adam()
    seen = []
    for _ in range(12):
        opt.update(net.params, net.gradient(x, t))
        net.predict(xe)
        seen.append(sorted(id(a) for a in pool.arrays()))
    assert all(ids == seen[-1] for ids in seen[-8:])
