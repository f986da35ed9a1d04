"""concurrency: threads sharing a network, layer or optimizer; the pool resized
mid-step; fork after use and during a kernel.

A call that meets another thread inside may raise RuntimeError (the guard);
every result that is returned must equal the single-threaded one.  Each case
runs in a process of its own.
"""
import copy
import os
import signal
import threading
import time

import numpy as np

from ._common import Hang, Registry, Unclear, Wrong, compare

REGISTRY = Registry("concurrency")


def _net(backend="fast", batchnorm=False, sizes=(60, [50, 50], 10), dtype=np.float64):
    from fastnn.multi_layer_net_extend import MultiLayerNetExtend
    np.random.seed(0)
    return MultiLayerNetExtend(sizes[0], sizes[1], sizes[2], use_batchnorm=batchnorm,
                               backend=backend, dtype=dtype)


def _data(seed, n=64, d=60):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, d)), r.integers(0, 10, n)


def _copy(grads):
    return {k: np.array(v, copy=True) for k, v in grads.items()}


def _threads(targets, seconds):
    """Run each target on its own thread; a thread still running ``seconds`` after
    the start is a HANG.  Exceptions other than the guard's propagate."""
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
        return run
    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        raise Hang("a thread is still running %ss after the start" % seconds)
    if errors:
        raise errors[0]


class Tally:
    """Counts of calls that returned a correct result and calls the guard refused."""

    def __init__(self):
        self.ok = self.refused = 0
        self.lock = threading.Lock()

    def call(self, fn, check):
        try:
            result = fn()
        except RuntimeError as exc:
            if "thread" not in str(exc):
                raise
            with self.lock:
                self.refused += 1
            return
        check(result)
        with self.lock:
            self.ok += 1


def _loop(seconds, body):
    def run():
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            body()
    return run


@REGISTRY.case("gradient-while-predicting", isolated=True, quick=True)
def gradient_while_predicting(ctx):
    """Issue 18, item 2: one thread trains, another predicts, on one network."""
    net = _net()
    xa, ta = _data(1)
    xb, _ = _data(2)
    want_grad = _copy(net.gradient(xa, ta))
    want_pred = np.array(net.predict(xb, train_flg=False), copy=True)
    grads, preds = Tally(), Tally()

    def check_grad(g):
        compare(_copy(g), want_grad, "gradient")

    def check_pred(y):
        compare(y, want_pred, "predict")
    seconds = 1.0 if ctx.quick else 3.0
    _threads([_loop(seconds, lambda: grads.call(lambda: net.gradient(xa, ta), check_grad)),
              _loop(seconds, lambda: preds.call(lambda: net.predict(xb, train_flg=False),
                                                check_pred))], seconds + 20)
    return "gradient %d ok / %d refused; predict %d ok / %d refused" % (
        grads.ok, grads.refused, preds.ok, preds.refused)


@REGISTRY.case("two-threads-gradient", isolated=True)
def two_threads_gradient(ctx):
    net = _net(batchnorm=True)
    data = [_data(1), _data(2)]
    tallies = [Tally(), Tally()]
    seconds = 1.0 if ctx.quick else 2.0
    _threads([_loop(seconds, lambda i=i: tallies[i].call(lambda: net.gradient(*data[i]),
                                                         lambda g: None))
              for i in range(2)], seconds + 20)
    want = _copy(_net(batchnorm=True).gradient(*data[0]))
    compare(_copy(net.gradient(*data[0])), want, "gradient after the race")
    return "%d + %d ok, %d + %d refused" % (tallies[0].ok, tallies[1].ok,
                                            tallies[0].refused, tallies[1].refused)


def _predict_race(backend):
    def run(ctx):
        net = _net(backend)
        xs = [_data(i)[0] for i in range(2)]
        want = [np.array(net.predict(x, train_flg=False), copy=True) for x in xs]
        tallies = [Tally(), Tally()]
        seconds = 1.0
        _threads([_loop(seconds, lambda i=i: tallies[i].call(
            lambda: net.predict(xs[i], train_flg=False),
            lambda y: compare(y, want[i], "predict"))) for i in range(2)], seconds + 20)
        refused = tallies[0].refused + tallies[1].refused
        if backend == "fast" and refused:
            raise Unclear("inference shared by two threads was refused %d times (the README "
                          "allows it on the compiled backend)" % refused)
        return "%d ok, %d refused" % (tallies[0].ok + tallies[1].ok, refused)
    return run


REGISTRY.add("two-threads-predict-fast", _predict_race("fast"), isolated=True, quick=True)
REGISTRY.add("two-threads-predict-reference", _predict_race("reference"), isolated=True)


