"""What every attack module of ``scripts/attack`` shares: the case registry,
the outcomes, comparison against the reference, and subprocess helpers.

A case is a function ``f(ctx)`` run in a child process.  It returns None or
a short note (outcome ``ok``), or raises:

* :class:`Wrong` -- a result was returned but differs from the reference
  beyond rounding (``WRONG``);
* :class:`Clear` -- a refusal judged clear by the case itself (``clear-error``);
* :class:`Unclear` -- an error, but a traceback or a message from deep inside;
* :class:`Crash` / :class:`Hang` -- seen in a grandchild (a CLI run);
* anything else -- classified by :func:`classify` (``clear-error`` for a
  ValueError/TypeError/RuntimeError/OSError with a message of fastnn's or
  NumPy's, ``UNCLEAR-ERROR`` for an AttributeError, IndexError, ...).
"""
import math
import os
import signal
import subprocess
import sys
import traceback
import warnings

import numpy as np

OK, CLEAR, UNCLEAR, CRASH, HANG, WRONG = (
    "ok", "clear-error", "UNCLEAR-ERROR", "CRASH", "HANG", "WRONG")
OUTCOMES = (OK, CLEAR, UNCLEAR, CRASH, HANG, WRONG)
FAILING = (CRASH, HANG, WRONG)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Outcome(Exception):
    """Raised by a case to set its outcome (the subclass's ``outcome``) and detail."""
    outcome = None


def _outcome(name, outcome):
    return type(name, (Outcome,), {"outcome": outcome, "__doc__": "Outcome %s." % outcome})


Wrong, Clear, Unclear = _outcome("Wrong", WRONG), _outcome("Clear", CLEAR), _outcome(
    "Unclear", UNCLEAR)
Crash, Hang = _outcome("Crash", CRASH), _outcome("Hang", HANG)


class Case:
    """One hostile case: ``func(ctx)``; ``quick`` puts it in ``--quick``;
    ``isolated`` gives it a process of its own (it changes process-wide
    state); ``timeout`` overrides ``--timeout``; ``memory_ok`` accepts a
    MemoryError (the input itself asks for more memory than allowed)."""

    def __init__(self, category, name, func, quick=False, isolated=False, timeout=None,
                 memory_ok=False):
        self.category, self.name, self.func = category, name, func
        self.quick, self.isolated, self.timeout = quick, isolated, timeout
        self.memory_ok = memory_ok

    @property
    def id(self):
        return "%s/%s" % (self.category, self.name)


class Registry:
    """The cases of one category, added in order."""

    def __init__(self, category):
        self.category = category
        self.cases = []

    def add(self, name, func, **opts):
        self.cases.append(Case(self.category, name, func, **opts))

    def case(self, name=None, **opts):
        def register(func):
            self.add(name or func.__name__.replace("_", "-"), func, **opts)
            return func
        return register


# -- classification of an exception a case let through -----------------------

CLEAR_TYPES = (ValueError, TypeError, RuntimeError, OSError, NotImplementedError,
               OverflowError)
# Messages of Python's own machinery: the error happened to the code, it was not raised
# by a check.
GENERIC = ("'NoneType' object", "has no attribute", "is not subscriptable",
           "unsupported operand type", "not supported between instances",
           "object is not callable", "object is not iterable", "referenced before assignment",
           "takes no arguments", "missing 1 required", "cannot unpack non-iterable",
           "index out of range", "bad operand type", "Python int too large to convert to C")


def where(exc):
    """'file:line in function' of the deepest frame of ``exc``'s traceback."""
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return "?"
    frame = tb[-1]
    return "%s:%s in %s" % (os.path.relpath(frame.filename, REPO)
                            if frame.filename.startswith(REPO) else
                            os.path.basename(frame.filename), frame.lineno, frame.name)


def one_line(text, limit=160):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def classify(exc, memory_ok=False):
    """(outcome, detail) for an exception that escaped a case."""
    if isinstance(exc, Outcome):
        return exc.outcome, one_line(exc)
    detail = "%s: %s (%s)" % (type(exc).__name__, one_line(exc, 120), where(exc))
    if isinstance(exc, MemoryError):
        return (CLEAR if memory_ok else CRASH), detail
    if isinstance(exc, SystemError):       # a C function broke the C API's rules
        return CRASH, detail
    msg = str(exc)
    if isinstance(exc, CLEAR_TYPES) and msg.strip() and not any(g in msg for g in GENERIC):
        return CLEAR, detail
    return UNCLEAR, detail


def describe(exc):
    return "%s: %s" % (type(exc).__name__, one_line(exc, 100))


# -- comparing with the reference ---------------------------------------------

def _tolerance(*arrays):
    """Relative tolerance for the least precise floating dtype among ``arrays``."""
    tol = 1e-9
    for a in arrays:
        size = np.asarray(a).dtype.itemsize
        if np.asarray(a).dtype.kind == "c":
            size //= 2
        if np.asarray(a).dtype.kind in "fc":
            tol = max(tol, {2: 5e-3, 4: 2e-5}.get(size, 1e-9))
    return tol


