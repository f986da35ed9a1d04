"""fastnn's thread pool: its size and cap, threadpoolctl, fork, and results
on any thread count (named test_kernels_* so the sanitizer run covers it).

What holds across thread counts:
* elementwise and per-column kernels (optimizers, batch norm, dropout,
  ReLU...) give the same bits on any count;
* a convolution's weight gradient sums fixed groups of samples (one
  per thread) and then the groups in order, and a GEMM is split into pieces
  whose number follows the thread count; OpenBLAS picks its kernel by a
  piece's size, so these differ between thread counts in the last bits, and
  are the same bits run after run on one count.
"""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import fastnn
from fastnn import ops
from fastnn._config import _cgroup_cpu_limit, available_cores, max_threads
from fastnn._kernels import parallel

from _util import assert_close

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def threads():
    """Set the pool's size inside a test; the size before comes back after."""
    before = fastnn.get_num_threads()
    yield fastnn.set_num_threads
    fastnn.set_num_threads(before)


def _python(code, env=None, timeout=120):
    full = {k: v for k, v in os.environ.items()
            if k not in ("FASTNN_NUM_THREADS", "OMP_NUM_THREADS")}
    full.update(env or {})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


# -- size, cap and control ---------------------------------------------------------

def test_set_num_threads_round_trips(threads):
    for n in (1, 2, 3, max_threads()):
        threads(n)
        assert fastnn.get_num_threads() == n


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-1, ValueError),
                                      (10 ** 6, ValueError), (65536, ValueError),
                                      (2.5, TypeError), (True, TypeError), ("2", TypeError),
                                      (None, TypeError)])
def test_set_num_threads_refuses_what_is_not_a_thread_count(threads, bad, exc):
    threads(2)
    with pytest.raises(exc, match=r"\bn must be"):
        fastnn.set_num_threads(bad)
    assert fastnn.get_num_threads() == 2


def test_cap_is_four_per_cpu():
    assert max_threads() == max(1, min(1024, 4 * (os.cpu_count() or 1)))
    fastnn.set_num_threads(max_threads())   # the cap itself is allowed
    fastnn.set_num_threads(available_cores())


def test_ops_num_threads_above_the_cap_is_an_error_not_a_crash():
    p = np.zeros(300_000)
    g = np.ones(300_000)
    with pytest.raises(ValueError, match="num_threads must be from 1 to"):
        ops.sgd_update(p, g, 0.1, num_threads=65536)
    with pytest.raises(TypeError, match="num_threads"):
        ops.sgd_update(p, g, 0.1, num_threads=1.5)
    ops.sgd_update(p, g, 0.1, num_threads=max_threads())
    assert np.all(p == -0.1)


@pytest.mark.parametrize("value", ["65536", "0", "abc", "-2"])
def test_bad_FASTNN_NUM_THREADS_is_a_clear_error_at_import(value):
    rc, out = _python("import fastnn", env={"FASTNN_NUM_THREADS": value})
    assert rc != 0
    assert "FASTNN_NUM_THREADS must be" in out.strip().splitlines()[-1], out
    assert "Segmentation" not in out and "Abort" not in out


@pytest.mark.slow
def test_thread_count_comes_from_the_environment_or_the_usable_cpus():
    code = "import fastnn; print(fastnn.get_num_threads())"
    assert _python(code, {"FASTNN_NUM_THREADS": "3"}) == (0, "3\n")
    assert _python(code, {"OMP_NUM_THREADS": "1"}) == (0, "1\n")
    assert _python(code, {"OMP_NUM_THREADS": "junk"})[1] == "%d\n" % available_cores()
    assert _python(code, {"FASTNN_NUM_THREADS": "2", "OMP_NUM_THREADS": "1"}) == (0, "2\n")
    assert _python(code) == (0, "%d\n" % available_cores())


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_default_follows_the_affinity_mask():
    rc, out = _python("""
        import os
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        import fastnn
        print(fastnn.get_num_threads())
    """)
    assert (rc, out) == (0, "1\n")


@pytest.mark.parametrize("cpu_max, want", [("150000 100000\n", 1.5), ("max 100000\n", None),
                                           ("200000 100000\n", 2.0)])
