"""threads: hostile thread counts from every entry point.

FASTNN_NUM_THREADS, OMP_NUM_THREADS, FASTNN_SPIN_US, FASTNN_CALLER_SPIN_US and
FASTNN_BACKEND are read at import, so each value is tried in a fresh
interpreter (the library: a clear ValueError naming the variable, or a sane
pool; the command: exit 2 and one line).  ``--threads``, ``set_num_threads``,
``num_threads=`` and ``threadpool_limits`` are tried in the case's process.
"""
import numpy as np

from ._arrays import THREADS
from ._common import (Clear, Registry, Unclear, Wrong, child_env, judge_refusal, one_line,
                      run_fastnn, run_python)

REGISTRY = Registry("threads")

def _cap():
    import os
    return max(1, min(1024, 4 * (os.cpu_count() or 1)))


PROBE = ("import fastnn, numpy as np\n"
         "from fastnn.multi_layer_net_extend import MultiLayerNetExtend\n"
         "np.random.seed(0)\n"
         "net = MultiLayerNetExtend(300, [300], 10)\n"
         "x = np.random.rand(512, 300); t = np.arange(512) % 10\n"
         "g = net.gradient(x, t)\n"
         "print(fastnn.get_num_threads(), fastnn.get_backend().name, float(g['W1'].sum()))\n")
REFERENCE_SUM = {}


def _probe(env, timeout=60):
    return run_python(PROBE, timeout=timeout, env=child_env(env))


def _expected_sum():
    if "sum" not in REFERENCE_SUM:
        rc, out, err = _probe({"FASTNN_NUM_THREADS": "1"})
        REFERENCE_SUM["sum"] = float(out.split()[2])
    return REFERENCE_SUM["sum"]


def _env_case(env, expect):
    """``expect``: an int (that many threads), 'default' (a count from 1 to the cap),
    or 'refuse' (a ValueError naming the variable, at import)."""
    def run(ctx):
        rc, out, err = _probe(env)
        name = next(iter(env))
        if rc == 0:
            n, backend, total = out.split()
            n, total = int(n), float(total)
            if expect == "refuse":
                raise Wrong("%s=%r accepted: %d threads" % (name, env[name], n))
            if not 1 <= n <= _cap() or (isinstance(expect, int) and n != expect):
                raise Wrong("%s=%r gave %d threads, expected %s" % (name, env[name], n, expect))
            if not np.isclose(total, _expected_sum(), rtol=1e-9, atol=1e-12):
                raise Wrong("%s=%r: gradient sum %r, one thread gives %r"
                            % (name, env[name], total, _expected_sum()))
            return "%d threads, backend %s" % (n, backend)
        last = [line for line in err.splitlines() if line.strip()][-1:]
        last = last[0] if last else ""
        if expect == "refuse" and last.startswith("ValueError") and name in last:
            raise Clear(one_line(last))
        raise Unclear("%s=%r: exit %d, %s" % (name, env[name], rc, one_line(last)))
    return run


CAP_NOW = _cap()
FASTNN_VALUES = {
    "abc": "refuse", "-1": "refuse", "0": "refuse", "99999999999999999999": "refuse",
    "2,3": "refuse", "1e3": "refuse", "0x10": "refuse", "1.0": "refuse", "nan": "refuse",
    str(CAP_NOW + 1): "refuse", "2147483648": "refuse", "-0": "refuse",
    "1": 1, " 3 ": 3, "+2": 2, str(CAP_NOW): CAP_NOW, "\uff12": 2, "": "default",
    "   ": "default", "0002": 2, "1_0": "refuse",
}
OMP_VALUES = {
    "abc": "default", "-1": "default", "0": "default", "99999999999999999999": CAP_NOW,
    "2,3": 2, "3,abc": 3, "": "default", "1": 1, "1e3": "default", " 2": 2,
    str(CAP_NOW * 10): CAP_NOW,
}
for _v, _expect in FASTNN_VALUES.items():
    REGISTRY.add("env/FASTNN_NUM_THREADS=%r" % _v,
                 _env_case({"FASTNN_NUM_THREADS": _v}, _expect),
                 quick=_v in ("abc", "2,3", "99999999999999999999"))
for _v, _expect in OMP_VALUES.items():
    REGISTRY.add("env/OMP_NUM_THREADS=%r" % _v, _env_case({"OMP_NUM_THREADS": _v}, _expect),
                 quick=_v == "abc")
REGISTRY.add("env/FASTNN_NUM_THREADS=1-beats-OMP=abc",
             _env_case({"FASTNN_NUM_THREADS": "1", "OMP_NUM_THREADS": "abc"}, 1))
for _name in ("FASTNN_SPIN_US", "FASTNN_CALLER_SPIN_US"):
    for _v in ("abc", "-5", "99999999999999999999", "1000000", "1e9", "", "0"):
        REGISTRY.add("env/%s=%r" % (_name, _v), _env_case({_name: _v}, "default"),
                     quick=_v == "1000000" and _name == "FASTNN_SPIN_US")