def _train(net, opt, steps, seed):
    r = np.random.default_rng(seed)
    for _ in range(steps):
        x, t = r.standard_normal((256, 200)), r.integers(0, 10, 256)
        opt.update(net.params, net.gradient(x, t))
    return {k: np.array(v, copy=True) for k, v in net.params.items()}


def _big_net():
    return _net(sizes=(200, [300, 300], 10), batchnorm=True)


def _resized_during_training(resize):
    """Train on one thread while another keeps resizing the pool; the weights
    must equal a one-thread run's to rounding (results follow the thread
    count only within rounding)."""
    def run(ctx):
        import fastnn
        from fastnn.optimizer import Momentum
        steps = 6 if ctx.quick else 15
        fastnn.set_num_threads(1)
        want = _train(_big_net(), Momentum(0.01), steps, 5)
        fastnn.set_num_threads(2)
        stop = threading.Event()
        got = {}

        def trainer():
            try:
                got["params"] = _train(_big_net(), Momentum(0.01), steps, 5)
            finally:
                stop.set()

        def resizer():
            i = 0
            while not stop.is_set():
                resize(i)
                i += 1
        _threads([trainer, resizer], 120)
        compare(got["params"], want, "weights", tol=1e-8)
    return run


def _set_threads(i):
    import fastnn
    fastnn.set_num_threads([1, 2, 3, 8, 2][i % 5])


def _limits(i):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=[1, 3, None][i % 3]):
        time.sleep(0.0005)


def _limits_openmp(i):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits={"openmp": [1, 4][i % 2]}, user_api=None):
        time.sleep(0.0005)


REGISTRY.add("set_num_threads-from-another-thread", _resized_during_training(_set_threads),
             isolated=True, quick=True, timeout=150)
REGISTRY.add("threadpool_limits-from-another-thread", _resized_during_training(_limits),
             isolated=True, timeout=150)
REGISTRY.add("threadpool_limits-openmp-dict-from-another-thread",
             _resized_during_training(_limits_openmp), isolated=True, timeout=150)


def _wait_child(pid, seconds):
    """The exit status of child ``pid``; killed and :class:`Hang` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(status):
                return -os.WTERMSIG(status)
            return os.WEXITSTATUS(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise Hang("a forked child did not exit within %ss" % seconds)


def _in_child(body):
    """Fork; the child runs ``body()`` and exits 0 (True), 3 (False) or 4 (an
    exception); never returns into the parent's code."""
    pid = os.fork()
    if pid == 0:
        code = 4
        try:
            code = 0 if body() else 3
        except BaseException:  # noqa: BLE001 - the status says it
            code = 4
        finally:
            os._exit(code)
    return pid


def _child_status(rc, what):
    if rc < 0:
        raise Wrong("%s: the child was killed by %s" % (what, signal.Signals(-rc).name))
    if rc == 3:
        raise Wrong("%s: the child's result differs from the parent's" % what)
    if rc == 4:
        raise Unclear("%s: the child raised" % what)


@REGISTRY.case("fork-after-use", isolated=True, quick=True, timeout=60)
def fork_after_use(ctx):
    import fastnn
    fastnn.set_num_threads(2)
    net = _big_net()
    x, t = _data(1, 256, 200)
    want = _copy(net.gradient(x, t))

    def child():
        got = _copy(net.gradient(x, t))
        ok = all(np.allclose(got[k], want[k], rtol=1e-9, atol=1e-12) for k in want)
        return ok and fastnn.get_num_threads() == 1
    _child_status(_wait_child(_in_child(child), 30), "fork after use")


@REGISTRY.case("fork-while-a-kernel-runs", isolated=True, quick=True, timeout=90)
def fork_mid_kernel(ctx):
    """A thread keeps the pool busy with GEMMs while the main thread forks; each
    child must finish its own kernels (one thread) and exit."""
    import fastnn
    import fastnn.ops as ops
    fastnn.set_num_threads(2)
    r = np.random.default_rng(0)
    a, b, bias = r.standard_normal((400, 300)), r.standard_normal((300, 400)), np.zeros(400)
    want = a @ b
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            ops.affine_forward(a, b, bias)
    worker = threading.Thread(target=busy, daemon=True)
    worker.start()
    try:
        for i in range(3 if ctx.quick else 8):
            time.sleep(0.003 * i)

            def child():
                return np.allclose(ops.affine_forward(a, b, bias), want)
            _child_status(_wait_child(_in_child(child), 20), "fork number %d" % (i + 1))
    finally:
        stop.set()
        worker.join(10)


@REGISTRY.case("multiprocessing-fork-pool", isolated=True, timeout=90)
def multiprocessing_fork_pool(ctx):
    import multiprocessing
    net = _net()
    data = [_data(i) for i in range(4)]
    want = [float(net.loss(x, t)) for x, t in data]
    global _POOL_NET
    _POOL_NET = net
    with multiprocessing.get_context("fork").Pool(2) as pool:
        got = pool.map_async(_pool_loss, data).get(60)
    compare(got, want, "losses from fork workers")