def _as_array(x):
    if isinstance(x, np.matrix):     # the book's code on a matrix keeps 2-D rows
        return np.asarray(x).reshape(-1) if 1 in x.shape else np.asarray(x)
    if isinstance(x, np.ma.MaskedArray):
        return np.asarray(x.filled(np.nan) if x.dtype.kind in "fc" else x.data)
    return np.asarray(x)


def assert_close(fast, ref, what="result", tol=None, nonfinite="exact"):
    """Raise :class:`Wrong` unless ``fast`` equals ``ref`` to rounding: same shape,
    finite values within ``tol`` (by default from the dtypes) of the largest
    reference value, and non-finite values where the reference has them.
    ``nonfinite``: 'exact' (NaN where NaN, the same infinities), 'any-kind'
    (NaN and ±inf interchangeable: inf inputs, where algebraically equal
    formulas give inf-inf or inf·0 at other places), 'skip' (compare only where
    both are finite: overflowing inputs, where the order of a sum decides)."""
    if ref is None or fast is None:
        if (ref is None) != (fast is None):
            raise Wrong("%s: %r where the reference gives %r" % (what, type(fast).__name__,
                                                                  type(ref).__name__))
        return
    a, b = _as_array(fast), _as_array(ref)
    if a.shape != b.shape:
        raise Wrong("%s: shape %s, reference %s" % (what, a.shape, b.shape))
    if a.dtype.kind in "USV" or b.dtype.kind in "USV":
        if a.dtype.kind != b.dtype.kind or not np.array_equal(a, b):
            raise Wrong("%s: %r, the reference %r" % (what, fast, ref))
        return
    if a.dtype == object or b.dtype == object:
        try:
            a, b = a.astype(np.complex128), b.astype(np.complex128)
        except (TypeError, ValueError):
            if not np.array_equal(a, b):
                raise Wrong("%s: object arrays differ" % what) from None
            return
    if a.dtype.kind in "biu" and b.dtype.kind in "biu":
        if not np.array_equal(a, b):
            raise Wrong("%s: %d of %d entries differ" % (what, int(np.sum(a != b)), a.size))
        return
    if a.size == 0:
        return
    tol = _tolerance(a, b) if tol is None else tol
    with np.errstate(all="ignore"):
        a = a.astype(np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(b) else np.float64)
        b = b.astype(a.dtype)
        for part, name in ((np.real, ""), (np.imag, " (imaginary part)")):
            if name and not np.iscomplexobj(a):
                break
            _close_real(part(a), part(b), what + name, tol, nonfinite)


def _close_real(a, b, what, tol, nonfinite):
    if nonfinite == "exact":
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        if not np.array_equal(nan_a, nan_b):
            raise Wrong("%s: NaN at %d places, the reference at %d" % (
                what, int(nan_a.sum()), int(nan_b.sum())))
        inf_a, inf_b = np.isinf(a), np.isinf(b)
        if not np.array_equal(inf_a, inf_b) or not np.array_equal(a[inf_a], b[inf_b]):
            raise Wrong("%s: infinite at %d places, the reference at %d" % (
                what, int(inf_a.sum()), int(inf_b.sum())))
    elif nonfinite == "any-kind":
        bad_a, bad_b = ~np.isfinite(a), ~np.isfinite(b)
        if not np.array_equal(bad_a, bad_b):
            raise Wrong("%s: not finite at %d places, the reference at %d" % (
                what, int(bad_a.sum()), int(bad_b.sum())))
    fin = np.isfinite(b) & np.isfinite(a)
    if not fin.any():
        return
    # Inputs are of order 1: an absolute floor of ``tol`` accepts the rounding
    # noise of a result that is 0 in exact arithmetic (a cancelled sum).
    scale = max(float(np.max(np.abs(b[fin]))), 1.0)
    err = np.abs(a[fin] - b[fin])
    bound = tol * scale + tol * np.abs(b[fin])
    bad = err > bound
    if bad.any():
        raise Wrong("%s: %d of %d entries differ, worst by %.3g (scale %.3g, tolerance %.1g)"
                    % (what, int(bad.sum()), int(fin.sum()), float(err.max()), scale, tol))


def compare(fast, ref, what="result", **kw):
    """:func:`assert_close` through tuples, lists and dicts."""
    if isinstance(ref, (tuple, list)) and isinstance(fast, (tuple, list)):
        if len(fast) != len(ref):
            raise Wrong("%s: %d items, the reference %d" % (what, len(fast), len(ref)))
        for i, (f, r) in enumerate(zip(fast, ref)):
            compare(f, r, "%s[%d]" % (what, i), **kw)
    elif isinstance(ref, dict) and isinstance(fast, dict):
        if set(fast) != set(ref):
            raise Wrong("%s: keys %s, the reference %s" % (what, sorted(fast), sorted(ref)))
        for key in ref:
            compare(fast[key], ref[key], "%s[%r]" % (what, key), **kw)
    else:
        assert_close(fast, ref, what, **kw)