for _v, _expect in (("", "default"), ("foo", "refuse"), ("REFERENCE", "default"),
                   ("fast\n", "refuse"), ("numpy", "default"), (" fast", "refuse")):
    REGISTRY.add("env/FASTNN_BACKEND=%r" % _v, _env_case({"FASTNN_BACKEND": _v}, _expect))


def _cli_env_case(env):
    """A command started with a hostile variable: exit 2 and one line, no traceback."""
    def run(ctx):
        rc, out, err = run_fastnn(["config"], timeout=60, env=child_env(env))
        judge_refusal(rc, out, err, "%s fastnn config" % " ".join(
            "%s=%r" % kv for kv in env.items()), accepted_is_wrong=False)
        return "accepted"
    return run


for _v in ("abc", "0", "99999999999999999999", "2,3"):
    REGISTRY.add("cli-env/FASTNN_NUM_THREADS=%r" % _v,
                 _cli_env_case({"FASTNN_NUM_THREADS": _v}), quick=_v == "abc")
REGISTRY.add("cli-env/FASTNN_BACKEND='foo'", _cli_env_case({"FASTNN_BACKEND": "foo"}))


def _set_case(value):
    def run(ctx):
        import fastnn
        before = fastnn.get_num_threads()
        try:
            fastnn.set_num_threads(value)
        except (TypeError, ValueError) as exc:
            after = fastnn.get_num_threads()
            if after != before:
                raise Wrong("a refused set_num_threads(%r) changed the pool from %d to %d "
                            "threads" % (value, before, after)) from exc
            raise
        n = fastnn.get_num_threads()
        if not 1 <= n <= _cap():
            raise Wrong("set_num_threads(%r) gave %d threads" % (value, n))
        _check_kernel()
        return "accepted: %d threads" % n
    return run


def _check_kernel():
    import fastnn.ops as ops
    r = np.random.default_rng(0)
    a, b = r.standard_normal((300, 200)), r.standard_normal((200, 300))
    got = ops.affine_forward(a, b, np.zeros(300))
    if not np.allclose(got, a @ b, rtol=1e-9, atol=1e-9):
        raise Wrong("the pool computes a wrong GEMM after the change")


for _name, _value in THREADS.items():
    REGISTRY.add("set_num_threads(%s)" % _name, _set_case(_value),
                 quick=_name in ("0", "2**31", "string-2"))


def _limits_case(kwargs):
    def run(ctx):
        import fastnn
        from threadpoolctl import threadpool_limits
        before = fastnn.get_num_threads()
        try:
            with threadpool_limits(**kwargs):
                inside = fastnn.get_num_threads()
                _check_kernel()
        finally:
            after = fastnn.get_num_threads()
            if after != before:
                raise Wrong("the pool has %d threads after threadpool_limits(%s), %d before"
                            % (after, kwargs, before))
        if not 1 <= inside <= _cap():
            raise Wrong("threadpool_limits(%s) gave the pool %d threads" % (kwargs, inside))
        return "%d threads inside" % inside
    return run


for _name, _kw in (("0", {"limits": 0}), ("-1", {"limits": -1}), ("2**31", {"limits": 2 ** 31}),
                   ("1e9", {"limits": 1e9}), ("string", {"limits": "2"}),
                   ("openmp-0", {"limits": {"openmp": 0}}),
                   ("openmp-10**9", {"limits": {"openmp": 10 ** 9}}),
                   ("openmp-api-10**9", {"limits": 10 ** 9, "user_api": "openmp"}),
                   ("sequential", {"limits": "sequential_blas_under_openmp"}),
                   ("none", {"limits": None}), ("one", {"limits": 1})):
    REGISTRY.add("threadpool_limits(%s)" % _name, _limits_case(_kw),
                 quick=_name in ("0", "openmp-10**9"))


def _cli_threads(value):
    def run(ctx):
        from .cli import run_main
        rc, out, err, started = run_main(["train", "--epochs", "1", "--threads", value])
        if started is not None:
            raise Wrong("--threads %r accepted: work started" % value)
        judge_refusal(rc, out, err, "--threads %r" % value)
    return run


for _v in ("0", "-1", "2147483648", "1e9", "abc", "", "2.5", "0x2", str(CAP_NOW + 1), "nan",
           "99999999999999999999", "1 2"):
    REGISTRY.add("cli/--threads=%r" % _v, _cli_threads(_v), quick=_v in ("0", "abc"))


def _search_threads(value):
    def run(ctx):
        from .cli import run_main
        rc, out, err, started = run_main(["search", "--dataset", "sample", "--threads", value,
                                          "--out", ctx.path("s")])
        if started is not None:
            raise Wrong("search --threads %r accepted: work started" % value)
        judge_refusal(rc, out, err, "search --threads %r" % value)
    return run


for _v in ("0", "-1", "abc", "99999999999"):
    REGISTRY.add("cli/search--threads=%r" % _v, _search_threads(_v))
