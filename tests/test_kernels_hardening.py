"""Reproducers of the kernels' and layers' past failures: byte order, overlapping outputs,
small differences from the reference, one layer in two threads, forked children.

Reproducers that crashed the interpreter (SIGSEGV, SIGBUS) or hung run in a
subprocess with a timeout, so a regression fails its test instead of
killing pytest.
"""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from fastnn import layers as fast
from fastnn import ops
from fastnn import optimizer as fast_opt
from fastnn.multi_layer_net_extend import MultiLayerNetExtend
from fastnn.reference import layers as ref
from fastnn.reference import optimizer as ref_opt
from _util import assert_close

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, timeout=60, env=None):
    """Run ``code`` in a fresh interpreter from the repository root; returns
    (returncode, stdout + stderr); a timeout counts as a failure."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                              env=full_env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("the reproducer did not finish in %d s (hung)" % timeout)
    return proc.returncode, proc.stdout + proc.stderr


# -- non-native byte order -----------------------------------------------------

def test_swapped_byte_order_labels_into_softmax_ops():
    rc, out = run_python("""
        import numpy as np
        from fastnn import ops
        x = np.random.default_rng(0).standard_normal((4, 5))
        for dt in ('>i4', '>i8', '<i2', '>u8'):
            t = np.array([1, 2, 3, 4], dtype=dt)
            tn = t.astype(t.dtype.newbyteorder('='))
            for eps in (0.0, 0.1):
                a, ya = ops.softmax_cross_entropy_forward(x, t, eps)
                b, yb = ops.softmax_cross_entropy_forward(x, tn, eps)
                assert a == b, (dt, eps, a, b)
                assert np.array_equal(ops.softmax_cross_entropy_backward(ya, t, eps),
                                      ops.softmax_cross_entropy_backward(yb, tn, eps))
        print('ok')
    """)
    assert rc == 0 and out.strip().endswith("ok"), out


def test_swapped_byte_order_labels_into_softmax_layer():
    rc, out = run_python("""
        import numpy as np
        from fastnn import layers
        from fastnn.reference import layers as ref
        x = np.random.default_rng(0).standard_normal((4, 5))
        for eps in (0.0, 0.1):
            t = np.array([1, 2, 3, 4], dtype='>i4')
            got = layers.SoftmaxWithLoss(eps).forward(x, t)
            want = ref.SoftmaxWithLoss(eps).forward(x, t.astype(np.int32))
            assert abs(got - want) < 1e-12, (eps, got, want)
        print('ok')
    """)
    assert rc == 0 and out.strip().endswith("ok"), out


def test_swapped_byte_order_in_place_arguments_are_refused():
    p = np.ones(5)
    with pytest.raises(TypeError, match="byte order"):
        ops.adam_update(p, p.copy(), np.zeros(5, ">f8"), np.zeros(5), 0.1)
    x = np.ones((3, 5))
    with pytest.raises(TypeError, match="byte order"):
        ops.batchnorm_forward_train(x, np.ones(5), np.zeros(5), np.zeros(5, ">f8"),
                                    np.zeros(5))


# -- outputs overlapping inputs --------------------------------------------------

def _bn_args(d=5):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((4, d)), 1 + rng.random(d), rng.standard_normal(d),
            rng.standard_normal(d), 1 + rng.random(d))


def test_batchnorm_infer_refuses_output_overlapping_beta_or_running_mean():
    x, g, beta, rm, rv = _bn_args()
    out = np.empty((4, 5))
    with pytest.raises(ValueError, match="out shares memory with beta"):
        ops.batchnorm_forward_infer(x, g, out[0], rm, rv, out=out)
    with pytest.raises(ValueError, match="out shares memory with running_mean"):
        ops.batchnorm_forward_infer(x, g, beta, out[1], rv, out=out)


def test_batchnorm_train_refuses_running_stats_aliasing_inputs():
    x, g, beta, _, rv = _bn_args()
    with pytest.raises(ValueError, match="running_mean shares memory with gamma"):
        ops.batchnorm_forward_train(x, g, beta, g, rv)
    with pytest.raises(ValueError, match="running_var shares memory with x"):
        ops.batchnorm_forward_train(x, g, beta, np.zeros(5), x[0])


def test_batchnorm_layer_running_mean_is_gamma_matches_reference():
    x = np.random.default_rng(1).standard_normal((6, 5)) + 3
    g1, g2 = np.full(5, 0.9), np.full(5, 0.9)
    f = fast.BatchNormalization(g1, np.zeros(5), running_mean=g1, running_var=np.ones(5))
    r = ref.BatchNormalization(g2, np.zeros(5), running_mean=g2, running_var=np.ones(5))
    assert_close(f.forward(x), r.forward(x))
    assert np.array_equal(g1, g2)   # gamma did not change under the forward pass
    assert_close(f.running_mean, r.running_mean)


# -- smaller differences from the reference --------------------------------------

@pytest.mark.parametrize("name", ["Nesterov", "Momentum", "Adam", "AdaGrad", "RMSprop", "SGD"])
def test_optimizer_grads_aliasing_params_match_reference(name):
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal(50)
    pf, pr = {"W": p0.copy()}, {"W": p0.copy()}
    of, orf = getattr(fast_opt, name)(), getattr(ref_opt, name)()
    for _ in range(3):
        of.update(pf, pf)      # grads is params: grads['W'] is params['W']
        orf.update(pr, pr)
    assert np.array_equal(pf["W"], pr["W"])


def test_grad_aliasing_optimizer_state_matches_reference():
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(20)
    pf, pr = {"W": p0.copy()}, {"W": p0.copy()}
    of, orf = fast_opt.Adam(), ref_opt.Adam()
    of.update(pf, {"W": p0.copy()})
    orf.update(pr, {"W": p0.copy()})
    of.update(pf, {"W": of.m["W"]})   # the gradient is Adam's own m
    orf.update(pr, {"W": orf.m["W"]})
    assert np.array_equal(pf["W"], pr["W"])


@pytest.mark.parametrize("dout_dtype", [np.float32, np.float64])
def test_float32_x_into_float64_affine_gradients_as_reference(dout_dtype):
    rng = np.random.default_rng(4)
    W, b = rng.standard_normal((5, 3)), np.zeros(3)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    dout = rng.standard_normal((4, 3)).astype(dout_dtype)
    f, r = fast.Affine(W.copy(), b.copy()), ref.Affine(W.copy(), b.copy())
    assert_close(f.forward(x), r.forward(x))
    assert_close(f.backward(dout), r.backward(dout))
    assert f.dW.dtype == r.dW.dtype and f.db.dtype == r.db.dtype
    assert_close(f.dW, r.dW)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batchnorm_infinite_column_running_mean_as_reference(dtype):
    x = np.random.default_rng(5).standard_normal((4, 4)).astype(dtype)
    x[:, 1] = np.inf
    x[0, 2] = -np.inf
    x[1, 3], x[2, 3] = np.inf, -np.inf
    f = fast.BatchNormalization(np.ones(4, dtype), np.zeros(4, dtype))
    r = ref.BatchNormalization(np.ones(4, dtype), np.zeros(4, dtype))
    with np.errstate(all="ignore"):
        f.forward(x)
        r.forward(x)
    assert_close(f.running_mean, r.running_mean)   # ±inf and NaN in the same places
    assert list(np.isinf(f.running_mean)) == [False, True, True, False]
    assert_close(f.running_var, r.running_var)


# -- one layer object, two threads -----------------------------------------------

class Blocking(np.ndarray):
    """An array whose first ufunc call waits for ``release``: a thread that
    passes one to a layer stays inside that layer until the test lets it go."""
    entered = release = None

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if Blocking.entered is not None and not Blocking.entered.is_set():
            Blocking.entered.set()
            assert Blocking.release.wait(30)
        inputs = [np.asarray(a) if isinstance(a, Blocking) else a for a in inputs]
        return getattr(ufunc, method)(*inputs, **kwargs)


def _inside(call):
    """Start ``call`` in a thread and return once it is blocked inside the layer."""
    Blocking.entered, Blocking.release = threading.Event(), threading.Event()
    errors = []

    def target():
        try:
            call()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    thread = threading.Thread(target=target)
    thread.start()
    assert Blocking.entered.wait(30)
    return thread, errors


def _finish(thread, errors):
    Blocking.release.set()
    thread.join(30)
    Blocking.entered = Blocking.release = None
    assert not errors


def test_batchnorm_concurrent_training_entry_raises_naming_the_layer():
    rng = np.random.default_rng(6)
    bn = fast.BatchNormalization(np.ones(5), np.zeros(5))
    x = rng.standard_normal((4, 5))
    bn.forward(x)
    dout = rng.standard_normal((4, 5))
    thread, errors = _inside(lambda: bn.backward(dout.view(Blocking)))
    try:
        with pytest.raises(RuntimeError, match="BatchNormalization .*another thread"):
            bn.backward(dout)
        with pytest.raises(RuntimeError, match="BatchNormalization"):
            bn.forward(x, train_flg=True)
        with pytest.raises(RuntimeError, match="BatchNormalization"):
            bn.forward(x, train_flg=False)
    finally:
        _finish(thread, errors)
    bn.forward(x)           # free again once the other thread has left
    bn.backward(dout)


def test_inference_may_share_a_layer_but_training_may_not_join():
    rng = np.random.default_rng(7)
    bn = fast.BatchNormalization(np.ones(5), np.zeros(5))
    x = rng.standard_normal((4, 5))
    bn.forward(x)
    want = bn.forward(x, train_flg=False).copy()
    thread, errors = _inside(lambda: bn.forward(x.view(Blocking), train_flg=False))
    try:
        assert np.array_equal(bn.forward(x, train_flg=False), want)   # shared: fine
        with pytest.raises(RuntimeError, match="BatchNormalization"):
            bn.forward(x, train_flg=True)
        with pytest.raises(RuntimeError, match="BatchNormalization"):
            bn.backward(x)
    finally:
        _finish(thread, errors)


def test_inference_from_several_threads_is_correct():
    np.random.seed(8)
    net = MultiLayerNetExtend(64, [100, 100], 10, use_batchnorm=True, use_dropout=True)
    rng = np.random.default_rng(8)
    x_train = rng.standard_normal((50, 64))
    net.gradient(x_train, rng.integers(0, 10, 50))
    batches = [rng.standard_normal((200, 64)) for _ in range(4)]
    want = [net.predict(b, train_flg=False).copy() for b in batches]
    wrong, errors = [], []

    def worker(i):
        try:
            for _ in range(30):
                if not np.array_equal(net.predict(batches[i], train_flg=False), want[i]):
                    wrong.append(i)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and not wrong


# -- forked children and the thread pool ------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_pool_runs_threaded_kernels():
    rc, out = run_python("""
        import multiprocessing as mp
        import numpy as np
        from fastnn import ops

        def step(seed):
            rng = np.random.default_rng(seed)
            p = rng.standard_normal(300_000)
            g = rng.standard_normal(300_000)
            m, v = np.zeros_like(p), np.zeros_like(p)
            ops.adam_update(p, g, m, v, 0.001)
            return float(p.sum())

        if __name__ == '__main__':
            step(0)   # the parent starts OpenMP's thread pool first
            with mp.get_context('fork').Pool(4) as pool:
                got = pool.map(step, range(4))
            assert got == [step(i) for i in range(4)]
            print('ok')
    """, timeout=120, env={"FASTNN_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"})
    assert rc == 0 and out.strip().endswith("ok"), out