def quiet_numpy():
    """A context in which NumPy neither warns nor raises on floating-point trouble
    (the reference's overflow in exp is a warning, not a result)."""
    class _Quiet:
        def __enter__(self):
            self._err = np.seterr(all="ignore")
            self._w = warnings.catch_warnings()
            self._w.__enter__()
            warnings.simplefilter("ignore")

        def __exit__(self, *exc):
            self._w.__exit__(*exc)
            np.seterr(**self._err)
    return _Quiet()


def attempt(thunk):
    """(result, None) or (None, exception) of ``thunk()``, NumPy warnings silenced."""
    with quiet_numpy():
        try:
            return thunk(), None
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the case decides
            return None, exc


def compare_kw(mutation):
    """How to compare the results of a case whose hostile input is ``mutation``."""
    return {"inf": {"nonfinite": "any-kind"}, "huge": {"nonfinite": "skip"},
            "numpy-float32": {"tol": 2e-5}}.get(mutation, {})


def paired(fast, ref, what="result", alt=None, **kw):
    """Run ``fast()`` and ``ref()`` (each builds its own inputs); compare what
    both return.  A refusal by fast only is left to :func:`classify`; the same
    exception type from both is a clear error (the book's behaviour); a result
    from fast only is ``ok`` with a note.  ``alt``: a second reference (the
    same formulas in extended precision), accepted as well."""
    f_res, f_exc = attempt(fast)
    r_res, r_exc = attempt(ref)
    if f_exc is not None:
        if r_exc is not None and type(r_exc) is type(f_exc):
            raise Clear("as the reference: %s" % describe(f_exc))
        raise f_exc
    if r_exc is not None:
        return "fast returns; the reference raises %s" % describe(r_exc)
    try:
        compare(f_res, r_res, what, **kw)
    except Wrong:
        if alt is None:
            raise
        a_res, a_exc = attempt(alt)
        if a_exc is not None:
            raise
        compare(f_res, a_res, what, **kw)
        return "equal to the reference computed in extended precision"
    return None


# -- subprocesses -------------------------------------------------------------

def child_env(extra=None, drop=()):
    env = dict(os.environ)
    for key in drop:
        env.pop(key, None)
    env.update(extra or {})
    return env


def run(argv, timeout, env=None, cwd=None, stdin=subprocess.DEVNULL):
    """Run ``argv``; (returncode, stdout, stderr).  A signal is :class:`Crash`, the
    timeout :class:`Hang` (the process group is killed)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=stdin, env=env, cwd=cwd, start_new_session=True,
                            text=True, errors="replace")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise Hang("%s: no exit after %ss; stderr: %s"
                   % (" ".join(argv[-6:]), timeout, one_line(err[-300:]))) from None
    if proc.returncode < 0:
        raise Crash("%s: killed by %s; stderr: %s" % (
            " ".join(argv[-6:]), signal.Signals(-proc.returncode).name,
            one_line(err[-400:])))
    return proc.returncode, out, err


def run_python(code, timeout=60, env=None, cwd=None):
    return run([sys.executable, "-c", code], timeout, env=env, cwd=cwd)


def run_fastnn(args, timeout=60, env=None, cwd=None):
    return run([sys.executable, "-m", "fastnn"] + list(args), timeout, env=env, cwd=cwd)


def error_lines(err):
    """The lines of ``err`` other than argparse's usage block (``usage: ...`` and
    its indented continuation lines) and blank lines."""
    body, in_usage = [], False
    for line in err.splitlines():
        if line.startswith("usage:"):
            in_usage = True
            continue
        if in_usage and line.startswith(" "):
            continue
        in_usage = False
        if line.strip():
            body.append(line)
    return body


def judge_refusal(rc, out, err, what, accepted_is_wrong=True):
    """A command given a hostile value must exit 2 with one line on stderr (beside
    argparse's usage block) and no traceback: :class:`Clear` with that line.  A
    traceback or several lines is :class:`Unclear`; exit 0 is :class:`Wrong`
    (nonsense accepted) unless ``accepted_is_wrong`` is false (then None: the
    command ran)."""
    lines = error_lines(err)
    if "Traceback (most recent call last)" in err:
        raise Unclear("%s: exit %d with a traceback ending %s" % (
            what, rc, one_line(lines[-1] if lines else "", 140)))
    if rc == 0:
        if accepted_is_wrong:
            raise Wrong("%s: accepted (exit 0)%s" % (
                what, "; stdout: " + one_line(out, 100) if out.strip() else ""))
        return None
    if rc == 2 and len(lines) == 1:
        raise Clear(one_line(lines[0]))
    raise Unclear("%s: exit %d, %d lines on stderr: %s" % (
        what, rc, len(lines), one_line(" | ".join(lines[-3:]), 200)))


def finite(x):
    return isinstance(x, float) and math.isfinite(x)
