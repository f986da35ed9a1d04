"""Optimizer kernels (fastnn.ops.*_update) and fast optimizer classes
(fastnn.optimizer) against the reference (fastnn.reference.optimizer)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn import ops
from fastnn import optimizer as fast
from fastnn.reference import optimizer as ref
from fastnn._kernels import optim as _k
from fastnn.backends import CompiledOps, NumpyOps
from _util import TOL, assert_close, laid_out

SETTINGS = settings()  # examples per run: the hypothesis profile (tests/conftest.py)
NAMES = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]




# -- strategies ----------------------------------------------------------------

shapes = st.lists(st.integers(1, 9), min_size=0, max_size=3).map(tuple)
dtypes = st.sampled_from([np.float64, np.float32])
layouts = st.sampled_from(["C", "F", "strided"])
seeds = st.integers(0, 2**32 - 1)


def hyper(name, draw):
    """Hyperparameters (Python floats) of the reference class ``name``."""
    lr = draw(st.floats(1e-4, 1.0))
    if name in ("Momentum", "Nesterov"):
        return dict(lr=lr, momentum=draw(st.floats(0.0, 0.99)))
    if name == "RMSprop":
        return dict(lr=lr, decay_rate=draw(st.floats(0.5, 0.999)))
    if name == "Adam":
        return dict(lr=lr, beta1=draw(st.floats(0.5, 0.99)), beta2=draw(st.floats(0.9, 0.9999)))
    return dict(lr=lr)


# -- single-array kernels (fastnn.ops) ------------------------------------------

def ref_step(name, hp, p, g, state, it=0):
    """One reference step on copies; returns (param, state dict, lr_t)."""
    opt = getattr(ref, name)(**hp)
    params = {"k": p.copy()}
    st_ = {k: {"k": v.copy()} for k, v in state.items()}
    for k, v in st_.items():
        setattr(opt, k, v)
    lr_t = None
    if name == "Adam":
        opt.iter = it + 1
        lr_t = opt.step_size()
        opt.iter = it
    opt.update(params, {"k": g})
    return params["k"], {k: getattr(opt, k)["k"] for k in state}, lr_t


def fast_step(name, hp, p, g, state, lr_t):
    if name == "SGD":
        ops.sgd_update(p, g, hp["lr"])
    elif name == "Momentum":
        ops.momentum_update(p, g, state["v"], hp["lr"], hp["momentum"])
    elif name == "Nesterov":
        ops.nesterov_update(p, g, state["v"], hp["lr"], hp["momentum"])
    elif name == "AdaGrad":
        ops.adagrad_update(p, g, state["h"], hp["lr"])
    elif name == "RMSprop":
        ops.rmsprop_update(p, g, state["h"], hp["lr"], hp["decay_rate"])
    else:
        ops.adam_update(p, g, state["m"], state["v"], lr_t, hp["beta1"], hp["beta2"])


STATE_NAMES = {"SGD": [], "Momentum": ["v"], "Nesterov": ["v"], "AdaGrad": ["h"],
               "RMSprop": ["h"], "Adam": ["m", "v"]}


@SETTINGS
@given(name=st.sampled_from(NAMES), shape=shapes, dtype=dtypes, layout=layouts,
       seed=seeds, data=st.data())
def test_kernel_matches_reference_over_steps(name, shape, dtype, layout, seed, data):
    hp = hyper(name, data.draw)
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(shape).astype(dtype)
    state = {k: np.zeros(shape, dtype) for k in STATE_NAMES[name]}
    p_ref, state_ref = p.copy(), {k: v.copy() for k, v in state.items()}
    for it in range(3):
        g = laid_out(rng.standard_normal(shape).astype(dtype), layout)
        g_before = g.copy()
        p_ref, state_ref, lr_t = ref_step(name, hp, p_ref, g, state_ref, it)
        fast_step(name, hp, p, g, state, lr_t)
        assert np.array_equal(g, g_before)  # the gradient is only read
        assert_close(p, p_ref, tol=TOL[np.dtype(dtype)])
        for k in state:
            assert_close(state[k], state_ref[k], tol=TOL[np.dtype(dtype)])


BOOK_HP = {"SGD": dict(lr=0.05), "Momentum": dict(lr=0.05, momentum=0.9),
           "Nesterov": dict(lr=0.05, momentum=0.9), "AdaGrad": dict(lr=0.05),
           "RMSprop": dict(lr=0.05, decay_rate=0.99),
           "Adam": dict(lr=0.05, beta1=0.9, beta2=0.999)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernels_are_bit_identical_to_reference(dtype):
    # Same operations in the same order and precision, no FMA: every result
    # rounds as NumPy's does (a stronger property than the tolerances above;
    # if a compiler ever contracts a*b+c, this is the test that says so).
    rng = np.random.default_rng(7)
    for name in NAMES:
        hp = BOOK_HP[name]
        p = rng.standard_normal(1000).astype(dtype)
        state = {k: np.abs(rng.standard_normal(1000)).astype(dtype) for k in STATE_NAMES[name]}
        g = rng.standard_normal(1000).astype(dtype)
        p_ref, s_ref, lr_t = ref_step(name, hp, p, g, state, 4)
        fast_step(name, hp, p, g, state, lr_t)
        assert np.array_equal(p, p_ref), name
        for k in state:
            assert np.array_equal(state[k], s_ref[k]), (name, k)


def test_grad_may_be_the_param_itself():
    rng = np.random.default_rng(1)
    p = rng.standard_normal(100)
    m, v = np.zeros(100), np.zeros(100)
    params = {"k": p.copy()}
    opt = ref.Adam()
    opt.update(params, params)  # grads is params: g is p
    lr_t = 0.001 * np.sqrt(1 - 0.999) / (1 - 0.9)
    ops.adam_update(p, p, m, v, lr_t)
    assert np.array_equal(p, params["k"])


@pytest.mark.parametrize("n", [70000, 200001])
def test_threads_give_identical_results(n):
    rng = np.random.default_rng(3)
    assert n >= _k.PARALLEL_MIN_SIZE
    p1 = rng.standard_normal(n)
    g = rng.standard_normal(n)
    m1, v1 = np.zeros(n), np.zeros(n)
    p2, m2, v2 = p1.copy(), m1.copy(), v1.copy()
    for _ in range(2):
        ops.adam_update(p1, g, m1, v1, 1e-3, num_threads=1)
        ops.adam_update(p2, g, m2, v2, 1e-3, num_threads=2)
    assert np.array_equal(p1, p2) and np.array_equal(m1, m2) and np.array_equal(v1, v2)


# -- bad input -----------------------------------------------------------------

def _arrays(dtype=np.float64, n=6):
    return np.ones(n, dtype), np.ones(n, dtype), np.zeros(n, dtype), np.zeros(n, dtype)


@pytest.mark.parametrize("call, exc, message", [
    (lambda p, g, m, v: ops.sgd_update(p.astype(np.int64), g, 0.1), TypeError,
     "param must have dtype float32 or float64"),
    (lambda p, g, m, v: ops.sgd_update(list(p), g, 0.1), TypeError,
     "param must be a numpy.ndarray"),
    (lambda p, g, m, v: ops.sgd_update(p, g.astype(np.float32), 0.1), TypeError,
     "grad has dtype float32 but param has dtype float64"),
    (lambda p, g, m, v: ops.sgd_update(p, g[:5], 0.1), ValueError,
     r"grad has shape \(5,\) but param"),
    (lambda p, g, m, v: ops.sgd_update(p[::2], g[::2], 0.1), ValueError,
     "param must be C-contiguous"),
    (lambda p, g, m, v: ops.momentum_update(p, g, m.astype(np.float32), 0.1), TypeError,
     "v has dtype float32 but param"),
    (lambda p, g, m, v: ops.nesterov_update(p, g, m[:3], 0.1), ValueError,
     r"v has shape \(3,\) but param"),
    (lambda p, g, m, v: ops.adagrad_update(p, g, np.zeros((6, 2))[:, 0], 0.1), ValueError,
     "h must be C-contiguous"),
    (lambda p, g, m, v: ops.rmsprop_update(p, g, "h", 0.1), TypeError,
     "h must be a numpy.ndarray"),
    (lambda p, g, m, v: ops.adam_update(p, g, m, m, 0.1), ValueError, "m and v share memory"),
    (lambda p, g, m, v: ops.adam_update(p, g, p, v, 0.1), ValueError,
     "param and m share memory"),
    (lambda p, g, m, v: ops.adam_update(p.astype(np.float32), g.astype(np.float32), m, v,
                                        0.1), TypeError, "m has dtype float64 but param"),
    (lambda p, g, m, v: ops.adam_update(p, g, m, v, 0.1, num_threads=0), ValueError,
     "num_threads must be from 1 to"),
])
def test_bad_arguments_are_named(call, exc, message):
    with pytest.raises(exc, match=message):
        call(*_arrays())


def test_read_only_targets_are_named():
    p, g, m, v = _arrays()
    p.flags.writeable = False
    with pytest.raises(ValueError, match="param is read-only"):
        ops.sgd_update(p, g, 0.1)
    p, g, m, v = _arrays()
    v.flags.writeable = False
    with pytest.raises(ValueError, match="v is read-only"):
        ops.adam_update(p, g, m, v, 0.1)
    # a read-only gradient is fine: it is only read
    p, g, m, v = _arrays()
    g.flags.writeable = False
    ops.sgd_update(p, g, 0.5)
    assert np.all(p == 0.5)


# -- optimizer classes ---------------------------------------------------------

def make_params(rng, dtype, layouts_, with_float=False):
    params = {}
    for i, (shape, layout) in enumerate(layouts_):
        params["p%d" % i] = laid_out(rng.standard_normal(shape).astype(dtype), layout)
    if with_float:
        params["x"] = -7.0
        params["y"] = 2.0
    return params


def grads_like(rng, params, glayout="C"):
    out = {}
    for k, v in params.items():
        if isinstance(v, np.ndarray):
            out[k] = laid_out(rng.standard_normal(v.shape).astype(v.dtype), glayout)
        else:
            out[k] = float(rng.standard_normal())
    return out


def copy_params(params):
    return {k: (laid_out(v, "F" if v.flags.f_contiguous and not v.flags.c_contiguous
                         else "C" if v.flags.c_contiguous else "strided")
                if isinstance(v, np.ndarray) else v) for k, v in params.items()}


class FallbackRecorder:
    """Records which keys an optimizer's compiled ops hand to NumPy's
    formulas (so the tests know the kernel really ran): ``opt.ops`` becomes
    a CompiledOps whose NumpyOps steps, reached through ``super()``, note
    their keys."""

    def __init__(self, opt):
        self.keys = []
        recorder = self

        def recording(name):
            def step(self, params, grads, *args, keys=None):
                recorder.keys.extend(params.keys() if keys is None else keys)
                return getattr(NumpyOps, name)(self, params, grads, *args, keys=keys)
            return step

        steps = {n: recording(n) for n in dir(NumpyOps) if n.endswith("_step")}
        below = type("RecordingNumpyOps", (NumpyOps,), steps)
        opt.ops = type("RecordingOps", (CompiledOps, below), {})()


def assert_same_state(opt_f, opt_r, dtype):
    for attr in ("v", "h", "m"):
        a, b = getattr(opt_f, attr, None), getattr(opt_r, attr, None)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.keys() == b.keys()
            for k in a:
                assert_close(a[k], b[k], tol=TOL[np.dtype(dtype)])
    assert getattr(opt_f, "iter", None) == getattr(opt_r, "iter", None)


@SETTINGS
@given(name=st.sampled_from(NAMES), dtype=dtypes, seed=seeds,
       arrays=st.lists(st.tuples(shapes, layouts), min_size=1, max_size=5),
       glayout=layouts, with_float=st.booleans(), data=st.data())
def test_class_matches_reference(name, dtype, seed, arrays, glayout, with_float, data):
    hp = hyper(name, data.draw)
    rng = np.random.default_rng(seed)
    pf = make_params(rng, dtype, arrays, with_float)
    pr = copy_params(pf)
    opt_f, opt_r = getattr(fast, name)(**hp), getattr(ref, name)(**hp)
    rec = FallbackRecorder(opt_f)
    for _ in range(3):
        grads = grads_like(rng, pf, glayout)
        opt_f.update(pf, grads)
        opt_r.update(pr, grads)
        for k in pr:
            if isinstance(pr[k], np.ndarray):
                assert_close(pf[k], pr[k], tol=TOL[np.dtype(dtype)])
            else:
                assert pf[k] == pr[k]  # Python floats: the reference's numbers
        assert_same_state(opt_f, opt_r, dtype)
    # Exactly the keys the kernels cannot update in place took the reference path.
    expected = {k for k, v in pf.items() if not fast._kernel_ok(v, grads[k])}
    assert expected == {k for k, v in pf.items()
                        if not (isinstance(v, np.ndarray) and v.flags.c_contiguous)}
    assert set(rec.keys) == expected


def test_book_2d_demo_with_python_floats():
    # The book's optimizer_compare_naive.py: params are Python floats.
    def df(x, y):
        return x / 10.0, 2.0 * y
    for name in NAMES:
        lr = {"SGD": 0.95, "Momentum": 0.1, "Nesterov": 0.1, "AdaGrad": 1.5,
              "RMSprop": 0.1, "Adam": 0.3}[name]
        pf, pr = {"x": -7.0, "y": 2.0}, {"x": -7.0, "y": 2.0}
        of, orf = getattr(fast, name)(lr=lr), getattr(ref, name)(lr=lr)
        for _ in range(30):
            gx, gy = df(pf["x"], pf["y"])
            of.update(pf, {"x": gx, "y": gy})
            gx, gy = df(pr["x"], pr["y"])
            orf.update(pr, {"x": gx, "y": gy})
        assert pf == pr, name


@pytest.mark.parametrize("name", NAMES)
def test_many_arrays_and_mixed_cases(name):
    # More arrays than one batch of the compiled driver (64), float32 and
    # float64 together, a gradient of another dtype, a read-only gradient,
    # a 0-d array and an empty one.
    rng = np.random.default_rng(5)
    pf = {}
    for i in range(70):
        pf["a%d" % i] = rng.standard_normal((i % 5 + 1, 3)).astype(
            np.float32 if i % 2 else np.float64)
    pf["scalar"] = np.array(1.5)
    pf["empty"] = np.zeros((0, 4))
    pf["mixed"] = rng.standard_normal(4)
    pr = copy_params(pf)
    of, orf = getattr(fast, name)(), getattr(ref, name)()
    rec = FallbackRecorder(of)
    for _ in range(3):
        grads = grads_like(rng, pf)
        grads["mixed"] = grads["mixed"].astype(np.float32)
        grads["a3"].flags.writeable = False
        of.update(pf, grads)
        orf.update(pr, grads)
        for k in pr:
            assert pf[k].dtype == pr[k].dtype
            assert_close(pf[k], pr[k], pr[k].dtype.type)
    assert set(rec.keys) == {"mixed"}


@pytest.mark.parametrize("name", NAMES)
def test_numpy_float64_hyperparameters_with_float32_params(name):
    # lr = 10 ** np.random.uniform(-6, -2) is a NumPy float64, which is not
    # "weak": the reference computes float32 parameters' update in float64.
    # The fast class must give those numbers: the reference path, except Adam,
    # whose float64 step on float32 arrays is compiled (the sequel's Adam always
    # has a float64 lr_t; NlpOps.adam_step).
    rng = np.random.default_rng(9)
    lr = 10 ** np.float64(-1.5)
    pf = {"W": rng.standard_normal((4, 3)).astype(np.float32),
          "b": rng.standard_normal(3)}
    pr = copy_params(pf)
    of, orf = getattr(fast, name)(lr=lr), getattr(ref, name)(lr=lr)
    rec = FallbackRecorder(of)
    for _ in range(3):
        grads = grads_like(rng, pf)
        of.update(pf, grads)
        orf.update(pr, grads)
        for k in pr:
            assert pf[k].dtype == pr[k].dtype
            assert np.array_equal(pf[k], pr[k])
    # float64 "b" took the kernel; so did float32 "W" for Adam
    assert set(rec.keys) == (set() if name == "Adam" else {"W"})


@pytest.mark.parametrize("name", NAMES)
def test_state_replaced_by_user_takes_reference_path(name):
    rng = np.random.default_rng(11)
    pf = {"W": rng.standard_normal((5, 4))}
    pr = copy_params(pf)
    of, orf = getattr(fast, name)(), getattr(ref, name)()
    grads = grads_like(rng, pf)
    of.update(pf, grads)
    orf.update(pr, grads)
    for opt in (of, orf):
        for attr in ("v", "h", "m"):
            store = getattr(opt, attr, None)
            if store is not None:
                store["W"] = np.asfortranarray(store["W"])  # another layout
    if name == "Adam":
        for opt in (of, orf):
            opt.v["W"] = opt.m["W"]  # and m, v the same array (NaN from sqrt(v < 0))
    for _ in range(2):
        grads = grads_like(rng, pf)
        with np.errstate(invalid="ignore"):
            of.update(pf, grads)
            orf.update(pr, grads)
        assert np.array_equal(pf["W"], pr["W"], equal_nan=True)


@pytest.mark.parametrize("name", NAMES)
def test_missing_gradient_key(name):
    # As in the reference: KeyError, after the keys before it were updated.
    rng = np.random.default_rng(2)
    pf = {"a": rng.standard_normal(3), "b": rng.standard_normal(3), "c": rng.standard_normal(3)}
    pr = copy_params(pf)
    grads = {"a": np.ones(3), "c": np.ones(3)}
    for opt, params in ((getattr(fast, name)(), pf), (getattr(ref, name)(), pr)):
        with pytest.raises(KeyError):
            opt.update(params, grads)
    for k in pf:
        assert np.array_equal(pf[k], pr[k])


def test_grads_dict_is_params_dict():
    rng = np.random.default_rng(4)
    for name in NAMES:
        pf = {"a": rng.standard_normal((3, 3))}
        pr = copy_params(pf)
        getattr(fast, name)().update(pf, pf)
        getattr(ref, name)().update(pr, pr)
        assert np.array_equal(pf["a"], pr["a"]), name


def test_class_update_is_the_same_on_any_thread_count():
    import fastnn
    rng = np.random.default_rng(6)
    n = _k.PARALLEL_MIN_SIZE * 3 + 1000
    p1 = {"W": rng.standard_normal(n)}
    p2, p3 = copy_params(p1), copy_params(p1)
    g = {"W": rng.standard_normal(n)}
    before = fastnn.get_num_threads()
    try:
        for threads, p in ((1, p1), (2, p2), (5, p3)):
            fastnn.set_num_threads(threads)
            fast.Adam().update(p, g)
    finally:
        fastnn.set_num_threads(before)
    assert np.array_equal(p1["W"], p2["W"])
    assert np.array_equal(p1["W"], p3["W"])


def test_nan_propagates():
    for name in NAMES:
        pf = {"a": np.array([1.0, 2.0, 3.0])}
        g = {"a": np.array([np.nan, 1.0, 1.0])}
        pr = copy_params(pf)
        getattr(fast, name)().update(pf, g)
        getattr(ref, name)().update(pr, g)
        assert np.isnan(pf["a"][0]) and not np.isnan(pf["a"][1:]).any(), name
        assert np.array_equal(pf["a"], pr["a"], equal_nan=True)


def test_nesterov_update_refuses_grad_that_is_the_param():
    """The book's Nesterov reads the gradient after changing the parameter, so
    the kernel cannot run with grad = param: a clear error, not another result."""
    p = np.arange(6.0).reshape(2, 3)
    v = np.ones((2, 3))
    with pytest.raises(ValueError, match="param shares memory with grad"):
        ops.nesterov_update(p, p, v, 0.1, 0.9)
    np.testing.assert_array_equal(p, np.arange(6.0).reshape(2, 3))
