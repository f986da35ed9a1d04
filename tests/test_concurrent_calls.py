"""One network, two threads: training (``gradient``) while another thread runs
inference (``predict``/``loss``/``accuracy``) on the same network.  Every call
either returns what a single thread computes or raises the one clear
RuntimeError; none returns a wrong result."""
import random
import re
import threading
import time

import numpy as np
import pytest

from _util import BACKENDS

BUSY = re.compile("in use by another thread")


def _mlp(backend):
    from fastnn.multi_layer_net import MultiLayerNet
    return MultiLayerNet(40, [60, 60], 10, backend=backend)


def _simple_convnet(backend):
    from fastnn.simple_convnet import SimpleConvNet
    return SimpleConvNet((1, 10, 10), {"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 1},
                         hidden_size=30, output_size=10, weight_init_std=0.1, backend=backend)


NETWORKS = {"MultiLayerNet": (_mlp, (40,)), "SimpleConvNet": (_simple_convnet, (1, 10, 10))}


def _accuracy(net, x, t):
    if hasattr(net, "conv_param"):
        return net.accuracy(x, t, batch_size=10)    # the convnets' batches
    return net.accuracy(x, t)


def _hammer(threads, seconds):
    """Run each ``(name, calls)`` in its own thread for ``seconds``, making
    its ``(call, check)`` pairs in turn over and over; ``check(result)`` says
    whether a result is right.  Returns ``{name: [right, refused]}``, the
    wrong results and the other errors."""
    counts = {name: [0, 0] for name, _ in threads}
    wrong, errors = [], []
    stop = time.monotonic() + seconds

    def loop(name, calls):
        pause = random.Random(name).random
        try:
            while time.monotonic() < stop:
                for call, check in calls:
                    try:
                        result = call()
                    except RuntimeError as exc:
                        if not BUSY.search(str(exc)):
                            raise
                        counts[name][1] += 1
                    else:
                        if check(result):
                            counts[name][0] += 1
                        else:
                            wrong.append(name)
                    time.sleep(0.001 * pause())     # let the other thread in
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=loop, args=t) for t in threads]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 60)
    return counts, wrong, errors


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_gradient_and_inference_at_once_are_right_or_refused(name, backend):
    build, shape = NETWORKS[name]
    np.random.seed(0)
    net = build(backend)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((20,) + shape), rng.integers(0, 10, 20)
    x2, t2 = rng.standard_normal((30,) + shape), rng.integers(0, 10, 30)
    want_grads = {k: np.array(v, copy=True) for k, v in net.gradient(x, t).items()}
    want_y = np.array(net.predict(x2), copy=True)
    want_loss, want_acc = net.loss(x2, t2), _accuracy(net, x2, t2)

    def grads_right(grads):
        return all(np.array_equal(grads[k], want_grads[k]) for k in want_grads)

    training = [(lambda: net.gradient(x, t), grads_right)]
    inference = [(lambda: net.predict(x2), lambda y: np.array_equal(y, want_y)),
                 (lambda: net.loss(x2, t2), lambda v: v == want_loss),
                 (lambda: _accuracy(net, x2, t2), lambda v: v == want_acc)]
    counts, wrong, errors = _hammer([("training", training), ("inference", inference)],
                                    seconds=0.8)
    assert not errors, errors
    assert not wrong, (wrong, counts)
    assert counts["training"][0] and counts["inference"][0], counts    # both got through
    # Alone again, the network computes what it did before.
    assert grads_right(net.gradient(x, t))
    np.testing.assert_array_equal(net.predict(x2), want_y)


def _blocked_inside(net, call):
    """Start ``call`` in a thread; return once it is stopped inside the
    network's second Affine layer, and a function that lets it go on."""
    layer = net.layers["Affine2"]
    entered, release = threading.Event(), threading.Event()
    forward = layer.forward
    errors = []

    def blocking_forward(x):
        del layer.forward                 # only the first call stops
        entered.set()
        assert release.wait(30)
        return forward(x)

    def target():
        try:
            call()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    layer.forward = blocking_forward
    thread = threading.Thread(target=target)
    thread.start()
    assert entered.wait(30)

    def finish():
        release.set()
        thread.join(30)
        assert not errors, errors
    return finish


@pytest.mark.parametrize("backend", BACKENDS)
def test_network_in_training_refuses_inference_from_another_thread(backend):
    net = _mlp(backend)
    x, t = np.ones((3, 40)), np.array([1, 2, 3])
    finish = _blocked_inside(net, lambda: net.gradient(x, t))
    try:
        for call in (lambda: net.predict(x), lambda: net.loss(x, t),
                     lambda: net.accuracy(x, t), lambda: net.gradient(x, t)):
            with pytest.raises(RuntimeError, match="MultiLayerNet .*in use by another thread"):
                call()
    finally:
        finish()
    net.predict(x)                      # free again once the other thread has left
    net.gradient(x, t)


@pytest.mark.parametrize("backend", BACKENDS)
def test_network_in_inference_refuses_training_from_another_thread(backend):
    net = _mlp(backend)
    x, t = np.ones((3, 40)), np.array([1, 2, 3])
    finish = _blocked_inside(net, lambda: net.predict(x))
    try:
        with pytest.raises(RuntimeError, match="in use by another thread"):
            net.gradient(x, t)
        net.predict(x)                  # inference alone may be shared, on both backends
    finally:
        finish()
    net.gradient(x, t)