_POOL_NET = None


def _pool_loss(args):
    return float(_POOL_NET.loss(*args))


@REGISTRY.case("deepcopy-trained-beside-original", isolated=True, timeout=120)
def deepcopy_beside(ctx):
    """A deep copy and its original trained at once on two threads: each must end
    where it would have alone."""
    from fastnn.optimizer import Adam
    steps = 10
    want = _train(_big_net(), Adam(), steps, 7)
    net = _big_net()
    twin = copy.deepcopy(net)
    got = {}

    def train(which, n):
        def run():
            got[which] = _train(n, Adam(), steps, 7)
        return run
    _threads([train("original", net), train("copy", twin)], 100)
    compare(got["original"], want, "original", tol=1e-8)
    compare(got["copy"], want, "copy", tol=1e-8)


@REGISTRY.case("one-layer-train-and-infer", isolated=True, quick=True)
def one_layer(ctx):
    from fastnn.layers import Affine
    r = np.random.default_rng(0)
    W, b = r.standard_normal((300, 200)), r.standard_normal(200)
    layer = Affine(W, b)
    x1, x2 = r.standard_normal((128, 300)), r.standard_normal((128, 300))
    dout = r.standard_normal((128, 200))
    want_out2 = x2 @ W + b
    want_dW = x1.T @ dout
    trains, infers = Tally(), Tally()

    def train():
        layer.forward(x1)
        return np.array(layer.backward(dout), copy=True), np.array(layer.dW, copy=True)

    def check_train(res):
        compare(res[1], want_dW, "dW")
    seconds = 1.0
    _threads([_loop(seconds, lambda: trains.call(train, check_train)),
              _loop(seconds, lambda: infers.call(lambda: layer.forward(x2),
                                                 lambda y: compare(y, want_out2, "out")))],
             seconds + 20)
    return "train %d/%d refused, infer %d/%d refused" % (
        trains.refused, trains.ok + trains.refused, infers.refused, infers.ok + infers.refused)


@REGISTRY.case("guard-released-after-an-error", isolated=True, quick=True)
def guard_released(ctx):
    """A call that fails inside the network must not leave the guard held."""
    net = _net()
    x, t = _data(1)
    want = _copy(net.gradient(x, t))
    for bad in (x[:, :5], x.astype(object), None):
        try:
            net.gradient(bad, t)
        except Exception:  # noqa: BLE001 - any refusal will do
            pass
    got = {}

    def other():
        got["g"] = _copy(net.gradient(x, t))
    _threads([other], 30)
    compare(got["g"], want, "gradient from another thread after errors")


@REGISTRY.case("keyboard-interrupt-mid-training", isolated=True)
def interrupted(ctx):
    """SIGINT during training: KeyboardInterrupt, and the network still works."""
    net = _big_net()
    x, t = _data(1, 256, 200)
    want = _copy(net.gradient(x, t))
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            net.gradient(x, t)
        raise Wrong("no KeyboardInterrupt within 10 s of SIGINT")
    except KeyboardInterrupt:
        pass
    finally:
        timer.cancel()
    compare(_copy(net.gradient(x, t)), want, "gradient after the interrupt")


@REGISTRY.case("one-sgd-two-networks-two-threads", isolated=True)
def shared_sgd(ctx):
    """SGD is stateless: one instance may serve several networks, here at once."""
    from fastnn.optimizer import SGD
    want = _train(_big_net(), SGD(0.01), 8, 3)
    opt = SGD(0.01)
    nets = [_big_net(), _big_net()]
    got = {}

    def train(i):
        def run():
            got[i] = _train(nets[i], opt, 8, 3)
        return run
    _threads([train(0), train(1)], 100)
    for i in range(2):
        compare(got[i], want, "network %d" % i, tol=1e-8)


@REGISTRY.case("fast-dropout-generator-shared-by-threads", isolated=True)
def shared_generator(ctx):
    from fastnn.layers import Dropout
    gen = np.random.default_rng(0)
    layers = [Dropout(0.25, mode="fast", seed=gen) for _ in range(2)]
    x = np.ones((256, 300))
    kept = []

    def run(layer):
        def body():
            for _ in range(200):
                y = layer.forward(x, True)
                kept.append(float(y.mean()))
        return body
    _threads([run(layers[0]), run(layers[1])], 60)
    mean = float(np.mean(kept))
    if not abs(mean - 0.75) < 0.01:
        raise Wrong("two threads drawing from one generator kept %.4f of the units, "
                    "expected 0.75" % mean)
