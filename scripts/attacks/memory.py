"""memory: RSS, references and threads must not grow with repetition.

Each case warms up, measures, repeats its work many times (batch sizes
changing every step, failing calls, loads, copies, pool resizes) and
measures again; growth beyond a generous bound is WRONG (a leak), as is an
input whose reference count grows (a reference leaked per call).
"""
import gc
import os
import sys

import numpy as np

from ._common import Registry, Wrong

REGISTRY = Registry("memory")


def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def threads():
    return len(os.listdir("/proc/self/task"))


def _growth(work, warm, repeat, limit_mb, what):
    """Run ``work(i)`` ``warm`` times, measure, ``repeat`` more times, measure."""
    for i in range(warm):
        work(i)
    gc.collect()
    before = rss_mb()
    for i in range(warm, warm + repeat):
        work(i)
    gc.collect()
    grown = rss_mb() - before
    if grown > limit_mb:
        raise Wrong("%s: RSS grew by %.0f MB over %d repetitions" % (what, grown, repeat))
    return "RSS %+.1f MB over %d repetitions" % (grown, repeat)


def _n(ctx, full, quick):
    return quick if ctx.quick else full


@REGISTRY.case("mlp-batch-size-changing-every-step", isolated=True, quick=True, timeout=120)
def mlp_batches(ctx):
    from fastnn.multi_layer_net_extend import MultiLayerNetExtend
    from fastnn.optimizer import Adam
    np.random.seed(0)
    net = MultiLayerNetExtend(784, [100, 100, 100], 10, use_batchnorm=True, use_dropout=True,
                              dropout_ration=0.2)
    opt = Adam()
    r = np.random.default_rng(ctx.seed)
    sizes = r.integers(1, 257, 10000)
    x = r.random((256, 784))
    t = r.integers(0, 10, 256)

    def step(i):
        n = int(sizes[i])
        opt.update(net.params, net.gradient(x[:n], t[:n]))
        net.predict(x[:max(1, n // 2)])
    return _growth(step, 60, _n(ctx, 600, 150), 40, "training with a new batch size each step")


@REGISTRY.case("convnet-batch-size-changing-every-step", isolated=True, timeout=120)
def conv_batches(ctx):
    from fastnn.optimizer import Adam
    from fastnn.simple_convnet import SimpleConvNet
    np.random.seed(0)
    net = SimpleConvNet((1, 28, 28), {"filter_num": 8, "filter_size": 5, "pad": 0, "stride": 1},
                        hidden_size=30, weight_init_std=0.01, dtype=np.float32)
    opt = Adam()
    r = np.random.default_rng(ctx.seed)
    sizes = r.integers(1, 65, 10000)
    x = r.random((64, 1, 28, 28)).astype(np.float32)
    t = r.integers(0, 10, 64)

    def step(i):
        n = int(sizes[i])
        opt.update(net.params, net.gradient(x[:n], t[:n]))
    return _growth(step, 30, _n(ctx, 200, 60), 40, "convnet steps with changing batch sizes")


def _refcount_case(call, bad):
    """``call(x)`` many times (failing if ``bad``): x's reference count and RSS stay."""
    def run(ctx):
        x = np.random.default_rng(0).standard_normal((64, 300))
        if bad:
            x = x.astype(np.float16)
        before = sys.getrefcount(x)

        def once(i):
            try:
                call(x)
            except (TypeError, ValueError):
                if not bad:
                    raise
        note = _growth(once, 200, _n(ctx, 20000, 3000), 20, "repeated calls")
        after = sys.getrefcount(x)
        if after != before:
            raise Wrong("the input's reference count went from %d to %d: a reference leaks "
                        "per call" % (before, after))
        return note
    return run


def _ops():
    import fastnn.ops as ops
    return ops


OPS = {
    "relu_forward": lambda x: _ops().relu_forward(x),
    "sigmoid_forward": lambda x: _ops().sigmoid_forward(x),
    "softmax_forward": lambda x: _ops().softmax_cross_entropy_forward(
        x, np.zeros(len(x), np.int64)),
    "affine_forward": lambda x: _ops().affine_forward(x, np.ones((300, 4), x.dtype),
                                                      np.zeros(4, x.dtype)),
    "batchnorm_forward_train": lambda x: _ops().batchnorm_forward_train(
        x, np.ones(300, x.dtype), np.zeros(300, x.dtype)),
    "dropout_forward": lambda x: _ops().dropout_forward(x, 0.5),
    "sgd_update": lambda x: _ops().sgd_update(x, x.copy(), 0.0),
}
for _name, _call in OPS.items():
    REGISTRY.add("refcount/%s" % _name, _refcount_case(_call, False), quick=_name == "relu_forward")
    REGISTRY.add("refcount/%s-refused" % _name, _refcount_case(_call, True),
                 quick=_name == "affine_forward")


def _layer_refcount(cls_name):
    def run(ctx):
        from fastnn import layers
        r = np.random.default_rng(0)
        x = r.standard_normal((64, 300))
        layer = {"Relu": lambda: layers.Relu(), "Sigmoid": lambda: layers.Sigmoid(),
                 "Affine": lambda: layers.Affine(r.standard_normal((300, 20)), np.zeros(20)),
                 "BatchNormalization": lambda: layers.BatchNormalization(np.ones(300),
                                                                         np.zeros(300)),
                 "Dropout": lambda: layers.Dropout(0.3)}[cls_name]()
        train = cls_name in ("BatchNormalization", "Dropout")

        def step(i):
            out = layer.forward(x, True) if train else layer.forward(x)
            layer.backward(np.ones_like(out))
        step(0)
        before = sys.getrefcount(x)
        note = _growth(step, 50, _n(ctx, 3000, 500), 20, "forward and backward")
        # the layer keeps its last input: one reference, as after the first step
        if sys.getrefcount(x) != before:
            raise Wrong("the input's reference count went from %d to %d"
                        % (before, sys.getrefcount(x)))
        return note
    return run


for _cls in ("Relu", "Sigmoid", "Affine", "BatchNormalization", "Dropout"):
    REGISTRY.add("refcount/layer-%s" % _cls, _layer_refcount(_cls))


@REGISTRY.case("kept-outputs-are-let-go", isolated=True)
def kept_outputs(ctx):
    """Outputs kept by the caller force new buffers; once dropped, the memory goes."""
    from fastnn import layers
    layer = layers.Relu()
    x = np.random.default_rng(0).standard_normal((256, 1000))
    layer.forward(x)
    gc.collect()
    base = rss_mb()
    kept = [layer.forward(x) for _ in range(100)]      # 100 x 2 MB
    held = rss_mb() - base
    del kept
    for _ in range(3):
        layer.forward(x)
    gc.collect()
    left = rss_mb() - base
    if left > 60:
        raise Wrong("after dropping 100 kept outputs (%.0f MB) %.0f MB stay" % (held, left))
    return "held %.0f MB, %.0f MB left after dropping them" % (held, left)


@REGISTRY.case("set_num_threads-toggled", isolated=True, quick=True)
def toggled(ctx):
    import fastnn
    start = threads()
    counts = [1, 8, 2, 5, 3]

    def toggle(i):
        fastnn.set_num_threads(counts[i % len(counts)])
        _ops().relu_forward(np.ones(40000))
    note = _growth(toggle, 20, _n(ctx, 3000, 500), 20, "resizing the pool")
    fastnn.set_num_threads(2)
    now = threads()
    cap = max(1, min(1024, 4 * (os.cpu_count() or 1)))
    if now > start + cap:
        raise Wrong("%d threads after resizing the pool, %d before" % (now, start))
    return "%s; %d threads (%d before)" % (note, now, start)


@REGISTRY.case("threadpool_limits-repeated", isolated=True)
def limits_repeated(ctx):
    from threadpoolctl import threadpool_limits

    def once(i):
        with threadpool_limits(limits=1 + i % 3):
            pass
    return _growth(once, 20, _n(ctx, 500, 100), 20, "threadpool_limits")


@REGISTRY.case("load_checkpoint-repeated", isolated=True, quick=True)
def loads(ctx):
    from fastnn.serialization import load_checkpoint
    from ._files import checkpoint
    path = ctx.path("c.npz")
    checkpoint(path)
    return _growth(lambda i: load_checkpoint(path), 20, _n(ctx, 300, 60), 30,
                   "loading a checkpoint")


@REGISTRY.case("networks-made-and-dropped", isolated=True)
def networks(ctx):
    from fastnn.multi_layer_net_extend import MultiLayerNetExtend
    x = np.random.default_rng(0).random((32, 784))
    t = np.arange(32) % 10

    def once(i):
        net = MultiLayerNetExtend(784, [100, 100], 10, use_batchnorm=True)
        net.gradient(x, t)
    return _growth(once, 10, _n(ctx, 200, 40), 30, "networks made, used and dropped")


@REGISTRY.case("deepcopy-and-pickle-repeated", isolated=True)
def copies(ctx):
    import copy
    import pickle
    from fastnn.multi_layer_net_extend import MultiLayerNetExtend
    net = MultiLayerNetExtend(784, [100], 10, use_batchnorm=True)
    x = np.random.default_rng(0).random((32, 784))
    t = np.arange(32) % 10

    def once(i):
        twin = copy.deepcopy(net) if i % 2 else pickle.loads(pickle.dumps(net))
        twin.gradient(x, t)
    return _growth(once, 10, _n(ctx, 200, 40), 30, "copies made, used and dropped")


@REGISTRY.case("forked-children-repeated", isolated=True, timeout=120)
def forks(ctx):
    """Forking repeatedly after the pool ran: no thread or memory piles up in the parent."""
    import fastnn
    fastnn.set_num_threads(2)
    start = threads()

    def once(i):
        _ops().relu_forward(np.ones(100000))
        pid = os.fork()
        if pid == 0:
            try:
                _ops().relu_forward(np.ones(100000))
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
    note = _growth(once, 5, _n(ctx, 60, 15), 20, "forks")
    if threads() > start + 1:
        raise Wrong("%d threads after the forks, %d before" % (threads(), start))
    return note