def test_cgroup_v2_quota(tmp_path, cpu_max, want):
    (tmp_path / "proc").write_text("0::/box\n")
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "cpu.max").write_text(cpu_max)
    assert _cgroup_cpu_limit(str(tmp_path / "proc"), str(tmp_path)) == want


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "proc").write_text("4:memory:/x\n1:cpu,cpuacct:/\n")
    d = tmp_path / "cpu,cpuacct"
    d.mkdir()
    (d / "cpu.cfs_quota_us").write_text("50000\n")
    (d / "cpu.cfs_period_us").write_text("100000\n")
    assert _cgroup_cpu_limit(str(tmp_path / "proc"), str(tmp_path)) == 0.5
    (d / "cpu.cfs_quota_us").write_text("-1\n")
    assert _cgroup_cpu_limit(str(tmp_path / "proc"), str(tmp_path)) is None
    assert _cgroup_cpu_limit(str(tmp_path / "missing"), str(tmp_path)) is None


def test_threadpoolctl_sees_and_limits_the_pool(threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    threads(2)
    ours = [p for p in threadpoolctl.threadpool_info() if p["internal_api"] == "fastnn"]
    assert len(ours) == 1 and ours[0]["num_threads"] == 2
    with threadpoolctl.threadpool_limits(1):
        assert fastnn.get_num_threads() == 1
    assert fastnn.get_num_threads() == 2
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fastnn.get_num_threads() == 1
    with threadpoolctl.threadpool_limits(3):
        assert fastnn.get_num_threads() == 3
    assert fastnn.get_num_threads() == 2
    with pytest.raises(ValueError, match="threadpool_limits' limits must be from 1 to"):
        with threadpoolctl.threadpool_limits(10 ** 6):
            pass
    assert fastnn.get_num_threads() == 2


@pytest.mark.parametrize("n", [1, 2])
def test_fastnn_blas_stays_on_one_thread_under_a_blas_limit(threads, n):
    """threadpoolctl's limit for "blas" reaches fastnn's own OpenBLAS too: a
    GEMM split over the pool (n = 2) or not (n = 1) puts it back to one
    thread first (else it starts threads of its own and rounds as their
    split)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    threads(n)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((400, 300)), rng.standard_normal((300, 200))
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        got = parallel.gemm(a, b, np.empty((400, 200)))
        assert parallel.blas_info()["threads"] == 1
    assert_close(got, a @ b)


# -- results on any thread count --------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(100, 784, 100), (1000, 100, 100), (64, 576, 196),
                                   (7, 3, 5), (300, 300, 300)])
def test_gemm_split_matches_numpy_and_repeats_itself(threads, dtype, shape):
    m, k, n = shape
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    want = 0.5 * (a.astype(np.float64) @ b) + 2.0 * c0
    for t in (1, 2, 3, 8):
        threads(t)
        first = parallel.gemm(a, b, c0.copy(), 0.5, 2.0)
        again = parallel.gemm(a, b, c0.copy(), 0.5, 2.0)
        assert np.array_equal(first, again), t
        assert_close(first, want.astype(dtype), tol=1e-12 if dtype == np.float64 else 2e-6)


def _conv_gradients(name, dtype, batch):
    from fastnn.deep_convnet import DeepConvNet
    from fastnn.simple_convnet import SimpleConvNet
    np.random.seed(0)
    if name == "simple":
        net = SimpleConvNet(dtype=dtype)
    else:
        net = DeepConvNet(dtype=dtype)
    rng = np.random.default_rng(2)
    x = rng.random((batch, 1, 28, 28)).astype(dtype)
    t = rng.integers(0, 10, batch)
    np.random.seed(1)
    return {k: v.copy() for k, v in net.gradient(x, t).items()}


@pytest.mark.parametrize("name, dtype, tol", [("simple", np.float64, 1e-11),
                                              ("deep", np.float32, 3e-4)])
def test_convnet_gradients_on_any_thread_count(threads, name, dtype, tol):
    """Same bits run after run on one count; within rounding across counts."""
    batch = 13 if name == "simple" else 5
    grads = {}
    for t in (1, 2, 3):
        threads(t)
        grads[t] = _conv_gradients(name, dtype, batch)
        again = _conv_gradients(name, dtype, batch)
        for key in grads[t]:
            assert np.array_equal(grads[t][key], again[key]), (t, key)
    for t in (2, 3):
        for key in grads[1]:
            assert_close(grads[t][key], grads[1][key], tol=tol)


def test_elementwise_kernels_give_the_same_bits_on_any_thread_count(threads):
    rng = np.random.default_rng(3)
    n = 700_001
    p0, g = rng.standard_normal(n), rng.standard_normal(n)
    x = rng.standard_normal((2000, 300))
    dout = rng.standard_normal((2000, 300))
    gamma, beta = rng.random(300) + 0.5, rng.standard_normal(300)
    mask = rng.random(x.shape) > 0.3
    out = {}
    for t in (1, 2, 3, 7):
        threads(t)
        p, m, v = p0.copy(), np.zeros(n), np.zeros(n)
        ops.adam_update(p, g, m, v, 1e-3)
        rm, rv = np.zeros(300), np.ones(300)
        fw = ops.batchnorm_forward_train(x, gamma, beta, rm, rv)
        bw = ops.batchnorm_backward(dout, fw[2], fw[3], gamma)
        dx = ops.dropout_backward(dout, mask)
        out[t] = [p, m, v, rm, rv, *fw, *bw, dx]
    for t in (2, 3, 7):
        for a, b in zip(out[t], out[1]):
            assert np.array_equal(a, b), t


def test_two_python_threads_share_the_pool(threads):
    """While one thread's run holds the pool, another's runs on its own
    thread: both get right results."""
    threads(2)
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((600, 400)), rng.standard_normal((400, 300))
    want = a @ b
    errors = []

    def work():
        try:
            for _ in range(30):
                got = parallel.gemm(a, b, np.empty((600, 300)))
                if not np.allclose(got, want, rtol=1e-12, atol=1e-10):
                    errors.append("wrong product")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    workers = [threading.Thread(target=work) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors


def test_more_threads_than_cpus_still_right(threads):
    threads(max_threads())
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((512, 256)), rng.standard_normal((256, 512))
    assert_close(parallel.gemm(a, b, np.empty((512, 512))), a @ b)
    assert parallel.pool_workers() <= max_threads() - 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_runs_on_one_thread():
    rc, out = _python("""
        import os
        import numpy as np
        import fastnn
        from fastnn._kernels import parallel
        a = np.random.default_rng(0).standard_normal((500, 500))
        parallel.gemm(a, a, np.empty((500, 500)))      # the parent's workers start
        assert parallel.pool_workers() >= 1
        pid = os.fork()
        if pid == 0:
            ok = fastnn.get_num_threads() == 1 and parallel.in_forked_child()
            c = parallel.gemm(a, a, np.empty((500, 500)))
            os._exit(0 if ok and np.allclose(c, a @ a) else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), fastnn.get_num_threads())
    """, env={"FASTNN_NUM_THREADS": "2"})
    assert (rc, out) == (0, "0 2\n"), out


_WORKER_MASKS = """
    import os, threading
    import numpy as np
    import fastnn
    from fastnn._kernels import parallel
    if os.environ.get("ONE_CPU"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    fastnn.set_num_threads(2)
    a = np.random.default_rng(0).standard_normal((600, 600))
    for _ in range(5):
        parallel.gemm(a, a, np.empty((600, 600)))
    assert parallel.pool_workers() >= 1
    main = threading.get_native_id()

    def allowed(tid):
        with open("/proc/self/task/%d/status" % tid) as fh:
            line = [l for l in fh if l.startswith("Cpus_allowed_list:")][0]
        cpus = set()
        for part in line.split(":")[1].strip().split(","):
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
        return cpus
    mine = allowed(main)
    workers = [allowed(int(t)) for t in os.listdir("/proc/self/task") if int(t) != main]
    print((sorted(mine), [sorted(mine - w) for w in workers], all(w <= mine for w in workers)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux and two CPUs")
def test_workers_are_kept_off_the_callers_cpu():
    """A worker woken by the caller must not queue behind it on the caller's
    CPU (a guest kernel may not see a halted virtual CPU as idle): each
    worker's mask is the caller's less the CPU the caller last ran a run
    on.  FASTNN_STEER=0 leaves the masks alone; with one CPU there is
    nothing to steer.  (With other programs' runnable threads enough to fill
    every CPU, the workers get the whole mask back: not tested here, a load
    the test cannot make certain.)  NumPy's OpenBLAS is kept at one thread so that the
    only other threads are fastnn's workers."""
    env = {"OPENBLAS_NUM_THREADS": "1"}
    # FASTNN_STEER=2: steered even if other programs crowd the CPUs now (the
    # default gives the workers their whole mask back then: a CI machine)
    rc, out = _python(_WORKER_MASKS, env=dict(env, FASTNN_STEER="2"))
    assert rc == 0, out
    mine, excluded, inside = eval(out)
    assert inside and excluded and all(len(e) == 1 and e == excluded[0] for e in excluded), out
    assert excluded[0][0] in mine

    rc, out = _python(_WORKER_MASKS, env=dict(env, FASTNN_STEER="0"))
    assert rc == 0, out
    mine, excluded, inside = eval(out)
    assert inside and excluded and all(e == [] for e in excluded), out

    rc, out = _python(_WORKER_MASKS, env=dict(env, ONE_CPU="1", FASTNN_STEER="2"))
    assert rc == 0, out
    mine, excluded, inside = eval(out)
    assert len(mine) == 1 and inside and all(e == [] for e in excluded), out


# -- the pool on its own, in C, under ThreadSanitizer ------------------------------------

def _build_stress(tmp_path, *flags):
    import shutil
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        pytest.skip("needs a C compiler")
    exe = tmp_path / "pool_stress"
    proc = subprocess.run([cc, "-O1", "-g", "-pthread", *flags,
                           "-I", os.path.join(ROOT, "fastnn", "_kernels"),
                           os.path.join(ROOT, "tests", "pool_stress.c"), "-o", str(exe)],
                          capture_output=True, text=True, timeout=120, env=_plain_env())
    return exe, proc


def _plain_env(**extra):
    """The environment without a preloaded sanitizer runtime (scripts/sanitize
    preloads ASan into this process; the stress binary brings its own)."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.update(extra)
    return env


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the pool's pthreads build")
@pytest.mark.parametrize("sanitizer", [None, "thread"])
def test_pool_runs_every_piece_once_under_concurrent_callers(tmp_path, sanitizer):
    """tests/pool_stress.c: three callers, random sizes and thread counts,
    nested runs; every piece runs exactly once, no slot is shared, and
    ThreadSanitizer finds no race in parallel.h."""
    flags = ("-fsanitize=thread",) if sanitizer else ()
    exe, proc = _build_stress(tmp_path, *flags)
    if proc.returncode != 0:
        if sanitizer:
            pytest.skip("the compiler cannot build with -fsanitize=thread")
        pytest.fail(proc.stderr)
    env = _plain_env(TSAN_OPTIONS="halt_on_error=1 exitcode=66")
    run = subprocess.run([str(exe), "600" if sanitizer else "3000"], capture_output=True,
                         text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    assert ", 0 wrong;" in run.stdout
    assert "ThreadSanitizer" not in run.stderr


def test_fastnns_openblas_starts_no_threads_of_its_own():
    # scipy_openblas32's __init__ would load the library at its default thread
    # count (one thread per core) before fastnn could set it to one.
    import subprocess
    import sys
    code = ("import os, fastnn.layers, sys\n"
            "from fastnn._kernels import parallel\n"
            "before = len(os.listdir('/proc/self/task'))\n"
            "print('scipy_openblas32' in sys.modules, parallel.blas_info()['threads'], before)\n")
    env = dict(os.environ, FASTNN_NUM_THREADS="1", OPENBLAS_NUM_THREADS="8")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60)
    loaded, blas_threads, threads = out.stdout.split()
    assert loaded == "False" and blas_threads == "1"
    # NumPy's own OpenBLAS starts its threads (OPENBLAS_NUM_THREADS=8 -> 7 more);
    # fastnn's copy must add none on top of them.
    code_numpy = "import os, numpy; print(len(os.listdir('/proc/self/task')))"
    base = subprocess.run([sys.executable, "-c", code_numpy], capture_output=True, text=True,
                          env=env, timeout=60).stdout.strip()
    assert int(threads) == int(base)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_dropout_draws_the_same_stream_on_any_thread_count(threads, dtype, mode):
    """From dropout.PARALLEL_MIN_SIZE elements on, more than one thread draws
    the whole mask first and the pool applies it: the same mask, output and
    generator state afterwards as one thread's block-by-block pass."""
    from fastnn._kernels import dropout
    n = dropout.PARALLEL_MIN_SIZE + 37
    x = np.random.default_rng(5).standard_normal((n // 61 + 1, 61)).astype(dtype)
    got = {}
    for t in (1, 2, 3):
        threads(t)
        np.random.seed(11)
        out, mask = ops.dropout_forward(x, 0.3, mode=mode)
        got[t] = (out, mask, np.random.random(3))
    for t in (2, 3):
        for a, b in zip(got[t], got[1]):
            np.testing.assert_array_equal(a, b)
    assert got[1][1].mean() == pytest.approx(0.7, abs=0.01)
    np.testing.assert_array_equal(got[1][0], np.where(got[1][1], x, 0))


@pytest.mark.parametrize("n, m", [(1000, 100), (517, 33), (40, 1000)])
def test_affine_bias_rows_written_over_the_pool(threads, n, m):
    """The forward's bias rows are written over the pool, each thread its
    rows: every row holds b + x·W on any thread count."""
    rng = np.random.default_rng(n)
    x, W, b = rng.standard_normal((n, 50)), rng.standard_normal((50, m)), rng.standard_normal(m)
    for t in (1, 2, 3):
        threads(t)
        assert_close(ops.affine_forward(x, W, b), x @ W + b, tol=1e-12)
