"""Speed of fastnn against the reference (and PyTorch when installed), at one thread and at N.

    python bench/compare.py [--threads N] [--processes K] [--busy B] [--quick] [--json out.json]

Every case is timed for each implementation in interleaved rounds (so a
neighbour's load hits all of them alike) inside one process, at one thread
count; the table shows medians and ratios.  Each case also has a floor
measured in the same run: for memory-bound kernels, the bytes that must move
divided by this machine's copy bandwidth; for GEMM-bound ones, the time of
the very GEMMs the case must do, timed alone.

Thread counts: one process per thread count, alternating (1, N, 1, N, ...
for K pairs), each with every library set to that count before it loads
(fastnn, NumPy's BLAS, PyTorch); the table gives, per case, the median over
the processes of each count: the 1-thread and N-thread columns side by side
(N defaults to the CPUs this process may use, what a user gets).  ``--threads
1`` measures one thread only.  ``--busy B`` starts B processes that keep a
core busy each (a pure loop) for the whole run, to see what another
program on the machine does to each column.
"""
import argparse
import os
import sys


def _default_threads():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _thread_count(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number, got %r" % text) from None
    if not 1 <= n <= 4 * (os.cpu_count() or 1):
        raise argparse.ArgumentTypeError("must be from 1 to %d, got %d"
                                         % (4 * (os.cpu_count() or 1), n))
    return n


def _count(lo):
    def parse(text):
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("expected a whole number, got %r" % text) from None
        if n < lo:
            raise argparse.ArgumentTypeError("must be >= %d, got %d" % (lo, n))
        return n
    return parse


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number of seconds" % text) from None
    if not 0 <= value <= 10:
        raise argparse.ArgumentTypeError("%r: give 0 to 10 seconds" % text)
    return value


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=_thread_count, default=_default_threads(),
                   help="the second thread count, beside one thread (default: the CPUs "
                        "this process may use; 1: one thread only)")
    p.add_argument("--processes", type=_count(1), default=3,
                   help="alternating processes per thread count (default 3)")
    p.add_argument("--busy", type=_count(0), default=0,
                   help="busy-loop processes running beside the measurement (default 0)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--impl", default="all", help=argparse.SUPPRESS)
    p.add_argument("--together", action="store_true",
                   help="time fastnn, the reference and PyTorch in the same worker process, "
                        "round-robin (the default gives each its own processes, as a program "
                        "that uses one library at a time runs)")
    p.add_argument("--settle", type=_seconds, default=None,
                   help="seconds of quiet before each sample at more than one thread "
                        "(default 0.15 with --together, so that the other libraries' spinning "
                        "pools go to sleep; 0 otherwise: step after step, as training runs)")
    p.add_argument("--quick", action="store_true", help="fewer rounds (a rough table)")
    p.add_argument("--rounds", type=_count(1), default=None,
                   help="timing rounds per case and process")
    p.add_argument("--only", default=None, help="comma-separated substrings of case names")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument("--json", default=None, help="also write the results here")
    return p.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None and ARGS.worker:
    # Thread counts must be fixed before NumPy/BLAS start their pools.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "FASTNN_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

try:
    import fastnn  # noqa: E402
except ImportError:  # run from a source checkout built in place
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import fastnn  # noqa: E402
from fastnn import get_backend  # noqa: E402
from fastnn.multi_layer_net_extend import MultiLayerNetExtend  # noqa: E402

try:
    if ARGS is not None and ARGS.no_torch:
        raise ImportError
    import torch  # noqa: E402
    torch.set_num_threads(ARGS.threads if ARGS else 1)
except ImportError:
    torch = None


# -- timing ------------------------------------------------------------------
# A sample lasts at least this long.  (Tried: 0.05 s, so that a step of 8-15 ms
# runs several times in a row after each settle pause; the two-thread figures of
# the CBOW and b100 MLP steps did not change, and the run took several times longer.)
SAMPLE_S = 0.01


def _calls_for(fn, target=None):
    """How many calls make one sample last about ``target`` seconds (SAMPLE_S)."""
    target = SAMPLE_S if target is None else target
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target or n >= 1 << 16:
            return n
        n *= 2


# At more than one thread, the pools of the other implementations timed in
# this process (NumPy's OpenBLAS, PyTorch's OpenMP) spin after their own work
# (OpenBLAS for about 2**28 cycles, 0.1 s; libgomp's default spin some ms) and
# would take the cores of whatever is timed next: each sample starts after a
# pause that lets every pool go to sleep, as in a program that uses one
# library at a time.
SETTLE_S = 0.15


def _settle():
    """Seconds of quiet before each sample at more than one thread: --settle,
    else SETTLE_S with --together (other pools share the process), else 0."""
    return ARGS.settle if ARGS.settle is not None else (SETTLE_S if ARGS.together else 0.0)


def time_interleaved(fns, rounds):
    """Median seconds per call of each function, sampled round-robin.

    Each sample starts with one untimed call, so that a case runs with its
    own data in the caches, as it does step after step in a training loop,
    not with what the implementation timed before it left there (and, at
    more than one thread, after _settle() seconds of quiet)."""
    counts = {k: _calls_for(f) for k, f in fns.items()}
    samples = {k: [] for k in fns}
    settle = 0.0
    if ARGS is not None and ARGS.threads > 1:
        settle = _settle()
    for _ in range(rounds):
        for k, f in fns.items():
            n = counts[k]
            if settle:
                time.sleep(settle)
            f()
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            samples[k].append((time.perf_counter() - t0) / n)
    return {k: statistics.median(v) for k, v in samples.items()}


_BW = {}


def copy_bandwidth(working_set, rounds):
    """Bytes per second streamed by ``np.add(x, y, out=z)`` (two reads, one write)
    over three arrays that together span ``working_set`` bytes: the cache level
    the case itself works in.  Not np.copyto: glibc's memmove switches to
    non-temporal stores on large copies, which measures DRAM even when the
    case's arrays would stay in the last-level cache."""
    key = int(working_set) >> 16
    if key not in _BW:
        n = max(int(working_set) // 24, 1024)            # three float64 arrays
        rng = np.random.default_rng(0)
        x, y, z = rng.random(n), rng.random(n), np.empty(n)
        t = time_interleaved({"add": lambda: np.add(x, y, out=z)}, rounds)["add"]
        _BW[key] = 3 * x.nbytes / t
    return _BW[key]


# -- cases ---------------------------------------------------------------------
SIZES = [784, 100, 100, 100, 100, 100, 10]


def _mlp(backend, dtype, **kw):
    np.random.seed(0)
    opts = dict(use_batchnorm=True, use_dropout=True, dropout_ration=0.2,
                weight_decay_lambda=0.1)
    opts.update(kw)
    return MultiLayerNetExtend(784, SIZES[1:-1], 10, backend=backend, dtype=dtype, **opts)


def _batch(n, dtype):
    from fastnn.datasets import load_sample
    (x, t), _ = load_sample()
    reps = -(-n // len(x))
    return np.tile(x, (reps, 1))[:n].astype(dtype), np.tile(t, reps)[:n]


def gemm_step_fn(batch, dtype, skip_first_dx=True):
    """All GEMMs of one forward+backward pass of the MLP, nothing else."""
    rng = np.random.default_rng(0)
    acts = [rng.random((batch, s)).astype(dtype) for s in SIZES]
    Ws = [rng.random((SIZES[i], SIZES[i + 1])).astype(dtype) for i in range(len(SIZES) - 1)]
    outs = [np.empty((batch, SIZES[i + 1]), dtype) for i in range(len(Ws))]
    dWs = [np.empty_like(W) for W in Ws]
    dxs = [np.empty((batch, SIZES[i]), dtype) for i in range(len(Ws))]

    def run():
        for i, W in enumerate(Ws):
            np.dot(acts[i], W, out=outs[i])
        for i in reversed(range(len(Ws))):
            np.dot(acts[i].T, outs[i], out=dWs[i])
            if i or not skip_first_dx:
                np.dot(outs[i], Ws[i].T, out=dxs[i])
    return run


def torch_mlp_step(batch, dtype):
    tdt = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    torch.manual_seed(0)
    mods = []
    for i in range(len(SIZES) - 2):
        mods += [torch.nn.Linear(SIZES[i], SIZES[i + 1]),
                 torch.nn.BatchNorm1d(SIZES[i + 1], eps=1e-6, momentum=0.1),
                 torch.nn.ReLU(), torch.nn.Dropout(0.2)]
    mods.append(torch.nn.Linear(SIZES[-2], SIZES[-1]))
    model = torch.nn.Sequential(*mods).to(tdt).train()
    weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    opt = _torch_adam(list(model.parameters()))
    x, t = _batch(batch, dtype)
    xt, tt = torch.from_numpy(x), torch.from_numpy(t.astype(np.int64))

    def step():
        opt.zero_grad(set_to_none=False)
        loss = torch.nn.functional.cross_entropy(model(xt), tt)
        loss = loss + 0.05 * sum((w * w).sum() for w in weights)   # ½·λ·ΣW², λ = 0.1
        loss.backward()
        opt.step()
    return step


def _torch_adam(params):
    try:
        return torch.optim.Adam(params, lr=0.001, eps=1e-7, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=0.001, eps=1e-7, foreach=True)


def case_train_step(batch, dtype):
    fns = {}
    for backend in ("fast", "reference"):
        net = _mlp(backend, dtype)
        opt = get_backend(backend).optimizer.Adam()
        x, t = _batch(batch, dtype)

        def step(net=net, opt=opt, x=x, t=t):
            opt.update(net.params, net.gradient(x, t))
        fns["fastnn" if backend == "fast" else "reference"] = step
    if torch is not None:
        fns["torch"] = torch_mlp_step(batch, dtype)
    fns["floor"] = gemm_step_fn(batch, dtype)
    return fns, "GEMMs alone"


def case_train_step_f32_into_f64(batch):
    """fastnn: a float32 batch (the book's normalized images) into the float64
    network; its floor is the same step of a twin network on the float64
    batch (the target: within 5%)."""
    fns = {}
    x, t = _batch(batch, np.float64)
    for name, backend, xb in (("fastnn", "fast", x.astype(np.float32)),
                              ("reference", "reference", x.astype(np.float32)),
                              ("floor", "fast", x)):
        net = _mlp(backend, np.float64)
        opt = get_backend(backend).optimizer.Adam()

        def step(net=net, opt=opt, x=xb, t=t):
            opt.update(net.params, net.gradient(x, t))
        fns[name] = step
    return fns, "the float64 batch's step"


def _adam_case(shapes, dtype):
    rng = np.random.default_rng(0)
    fns = {}
    for backend in ("fast", "reference"):
        params = {"p%d" % i: rng.standard_normal(s).astype(dtype) for i, s in enumerate(shapes)}
        grads = {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
        opt = get_backend(backend).optimizer.Adam()
        fns["fastnn" if backend == "fast" else "reference"] = \
            (lambda opt=opt, p=params, g=grads: opt.update(p, g))
    if torch is not None:
        tdt = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
        tps = [torch.randn(s, dtype=tdt, requires_grad=True) for s in shapes]
        for p in tps:
            p.grad = torch.randn_like(p)
        topt = _torch_adam(tps)
        fns["torch"] = topt.step
    return fns


def case_adam_big(dtype):
    n = 1_000_000
    fns = _adam_case([(n,)], dtype)
    item = np.dtype(dtype).itemsize
    return fns, (7 * n * item, 4 * n * item)    # read p, g, m, v; write p, m, v


def case_adam_mlp(dtype):
    net = _mlp("reference", dtype)
    shapes = [v.shape for v in net.params.values()]
    fns = _adam_case(shapes, dtype)
    n = sum(int(np.prod(s)) for s in shapes) * np.dtype(dtype).itemsize
    return fns, (7 * n, 4 * n)


def _layer_pair(make, x, dout, *forward_args):
    """forward+backward closures of the fast and the reference layer that
    ``make(layers_module, backend_name)`` builds."""
    fns = {}
    for backend, label in (("fast", "fastnn"), ("reference", "reference")):
        layer = make(get_backend(backend).layers, backend)

        def fb(layer=layer):
            layer.forward(x, *forward_args)
            layer.backward(dout)
        fns[label] = fb
    return fns


def case_batchnorm(n, d, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype(dtype)
    dout = rng.standard_normal((n, d)).astype(dtype)
    fns = _layer_pair(lambda L, _: L.BatchNormalization(np.ones(d, dtype), np.zeros(d, dtype)),
                      x, dout, True)
    if torch is not None:
        xt = torch.from_numpy(x).requires_grad_(True)
        dt = torch.from_numpy(dout)
        w = torch.ones(d, dtype=xt.dtype, requires_grad=True)
        b = torch.zeros(d, dtype=xt.dtype, requires_grad=True)
        rm, rv = torch.zeros(d, dtype=xt.dtype), torch.ones(d, dtype=xt.dtype)

        def tfb():
            y = torch.nn.functional.batch_norm(xt, rm, rv, w, b, True, 0.1, 1e-6)
            y.backward(dt)
        fns["torch"] = tfb
    # forward: read x twice, write y; backward: read dout+x, then dout+x again, write dx
    a = n * d * np.dtype(dtype).itemsize
    return fns, (8 * a, 4 * a)         # x, y, dout, dx


def case_dropout(n, d, dtype, **fast_kw):
    x = np.random.default_rng(0).standard_normal((n, d)).astype(dtype)
    dout = np.ones_like(x)
    fns = _layer_pair(lambda L, backend: L.Dropout(0.2, **(fast_kw if backend == "fast" else {})),
                      x, dout, True)
    if torch is not None:
        xt = torch.from_numpy(x).requires_grad_(True)
        dt = torch.from_numpy(dout)

        def tfb():
            torch.nn.functional.dropout(xt, 0.2, True).backward(dt)
        fns["torch"] = tfb
    item = np.dtype(dtype).itemsize
    nbytes = n * d * (4 * item + 2)        # x, out, dout, dx + a byte mask written and read
    return fns, (nbytes, nbytes)


def case_relu(n, d, dtype):
    x = np.random.default_rng(0).standard_normal((n, d)).astype(dtype)
    dout = np.ones_like(x)
    fns = _layer_pair(lambda L, _: L.Relu(), x, dout)
    if torch is not None:
        xt = torch.from_numpy(x).requires_grad_(True)
        dt = torch.from_numpy(dout)
        fns["torch"] = lambda: torch.relu(xt).backward(dt)
    item = np.dtype(dtype).itemsize
    return fns, (n * d * (4 * item + 2),) * 2


def case_affine(n, k, m, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, k)).astype(dtype)
    W = rng.standard_normal((k, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    dout = rng.standard_normal((n, m)).astype(dtype)
    fns = _layer_pair(lambda L, _: L.Affine(W, b), x, dout)
    if torch is not None:
        xt = torch.from_numpy(x).requires_grad_(True)
        Wt = torch.from_numpy(W.T.copy()).requires_grad_(True)
        bt = torch.from_numpy(b).requires_grad_(True)
        dt = torch.from_numpy(dout)
        fns["torch"] = lambda: torch.nn.functional.linear(xt, Wt, bt).backward(dt)
    out, dx, dW = np.empty((n, m), dtype), np.empty((n, k), dtype), np.empty((k, m), dtype)

    def gemms():
        np.dot(x, W, out=out)
        np.dot(dout, W.T, out=dx)
        np.dot(x.T, dout, out=dW)
    fns["floor"] = gemms
    return fns, "GEMMs alone"


def cases():
    f64, f32 = np.float64, np.float32
    yield "train step MLP b100 f64", lambda: case_train_step(100, f64)
    yield "train step MLP b100 f32", lambda: case_train_step(100, f32)
    yield "train step b100 f32 into f64", lambda: case_train_step_f32_into_f64(100)
    yield "train step MLP b1000 f64", lambda: case_train_step(1000, f64)
    yield "Adam 1e6 f64", lambda: case_adam_big(f64)
    yield "Adam 1e6 f32", lambda: case_adam_big(f32)
    yield "Adam MLP 22 arrays f64", lambda: case_adam_mlp(f64)
    yield "BatchNorm fwd+bwd 1000x1000 f64", lambda: case_batchnorm(1000, 1000, f64)
    yield "BatchNorm fwd+bwd 100x100 f64", lambda: case_batchnorm(100, 100, f64)
    yield "Dropout fwd+bwd 1000x1000 exact", lambda: case_dropout(1000, 1000, f64)
    yield "Dropout fwd+bwd 1000x1000 fast", lambda: case_dropout(1000, 1000, f64, **FAST_DROPOUT)
    yield "ReLU fwd+bwd 1000x1000 f64", lambda: case_relu(1000, 1000, f64)
    yield "ReLU fwd+bwd 100x100 f64", lambda: case_relu(100, 100, f64)
    yield "Affine fwd+bwd 100x784x100 f64", lambda: case_affine(100, 784, 100, f64)
    yield "Affine fwd+bwd 1000x784x100 f64", lambda: case_affine(1000, 784, 100, f64)


# -- CNN cases (the book's chapters 7 and 8) -------------------------------------
def _conv_net(name, backend, dtype):
    from fastnn.simple_convnet import SimpleConvNet
    from fastnn.deep_convnet import DeepConvNet
    np.random.seed(0)
    cls = SimpleConvNet if name == "simple" else DeepConvNet
    return cls(backend=backend, dtype=dtype)


def conv_gemms_fn(name, batch, dtype):
    """The im2col GEMMs of one forward+backward pass (book orientation:
    col (N·OH·OW x K) against W (K x FN)), dx skipped for the first layer,
    plus the Affine GEMMs: what the network cannot avoid."""
    net = _conv_net(name, "reference", dtype)
    x = np.zeros((batch, 1, 28, 28), dtype)
    rng = np.random.default_rng(0)
    work = []
    for layer in net._layer_list():
        if type(layer).__name__ == "Convolution":
            fn, c, fh, fw = layer.W.shape
            n = layer.forward(x).shape
            m = batch * n[2] * n[3]
            k = c * fh * fw
            work.append((rng.random((m, k)).astype(dtype), rng.random((k, fn)).astype(dtype),
                         np.empty((m, fn), dtype), np.empty((k, fn), dtype),
                         np.empty((m, k), dtype) if work else None))
            x = layer.forward(x)
        elif type(layer).__name__ == "Affine":
            xa = x.reshape(batch, -1)
            W = layer.W
            work.append((xa.astype(dtype), W, np.empty((batch, W.shape[1]), dtype),
                         np.empty(W.shape, dtype), np.empty(xa.shape, dtype)))
            x = layer.forward(x)
        else:
            x = layer.forward(x) if type(layer).__name__ != "Dropout" else layer.forward(x, False)

    def run():
        for a, w, out, dw, dx in work:
            np.dot(a, w, out=out)
            np.dot(a.T, out, out=dw)
            if dx is not None:
                np.dot(out, w.T, out=dx)
    return run


def case_conv_step(name, batch, dtype):
    fns = {}
    x, t = _batch(batch, dtype)
    x = x.reshape(-1, 1, 28, 28)
    for backend in ("fast", "reference"):
        net = _conv_net(name, backend, dtype)
        opt = get_backend(backend).optimizer.Adam()

        def step(net=net, opt=opt):
            opt.update(net.params, net.gradient(x, t))
        fns["fastnn" if backend == "fast" else "reference"] = step
    if torch is not None:
        import _torch_convnets as tc
        model = {"simple": tc.simple_convnet, "deep": tc.deep_convnet}[name]
        fns["torch"] = tc.train_step(model, batch, dtype)
    fns["floor"] = conv_gemms_fn(name, batch, dtype)
    return fns, "im2col GEMMs alone"


def case_pooling(shape, dtype):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    dout = np.ones(shape[:2] + (shape[2] // 2, shape[3] // 2), dtype)
    fns = _layer_pair(lambda L, _: L.Pooling(2, 2, 2), x, dout)
    item = np.dtype(dtype).itemsize
    nbytes = x.size * item * 2 + dout.size * (2 * item + 8)   # x, dx, out, dout, arg_max
    return fns, (nbytes, nbytes)


def conv_cases():
    f64, f32 = np.float64, np.float32
    yield "train step SimpleConvNet b100 f64", lambda: case_conv_step("simple", 100, f64)
    yield "train step DeepConvNet b100 f64", lambda: case_conv_step("deep", 100, f64)
    yield "train step DeepConvNet b100 f32", lambda: case_conv_step("deep", 100, f32)
    yield "Pooling 2x2 fwd+bwd 100x30x24x24 f64", lambda: case_pooling((100, 30, 24, 24), f64)
# -- end of the CNN cases ----------------------------------------------------------


# -- language-model cases (the sequel's chapter 6) ---------------------------------
# One step = forward + backward + remove_duplicate + clip_grads(0.25) + SGD(20),
# as the book's RnnlmTrainer does; float32, B = 20, T = 35, V = 10,000.  The
# reference column is the book's own model files when FASTNN_BOOK2_DIR names
# its clone (deep-learning-from-scratch-2), else fastnn's NumPy twin (the
# same layers on NumpyOps: the book's loops).
RNN_SIZES = {"rnnlm": dict(vocab_size=10000, wordvec_size=100, hidden_size=100),
             "better": dict(vocab_size=10000, wordvec_size=650, hidden_size=650)}


def _book2():
    """The book's ch06 modules and common/ from FASTNN_BOOK2_DIR, or None."""
    root = os.environ.get("FASTNN_BOOK2_DIR")
    if not root:
        return None
    for d in (os.path.join(root, "ch06"), root):
        if d not in sys.path:
            sys.path.insert(0, d)
    import rnnlm as b_rnnlm
    import better_rnnlm as b_better
    from common.optimizer import SGD as b_sgd
    from common.trainer import remove_duplicate as b_dup
    from common.util import clip_grads as b_clip
    return dict(rnnlm=b_rnnlm.Rnnlm, better=b_better.BetterRnnlm, sgd=b_sgd, dup=b_dup,
                clip=b_clip)


def _lm_step(model, sgd, dup, clip, xs, ts):
    def step():
        model.forward(xs, ts)
        model.backward()
        params, grads = dup(model.params, model.grads)
        clip(grads, 0.25)
        sgd.update(params, grads)
    return step


def _lm_gemms(name, n, t, dtype):
    """The GEMMs of one step as fastnn shapes them, on NumPy's BLAS: per LSTM
    layer the input projection over all N·T rows, T recurrent products
    forward and T backward, dxs, dWx, dWh over all rows; the output layer's
    three."""
    kw = RNN_SIZES[name]
    v, d, h = kw["vocab_size"], kw["wordvec_size"], kw["hidden_size"]
    r = n * t
    rng = np.random.default_rng(0)
    mats = lambda *shape: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    work = []
    for din in ([d] if name == "rnnlm" else [d, h]):
        x, Wx, Wh = mats(r, din), mats(din, 4 * h), mats(h, 4 * h)
        hh, da = mats(n, h), mats(r, 4 * h)
        work.append((x, Wx, Wh, hh, da, np.empty((r, 4 * h), dtype), np.empty((n, 4 * h), dtype),
                     np.empty((n, h), dtype), np.empty((r, din), dtype)))
    hs, W, dsc = mats(r, h), mats(h, v), mats(r, v)
    sc, dhs, dW = np.empty((r, v), dtype), np.empty((r, h), dtype), np.empty((h, v), dtype)

    def run():
        for x, Wx, Wh, hh, da, xa, hw, dh, dx in work:
            np.dot(x, Wx, out=xa)
            for _ in range(t):
                np.dot(hh, Wh, out=hw)
                np.dot(da[:n], Wh.T, out=dh)
            np.dot(da, Wx.T, out=dx)
            np.dot(x.T, da)
            np.dot(hs.T, da)
        np.dot(hs, W, out=sc)
        np.dot(dsc, W.T, out=dhs)
        np.dot(hs.T, dsc, out=dW)
    return run


def torch_lm_step(name, n, t):
    kw = RNN_SIZES[name]
    v, d, h = kw["vocab_size"], kw["wordvec_size"], kw["hidden_size"]
    torch.manual_seed(0)
    layers = 1 if name == "rnnlm" else 2
    p = 0.0 if name == "rnnlm" else 0.5
    emb = torch.nn.Embedding(v, d)
    lstm = torch.nn.LSTM(d, h, num_layers=layers, batch_first=True, dropout=p)
    out = torch.nn.Linear(h, v)
    drop = torch.nn.Dropout(p)
    if name == "better":
        out.weight = emb.weight                  # tied, as the book's model
    params = list({id(q): q for m in (emb, lstm, out) for q in m.parameters()}.values())
    opt = torch.optim.SGD(params, lr=20.0)
    rng = np.random.default_rng(0)
    xs = torch.from_numpy(rng.integers(0, v, (n, t)))
    ts = torch.from_numpy(rng.integers(0, v, (n, t)))
    state = [None]

    def step():
        hc = state[0]
        if hc is not None:
            hc = tuple(s.detach() for s in hc)
        y, state[0] = lstm(drop(emb(xs)), hc)
        loss = torch.nn.functional.cross_entropy(out(drop(y)).reshape(-1, v), ts.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 0.25)
        opt.step()
    return step


def case_lm_step(name):
    from fastnn.nlp import optimizer as f_opt, trainer as f_trainer, util as f_util
    from fastnn.nlp.better_rnnlm import BetterRnnlm
    from fastnn.nlp.rnnlm import Rnnlm
    n, t = 20, 35
    kw = RNN_SIZES[name]
    rng = np.random.default_rng(1)
    xs = rng.integers(0, kw["vocab_size"], (n, t)).astype(np.int32)
    ts = rng.integers(0, kw["vocab_size"], (n, t)).astype(np.int32)
    fns = {}
    np.random.seed(0)
    model = {"rnnlm": Rnnlm, "better": BetterRnnlm}[name](**kw)
    fns["fastnn"] = _lm_step(model, f_opt.SGD(20.0), f_trainer.remove_duplicate,
                             f_util.clip_grads, xs, ts)
    book = _book2()
    np.random.seed(0)
    if book is not None:
        ref = book[name](**kw)
        fns["reference"] = _lm_step(ref, book["sgd"](20.0), book["dup"], book["clip"], xs, ts)
    else:
        from fastnn.backends import get_ops
        ref = {"rnnlm": Rnnlm, "better": BetterRnnlm}[name](**kw)
        for layer in ref.layers + [ref.loss_layer]:
            if hasattr(layer, "ops"):
                layer.ops = get_ops("numpy")
        fns["reference"] = _lm_step(ref, f_opt.SGD(20.0), f_trainer.remove_duplicate,
                                    f_util.clip_grads, xs, ts)
    if torch is not None:
        fns["torch"] = torch_lm_step(name, n, t)
    fns["floor"] = _lm_gemms(name, n, t, np.float32)
    return fns, "the step's GEMMs alone (NumPy's BLAS)"


def case_time_embedding_backward(dtype):
    """TimeEmbedding backward, V = 10,000, D = 100, N·T = 700 ids drawn from
    50 (repeats): against the book's np.add.at per time step."""
    from fastnn.backends import get_ops
    from fastnn.nlp.time_layers import TimeEmbedding
    rng = np.random.default_rng(2)
    W = rng.standard_normal((10000, 100)).astype(dtype)
    ids = rng.integers(0, 50, (20, 35))
    dout = rng.standard_normal((20, 35, 100)).astype(dtype)
    fns = {}
    for key, ops in (("fastnn", "compiled"), ("reference", "numpy")):
        layer = TimeEmbedding(W)
        layer.ops = get_ops(ops)
        layer.forward(ids)
        fns[key] = lambda layer=layer: layer.backward(dout)
    if torch is not None:
        emb = torch.nn.Embedding(10000, 100).to({np.float32: torch.float32}[dtype])
        it, dt = torch.from_numpy(ids), torch.from_numpy(dout)
        fns["torch"] = lambda: (emb.weight.grad is not None and emb.weight.grad.zero_(),
                                emb(it).backward(dt))
    nbytes = W.nbytes + dout.nbytes                   # dW written, dout read
    return fns, (nbytes, nbytes)


def rnn_cases():
    yield "train step Rnnlm f32", lambda: case_lm_step("rnnlm")
    yield "train step BetterRnnlm f32", lambda: case_lm_step("better")
    yield "TimeEmbedding bwd 700 ids/10000x100 f32", \
        lambda: case_time_embedding_backward(np.float32)
# -- end of the language-model cases -----------------------------------------------


# The keyword that selects dropout's fast (own-generator) mode.
FAST_DROPOUT = {"mode": "fast"}


def _fmt(t):
    if t is None:
        return "-"
    if t >= 1e-3:
        return "%.3f ms" % (t * 1e3)
    return "%.1f us" % (t * 1e6)


def _ratio(a, b):
    return "-" if a is None or b is None else "%.2fx" % (a / b)


def measure():
    """This process's table at ARGS.threads: a list of per-case dicts."""
    rounds = ARGS.rounds or (7 if ARGS.quick else 21)
    results = []
    from _nlp_cases import nlp_cases
    from _seq_cases import seq_cases
    for name, make in (list(cases()) + list(conv_cases()) + list(nlp_cases())
                       + list(rnn_cases()) + list(seq_cases())):
        if ARGS.only and not any(sub in name for sub in ARGS.only.split(",")):
            continue
        try:
            fns, floor = make()
        except Exception as exc:  # a case the installed build cannot run
            print("skip %s: %s: %s" % (name, type(exc).__name__, exc), file=sys.stderr)
            continue
        if ARGS.impl != "all":
            # this worker times one implementation; the floor has its own
            # workers too: a floor of NumPy's GEMMs leaves NumPy's OpenBLAS
            # threads spinning (about 0.1 s) on the cores fastnn's next
            # sample needs, which in fastnn's process hid its 2-thread gain
            fns = {k: f for k, f in fns.items() if k == ARGS.impl}
        if not fns and not (ARGS.impl == "floor" and not isinstance(floor, str)):
            continue
        t = time_interleaved(fns, rounds) if fns else {}
        if ARGS.impl not in ("all", "floor"):
            floor_t, kind = None, floor if isinstance(floor, str) else "-"
        elif isinstance(floor, str):
            floor_t, kind = t.pop("floor", None), floor
        else:
            nbytes, working_set = floor
            rate = copy_bandwidth(working_set, rounds)
            floor_t = nbytes / rate
            kind = "%.1f MB at %.1f GB/s" % (nbytes / 1e6, rate / 1e9)
        results.append(dict(case=name, fastnn=t.get("fastnn"), reference=t.get("reference"),
                            torch=t.get("torch"), floor=floor_t, floor_kind=kind))
        print("  done: %s (%d threads)" % (name, ARGS.threads), file=sys.stderr)
    return results


def _busy_loops(n):
    """n processes that keep a core busy each until they are killed."""
    import subprocess
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _run_worker(threads, out, impl="all"):
    import subprocess
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--threads", str(threads),
           "--json", out, "--impl", impl]
    settle = _settle()
    for flag, value in (("--rounds", ARGS.rounds), ("--only", ARGS.only), ("--settle", settle)):
        if value is not None:
            cmd += [flag, str(value)]
    if ARGS.quick:
        cmd.append("--quick")
    if ARGS.no_torch:
        cmd.append("--no-torch")
    subprocess.run(cmd, check=True)
    with open(out) as fh:
        return json.load(fh)


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _table(head, rows):
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")


def main():
    if ARGS.worker:
        bw = copy_bandwidth(256 << 20, ARGS.rounds or (7 if ARGS.quick else 21))
        results = measure()
        from fastnn._kernels import parallel
        from fastnn._fileio import atomic_write
        with atomic_write(ARGS.json, "w") as fh:
            json.dump(dict(bandwidth=bw, threads=ARGS.threads, results=results,
                           pool=parallel.pool_stats()), fh)
        return
    import tempfile
    counts = [1] if ARGS.threads == 1 else [1, ARGS.threads]
    rounds = ARGS.rounds or (7 if ARGS.quick else 21)
    print("fastnn %s | numpy %s | torch %s | %s | %s | threads %s | %d busy processes"
          % (fastnn.__version__, np.__version__, torch.__version__ if torch else "absent",
             platform.processor() or platform.machine(), platform.python_version(),
             " and ".join(map(str, counts)), ARGS.busy))
    busy = _busy_loops(ARGS.busy)
    runs = {t: [] for t in counts}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            impls = (["all"] if ARGS.together else
                     ["fastnn", "floor", "reference"] + ([] if ARGS.no_torch or torch is None
                                                         else ["torch"]))
            for k in range(ARGS.processes):
                for impl in impls:
                    for t in counts:
                        runs[t].append(_run_worker(
                            t, os.path.join(tmp, "%d-%d-%s.json" % (t, k, impl)), impl))
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    bw = _median([r["bandwidth"] for r in runs[1]])
    print("each implementation timed in its own worker processes" if not ARGS.together else
          "fastnn, the reference and PyTorch timed round-robin in the same processes")
    settle = _settle()
    if len(counts) > 1:
        print("at %d threads each sample starts %s" % (counts[-1], "after %.2f s of quiet" % settle
                                                      if settle else "at once (step after step)"))
    print("streaming rate %.1f GB/s from memory (np.add, 2 reads + 1 write); floors use the rate at"
          " each case's working-set size\n%d interleaved rounds per case in each of %d "
          "processes per thread count (alternating); medians\n"
          % (bw / 1e9, rounds, ARGS.processes))
    table = {}
    for t in counts:
        for run in runs[t]:
            for r in run["results"]:
                entry = table.setdefault(r["case"], {}).setdefault(t, {})
                for key in ("fastnn", "reference", "torch", "floor"):
                    entry.setdefault(key, []).append(r[key])
                if r["floor"] is not None or "floor_kind" not in entry:
                    entry["floor_kind"] = r["floor_kind"]
    med = {case: {t: {k: _median(v) for k, v in e.items() if k != "floor_kind"}
                  for t, e in per.items()} for case, per in table.items()}
    n = counts[-1]
    if n == 1:
        head = ("case", "fastnn", "reference", "torch", "floor", "ref/fastnn", "torch/fastnn",
                "fastnn/floor")
        rows = [(case, _fmt(m[1]["fastnn"]), _fmt(m[1]["reference"]), _fmt(m[1]["torch"]),
                 _fmt(m[1]["floor"]), _ratio(m[1]["reference"], m[1]["fastnn"]),
                 _ratio(m[1]["torch"], m[1]["fastnn"]), _ratio(m[1]["fastnn"], m[1]["floor"]))
                for case, m in med.items()]
    else:
        head = ("case", "fastnn 1t", "fastnn %dt" % n, "1t/%dt" % n, "ref/fastnn 1t",
                "ref/fastnn %dt" % n, "torch 1t", "torch %dt" % n, "torch/fastnn 1t",
                "torch/fastnn %dt" % n, "fastnn/floor %dt" % n)
        rows = []
        for case, m in med.items():
            one, many = m[1], m.get(n, {})
            get = many.get
            rows.append((case, _fmt(one["fastnn"]), _fmt(get("fastnn")),
                         _ratio(one["fastnn"], get("fastnn")),
                         _ratio(one["reference"], one["fastnn"]),
                         _ratio(get("reference"), get("fastnn")),
                         _fmt(one["torch"]), _fmt(get("torch")),
                         _ratio(one["torch"], one["fastnn"]), _ratio(get("torch"), get("fastnn")),
                         _ratio(get("fastnn"), get("floor"))))
    _table(head, rows)
    print("\nfloors: " + "; ".join("%s: %s" % (case, per[1]["floor_kind"])
                                   for case, per in table.items()))
    if n > 1:
        print("\nAmdahl's model from these two columns (fastnn): serial fraction s from "
              "T%d/T1 = s + (1 - s)/%d; speed-up on 8 and 16 cores = 1/(s + (1 - s)/c), "
              "an upper bound (memory bandwidth and the pieces a case splits into are not "
              "in it)" % (n, n))
        for case, m in med.items():
            t1, tn = m[1]["fastnn"], m.get(n, {}).get("fastnn")
            if not (t1 and tn):
                continue
            s = min(max((tn / t1 - 1.0 / n) / (1.0 - 1.0 / n), 0.0), 1.0)
            print("  %-36s s = %.2f  ->  %.1fx on 8 cores, %.1fx on 16"
                  % (case, s, 1 / (s + (1 - s) / 8), 1 / (s + (1 - s) / 16)))
    for t in counts[1:]:
        runs_, serial, slow = (sum(r["pool"][i] for r in runs[t]) for i in range(3))
        print("pool at %d threads: %d parallel runs asked, %d (%.1f%%) run on the caller by the "
              "back-off, %d slower than the caller alone" % (t, runs_, serial,
                                                             100.0 * serial / max(runs_, 1), slow))
    if ARGS.json:
        from fastnn._fileio import atomic_write
        with atomic_write(ARGS.json, "w") as fh:
            json.dump(dict(bandwidth=bw, threads=counts, busy=ARGS.busy,
                           processes=ARGS.processes, medians=med, runs=runs), fh, indent=1)


if __name__ == "__main__":
    main()
