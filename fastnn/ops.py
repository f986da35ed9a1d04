"""fastnn's compiled kernels as plain functions, for hand-written NumPy code.

Each function checks its arguments (shapes, dtypes, byte order, layout,
aliasing, ``out=`` buffers) and raises a ``ValueError``/``TypeError``
naming the argument before calling the kernel's unchecked driver in
``fastnn/_kernels/<family>.pyx``.  Functions that update arrays in place
say so.

This module is the only place where they are checked (as scikit-learn's
``_loss/loss.py`` wraps ``_loss.pyx``): the drivers trust their arguments,
and every check goes through :func:`_array` (an array argument) and
:func:`_out` (an output buffer), built on :mod:`fastnn._checks`.  The layer
classes do not come through here: their ops overrides
(:class:`fastnn.backends.CompiledOps`) test what they need in C and call the
same drivers.
"""
import numpy as np

from ._checks import (
    FLOAT_DTYPES,
    as_float,
    check_dropout_mode,
    check_dropout_ratio,
    check_float_array,
    check_no_overlap,
    check_output,
    check_same_dtype,
    check_same_shape,
    check_writeable_contiguous,
    native,
)
from ._config import check_thread_count
from ._kernels import activations as _act
from ._kernels import affine as _aff
from ._kernels import batchnorm as _bn
from ._kernels import dropout as _drop
from ._kernels import optim_ops as _optim
from ._kernels import softmax as _sm

__all__ = ["sgd_update", "momentum_update", "nesterov_update", "adagrad_update",
           "rmsprop_update", "adam_update",
           "relu_forward", "relu_backward", "sigmoid_forward", "sigmoid_backward",
           "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
           "affine_forward", "affine_backward",
           "batchnorm_forward_train", "batchnorm_forward_infer", "batchnorm_backward",
           "dropout_forward", "dropout_backward"]

_BOOL = np.dtype(np.bool_)


# -- the checks ------------------------------------------------------------------

def _array(name, a, ndim=None, like=None, same_shape=False, *, written=False,
           contiguous=False, dtype=None):
    """Array argument ``name`` as a kernel takes it, or a TypeError/ValueError
    naming it.

    ``a`` must be a float32/float64 ndarray (of bool/uint8 ``dtype`` when
    given), of rank ``ndim`` if given; ``like`` = (name, array) makes it
    share that array's dtype (and shape, with ``same_shape``).  An array the
    kernel reads is returned converted to native byte order if it is not
    (and C-contiguous, copied once, with ``contiguous``); one it writes
    (``written``: updated in place) must already be native, C-contiguous
    and writeable.
    """
    if dtype is None:
        if (type(a) is np.ndarray and a.dtype in FLOAT_DTYPES and a.dtype.isnative
                and (ndim is None or a.ndim == ndim)
                and (like is None or (a.dtype == like[1].dtype
                                      and (not same_shape or a.shape == like[1].shape)))
                and (not (written or contiguous)
                     or a.flags.c_contiguous and a.flags.aligned)
                and (not written or a.flags.writeable)):
            return a                                    # the common case, in one test
        if not written:
            a = native(a)
        check_float_array(name, a, ndim)
    else:
        if not isinstance(a, np.ndarray):
            raise TypeError("%s must be a numpy.ndarray, got %s" % (name, type(a).__name__))
        if a.dtype not in dtype:
            raise TypeError("%s must have dtype %s, got %s"
                            % (name, " (or ".join(str(d) for d in dtype)
                               + ")" * (len(dtype) - 1), a.dtype))
    if like is not None:
        like_name, ref = like
        if dtype is None:
            check_same_dtype(like_name, ref, **{name: a})
        if same_shape:
            check_same_shape(like_name, ref, **{name: a})
    if written:
        check_writeable_contiguous(name, a)
        if not a.flags.aligned:
            raise ValueError("%s must be an aligned array" % name)
    elif contiguous and not (a.flags.c_contiguous and a.flags.aligned):
        a = a.copy(order="C")
    return a


def _out(name, out, like_name, like, reads, same_ok=()):
    """Output buffer ``name``: a new C-contiguous array of ``like``'s shape and
    dtype when ``out`` is None, else ``out`` checked to be one (native,
    aligned, C-contiguous, writeable) sharing no memory with the arrays in
    ``reads`` ({name: array}) -- except that it may *be* one named in
    ``same_ok`` (an elementwise kernel in place)."""
    if out is None:
        return np.empty(like.shape, like.dtype)
    if not (type(out) is np.ndarray and out.dtype == like.dtype and out.dtype.isnative
            and out.shape == like.shape and out.flags.carray):
        check_float_array(name, out)
        check_same_dtype(like_name, like, **{name: out})
        check_same_shape(like_name, like, **{name: out})
        check_writeable_contiguous(name, out)
        raise TypeError("%s must be a native-byte-order, aligned array" % name)
    check_no_overlap({name: out}, reads, same_ok=[(name, r) for r in same_ok])
    return out


def _real(name, value):
    """A scalar argument as a C double (as NumPy 2 rounds a Python float
    operand, the kernels round it to the arrays' dtype)."""
    if type(value) is float:
        return value
    if isinstance(value, (str, bytes)):
        raise TypeError("%s must be a real number, got %r" % (name, value))
    return as_float(value, "%s must be a real number" % name)


# -- optimizer updates (fastnn/_kernels/optim.pyx) ---------------------------------
# In place on C-contiguous float32/float64 arrays; the gradient may have any
# layout.  Scalars are rounded to the arrays' dtype (as NumPy 2 rounds a
# Python float).  ``num_threads=None`` means fastnn.num_threads().

def _update_args(param, grad, states, grad_may_be_param=True):
    """``param`` and the ``states`` ({name: array}) updated in place; returns
    the gradient to read (native, C-contiguous).  ``grad_may_be_param``:
    False for a rule that reads the gradient after writing the parameter
    (Nesterov)."""
    grad = native(grad)
    check_float_array("param", param)
    check_float_array("grad", grad)
    for name, s in states.items():
        check_float_array(name, s)
    check_same_shape("param", param, grad=grad, **states)
    check_same_dtype("param", param, grad=grad, **states)
    check_writeable_contiguous("param", param)
    for name in states:
        check_writeable_contiguous(name, states[name])
    # The gradient may be the parameter itself (each element is read before
    # it is written) but must not otherwise overlap what the update writes.
    written = {"param": param}
    written.update(states)
    check_no_overlap(written, {"grad": grad},
                     same_ok=[("param", "grad")] if grad_may_be_param else [])
    if not (grad.flags.c_contiguous and grad.flags.aligned):
        grad = np.ascontiguousarray(grad)
    return grad


def sgd_update(param, grad, lr, *, num_threads=None):
    """In-place SGD step: ``param -= lr * grad``.

    ``param`` is updated in place and must be C-contiguous and writeable;
    ``grad`` may have any layout (a non-contiguous one is copied once).
    Both must share shape and dtype (float32 or float64); ``lr`` is rounded
    to that dtype, as NumPy rounds a Python float operand.
    """
    lr = _real("lr", lr)
    grad = _update_args(param, grad, {})
    _optim._update_one(_optim.KINDS["sgd"], param, grad, None, None, lr, 0, 0, 0, num_threads)


def momentum_update(param, grad, v, lr, momentum=0.9, *, num_threads=None):
    """In-place momentum step: ``v = momentum*v - lr*grad;  param += v``.

    ``param`` and ``v`` are updated in place and must be C-contiguous,
    writeable and separate; ``grad`` may have any layout.  All share shape
    and dtype (float32 or float64).
    """
    lr, momentum = _real("lr", lr), _real("momentum", momentum)
    grad = _update_args(param, grad, {"v": v})
    _optim._update_one(_optim.KINDS["momentum"], param, grad, v, None, lr, momentum, 0, 0,
                       num_threads)


def nesterov_update(param, grad, v, lr, momentum=0.9, *, num_threads=None):
    """In-place Nesterov step in the book's form, using the old ``v``:
    ``param += momentum²·v - (1+momentum)·lr·grad;  v = momentum·v - lr·grad``.

    ``param`` and ``v`` are updated in place (C-contiguous, writeable,
    separate); ``grad`` may have any layout but must not be ``param`` (the
    book's last statement reads it after the parameter has changed).  Same
    shape and dtype (float32 or float64).
    """
    lr, momentum = _real("lr", lr), _real("momentum", momentum)
    grad = _update_args(param, grad, {"v": v}, False)
    _optim._update_one(_optim.KINDS["nesterov"], param, grad, v, None, lr, momentum, 0, 0,
                       num_threads)


def adagrad_update(param, grad, h, lr, eps=1e-7, *, num_threads=None):
    """In-place AdaGrad step: ``h += grad²;  param -= lr·grad / (√h + eps)``.

    ``param`` and ``h`` are updated in place (C-contiguous, writeable,
    separate); ``grad`` may have any layout.  Same shape and dtype
    (float32 or float64).
    """
    lr, eps = _real("lr", lr), _real("eps", eps)
    grad = _update_args(param, grad, {"h": h})
    _optim._update_one(_optim.KINDS["adagrad"], param, grad, h, None, lr, eps, 0, 0, num_threads)


def rmsprop_update(param, grad, h, lr, decay_rate=0.99, eps=1e-7, *, num_threads=None):
    """In-place RMSprop step:
    ``h = decay_rate·h + (1-decay_rate)·grad²;  param -= lr·grad / (√h + eps)``.

    ``param`` and ``h`` are updated in place (C-contiguous, writeable,
    separate); ``grad`` may have any layout.  Same shape and dtype
    (float32 or float64).
    """
    lr, decay_rate, eps = _real("lr", lr), _real("decay_rate", decay_rate), _real("eps", eps)
    grad = _update_args(param, grad, {"h": h})
    _optim._update_one(_optim.KINDS["rmsprop"], param, grad, h, None, lr, decay_rate, eps, 0,
                       num_threads)


def adam_update(param, grad, m, v, lr_t, beta1=0.9, beta2=0.999, eps=1e-7, *,
                num_threads=None):
    """In-place Adam step with the book's bias correction folded into ``lr_t``.

    m += (1-beta1)(grad - m);  v += (1-beta2)(grad² - v);
    param -= lr_t · m / (√v + eps),  lr_t = lr·√(1-beta2^t)/(1-beta1^t).

    ``param``, ``m`` and ``v`` are updated in place and must be C-contiguous,
    writeable and separate; ``grad`` may have any layout (a non-contiguous
    one is copied once).  All four share shape and dtype (float32 or float64).
    """
    lr_t, beta1 = _real("lr_t", lr_t), _real("beta1", beta1)
    beta2, eps = _real("beta2", beta2), _real("eps", eps)
    grad = _update_args(param, grad, {"m": m, "v": v})
    _optim._update_one(_optim.KINDS["adam"], param, grad, m, v, lr_t, beta1, beta2, eps,
                       num_threads)


# -- activations (fastnn/_kernels/activations.pyx) ---------------------------------
# float32/float64 inputs of any layout (copied once if not C-contiguous);
# outputs allocated, or written into out=/mask= buffers.  An output may be
# the input itself (each element is read before it is written) but must not
# otherwise overlap an input.

def _bool_mask(name, mask, like_name, like, written):
    """A bool mask of ``like``'s shape (C-contiguous: copied if read, required
    if ``written``)."""
    return _array(name, mask, like=(like_name, like), same_shape=True, written=written,
                  contiguous=True, dtype=(_BOOL,))


def relu_forward(x, out=None, mask=None):
    """ReLU as the book writes it: ``mask = x <= 0;  out = x;  out[mask] = 0``.

    Returns ``(out, mask)``: ``out`` has ``x``'s dtype, ``mask`` is bool.
    NaN is not masked and passes through as NaN.  ``x`` is float32 or
    float64 of any shape and layout (a non-contiguous one is copied once);
    ``out`` and ``mask``, when given, are filled in place and must be
    C-contiguous, writeable and of ``x``'s shape (``out`` also of its dtype);
    ``out`` may be ``x`` itself.
    """
    x = _array("x", x, contiguous=True)
    out = _out("out", out, "x", x, {"x": x}, same_ok=("x",))
    if mask is None:
        mask = np.empty(x.shape, _BOOL)
    else:
        mask = _bool_mask("mask", mask, "x", x, True)
        check_no_overlap({"mask": mask}, {"x": x, "out": out})
    _act._relu_into(x, out, mask)
    return out, mask


def relu_backward(dout, mask, out=None):
    """ReLU gradient: ``dx = dout;  dx[mask] = 0`` (``dout`` is not modified).

    ``dout`` is float32 or float64, any layout; ``mask`` is the bool array
    from :func:`relu_forward` (``x <= 0``), of ``dout``'s shape.  ``out``,
    when given, is filled in place (C-contiguous, writeable, ``dout``'s
    shape and dtype) and may be ``dout`` itself.
    """
    dout = _array("dout", dout, contiguous=True)
    mask = _bool_mask("mask", mask, "dout", dout, False)
    out = _out("out", out, "dout", dout, {"dout": dout, "mask": mask}, same_ok=("dout",))
    _act._relu_backward_into(dout, mask, out)
    return out


def sigmoid_forward(x, out=None):
    """Sigmoid: ``out = 1 / (1 + exp(-x))`` in ``x``'s precision.

    ``exp`` is NumPy's (its SIMD loops beat libm's scalar exp several times
    over, and the result is the reference's to the bit); the negation, exp
    and ``1/(1+e)`` run in place in ``out``, without temporaries.  Like
    NumPy, large negative inputs give 0 with an overflow warning.
    ``x`` is float32 or float64, any shape and layout; ``out``, when given,
    is filled in place (C-contiguous, writeable, ``x``'s shape and dtype)
    and may be ``x`` itself.
    """
    x = _array("x", x, contiguous=True)
    out = _out("out", out, "x", x, {"x": x}, same_ok=("x",))
    _act._sigmoid_into(x, out)
    return out


def sigmoid_backward(dout, y, out=None):
    """Sigmoid gradient from its output ``y``: ``dx = dout * (1 - y) * y``.

    ``dout`` and ``y`` are float32 or float64 of one shape and dtype, any
    layout.  ``out``, when given, is filled in place (C-contiguous,
    writeable) and may be ``dout`` or ``y`` itself.
    """
    dout = _array("dout", dout, contiguous=True)
    y = _array("y", y, like=("dout", dout), same_shape=True, contiguous=True)
    out = _out("out", out, "dout", dout, {"dout": dout, "y": y}, same_ok=("dout", "y"))
    _act._sigmoid_backward_into(dout, y, out)
    return out


# -- softmax with cross-entropy (fastnn/_kernels/softmax.pyx) ----------------------

def _rows_and_labels(name, a, t, label_smoothing):
    """The checked (N, C) rows ``a`` (called ``name``), labels ``t`` (class
    indices as uint8/int32/int64, or one-hot rows of a's dtype: what the
    kernels read) and smoothing factor."""
    label_smoothing = _real("label_smoothing", label_smoothing)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError("label_smoothing must be in [0, 1), got %r" % (label_smoothing,))
    a = _array(name, a, 2, contiguous=True)
    n, c = a.shape
    if n == 0 or c == 0:
        raise ValueError("%s must have at least one row and one column, got shape %s"
                         % (name, a.shape))
    if not isinstance(t, np.ndarray):
        raise TypeError("t must be a numpy.ndarray, got %s" % type(t).__name__)
    t = native(t)                  # the kernels read the labels' raw bytes
    if t.ndim == 2:
        check_same_shape(name, a, t=t)
        if t.dtype != a.dtype:
            raise TypeError("t holds one-hot rows of dtype %s but %s has dtype %s; "
                            "they must match" % (t.dtype, name, a.dtype))
        return a, _sm._labels_for_kernel(t, c), label_smoothing
    if t.ndim != 1:
        raise ValueError("t must be class indices of shape (%d,) or one-hot rows of shape "
                         "(%d, %d), got shape %s" % (n, n, c, t.shape))
    if t.dtype.kind not in "iu":
        raise TypeError("t must hold integer class indices, got dtype %s" % t.dtype)
    if t.shape[0] != n:
        raise ValueError("t has %d labels but %s has %d rows" % (t.shape[0], name, n))
    return a, _sm._labels_for_kernel(t, c), label_smoothing


def softmax_cross_entropy_forward(x, t, label_smoothing=0.0, y_out=None):
    """Softmax over rows, then the mean cross-entropy over the batch.

    ``y = exp(x - max_row) / sum_row``;  ``loss = -sum_i log(y[i, t_i] + 1e-7) / N``,
    or with ``label_smoothing = eps > 0``:
    ``loss = -sum_ij target_ij · log(y_ij + 1e-7) / N``,
    ``target = (1-eps)·onehot + eps/C``.  Returns ``(loss, y)``, the loss a
    NumPy scalar of ``x``'s dtype.

    ``x`` is (N, C) float32 or float64, any layout.  ``t`` is integer class
    indices (N,) in [0, C) (any integer dtype) or one-hot rows (N, C) of
    ``x``'s dtype; the loss then reads the class by argmax, as the book
    does.  ``y_out``, when given, is filled in place (C-contiguous,
    writeable, (N, C), ``x``'s dtype) and may be ``x`` itself.
    """
    x, t, label_smoothing = _rows_and_labels("x", x, t, label_smoothing)
    y = _out("y_out", y_out, "x", x, {"x": x, "t": t}, same_ok=("x",))
    return _sm._forward_into(x, t, label_smoothing, y), y


def softmax_cross_entropy_backward(y, t, label_smoothing=0.0, out=None):
    """Gradient of the mean softmax cross-entropy w.r.t. the logits.

    ``dx = (y - onehot(t)) / N``, or ``(y - target) / N`` with
    ``target = (1-eps)·onehot + eps/C`` when ``label_smoothing = eps > 0``.
    ``y`` is the softmax output (N, C), float32 or float64, any layout;
    ``t`` as in :func:`softmax_cross_entropy_forward` (one-hot rows are
    used by value here, as the book does).  ``out``, when given, is filled
    in place (C-contiguous, writeable, (N, C), ``y``'s dtype) and may be
    ``y`` itself.
    """
    y, t, label_smoothing = _rows_and_labels("y", y, t, label_smoothing)
    out = _out("out", out, "y", y, {"y": y, "t": t}, same_ok=("y",))
    return _sm._backward_into(y, t, label_smoothing, out)


# -- affine (fastnn/_kernels/affine.pyx) -----------------------------------------
# out = x·W + b;  dx = dout·Wᵀ, dW = xᵀ·dout (+ weight_decay·W), db = Σ_rows dout.
# BLAS GEMM (fastnn's own OpenBLAS); x, W, dout in C or Fortran order or
# transposed views go to GEMM as they are, other strides are copied once; all
# operands one dtype (float32 or float64); out=/dx=/dW=/db= buffers must be
# C-contiguous.

def affine_forward(x, W, b, out=None):
    """Affine map ``out = x·W + b`` through BLAS GEMM.

    x: (N, K), W: (K, M), b: (M,), all float32 or all float64 (no implicit
    casts; cast first, or use :class:`fastnn.layers.Affine`, which follows
    NumPy's promotion).  x and W may be C-ordered, Fortran-ordered or
    transposed views (passed to GEMM with its transpose flag) or any other
    strided view (copied once).  ``out`` (N, M), if given, must be a
    writeable C-contiguous array of the same dtype that shares no memory
    with the inputs; it is overwritten and returned.  Otherwise a new array
    is returned.
    """
    x, W, b = native(x), native(W), native(b)
    check_float_array("x", x, 2)
    check_float_array("W", W, 2)
    check_float_array("b", b, 1)
    check_same_dtype("x", x, W=W, b=b)
    if W.shape[0] != x.shape[1]:
        raise ValueError("W has shape %s but x has shape %s: W.shape[0] must equal "
                         "x.shape[1]" % (W.shape, x.shape))
    if b.shape[0] != W.shape[1]:
        raise ValueError("b has shape %s but W has shape %s: b must have shape (%d,)"
                         % (b.shape, W.shape, W.shape[1]))
    out = check_output("out", out, (x.shape[0], W.shape[1]), x.dtype, {"x": x, "W": W, "b": b})
    return _aff._forward_into(x, W, b, out)


def affine_backward(dout, x, W, dx=None, dW=None, db=None, *, compute_dx=True,
                    weight_decay=0.0):
    """Gradients of ``out = x·W + b``: returns ``(dx, dW, db)``.

    dx = dout·Wᵀ (N, K)   — skipped, and returned as None, when
                            ``compute_dx`` is False;
    dW = xᵀ·dout + weight_decay·W (K, M) — ``weight_decay`` folds the
                            gradient of the L2 term ½λΣW² into the same GEMM;
    db = Σ_rows dout (M,).

    dout: (N, M), x: (N, K), W: (K, M), all float32 or all float64; any
    layout (C, Fortran and transposed views go to GEMM directly, other
    strides are copied once).  ``dx``/``dW``/``db``, if given, must be
    writeable C-contiguous arrays of that dtype and shape sharing no memory
    with the inputs or each other; they are overwritten and returned.
    """
    dout, x, W = native(dout), native(x), native(W)
    check_float_array("dout", dout, 2)
    check_float_array("x", x, 2)
    check_float_array("W", W, 2)
    check_same_dtype("dout", dout, x=x, W=W)
    n, m = dout.shape
    k = x.shape[1]
    if x.shape[0] != n:
        raise ValueError("x has shape %s but dout has shape %s: they must have the same "
                         "number of rows" % (x.shape, dout.shape))
    if W.shape != (k, m):
        raise ValueError("W has shape %s but must have shape %s to match x %s and dout %s"
                         % (W.shape, (k, m), x.shape, dout.shape))
    weight_decay = float(weight_decay)
    inputs = {"dout": dout, "x": x, "W": W}
    if compute_dx:
        dx = check_output("dx", dx, (n, k), dout.dtype, inputs)
        inputs["dx"] = dx
    else:
        dx = None
    dW = check_output("dW", dW, (k, m), dout.dtype, inputs)
    inputs["dW"] = dW
    db = check_output("db", db, (m,), dout.dtype, inputs)
    return _aff._backward_into(dout, x, W, dx, dW, db, weight_decay)


# -- batch normalization (fastnn/_kernels/batchnorm.pyx) ---------------------------
# The book's batch norm on (N, D): per-column mean and biased variance, eps
# 1e-6; training forward in two passes (running statistics updated in place),
# inference in one, backward in two.  float32/float64; x/dout rows with unit
# column stride (others copied once); out=/xc=/xn=/std=/dx=/... buffers
# C-contiguous.

def _vector(name, a, d, dtype, ref="x"):
    """A per-column (d,) array of the rows' dtype, C-contiguous."""
    a = native(a)
    check_float_array(name, a, 1)
    if a.dtype != dtype:
        raise TypeError("%s has dtype %s but %s has dtype %s; they must match"
                        % (name, a.dtype, ref, dtype))
    if a.shape[0] != d:
        raise ValueError("%s has shape %s but must have shape (%d,), one entry per column"
                         % (name, a.shape, d))
    return np.ascontiguousarray(a)


def _running(name, a, d, dtype):
    """A running statistic updated in place: (d,), x's dtype, C-contiguous, writeable."""
    check_float_array(name, a, 1)
    if a.dtype != dtype:
        raise TypeError("%s has dtype %s but x has dtype %s; they must match"
                        % (name, a.dtype, dtype))
    if a.shape[0] != d:
        raise ValueError("%s has shape %s but must have shape (%d,)" % (name, a.shape, d))
    if not a.flags.c_contiguous or not a.flags.writeable:
        raise ValueError("%s is updated in place and must be a writeable C-contiguous "
                         "array" % name)
    return a


def batchnorm_forward_train(x, gamma, beta, running_mean=None, running_var=None,
                            momentum=0.9, eps=1e-6, out=None, xc=None, xn=None, std=None,
                            *, num_threads=None):
    """Training-mode batch normalization; returns ``(out, xc, xn, std)``.

    Per column j of x (N, D), with the biased batch variance:
        mean_j = Σ_i x_ij / N,   var_j = Σ_i (x_ij - mean_j)² / N,
        std_j  = sqrt(var_j + eps),
        xc = x - mean,   xn = xc / std,   out = gamma·xn + beta;
    and, if given, the running statistics are updated in place:
        running_mean = momentum·running_mean + (1-momentum)·mean
        running_var  = momentum·running_var  + (1-momentum)·var.

    x: (N, D) float32 or float64, rows with unit column stride (other
    layouts are copied once); gamma, beta, running_mean, running_var: (D,)
    of x's dtype (the running statistics writeable and C-contiguous, both
    given or both None).  ``out``/``xc``/``xn`` (N, D) and ``std`` (D,), if
    given, must be writeable C-contiguous arrays of x's dtype not sharing
    memory with the inputs; they are overwritten.  ``eps`` defaults to the
    book's 1e-6.  Mean and variance are computed in double.
    """
    x = native(x)
    check_float_array("x", x, 2)
    n, d = x.shape
    if n == 0:
        raise ValueError("x has shape %s: batch normalization needs at least one row"
                         % (x.shape,))
    gamma = _vector("gamma", gamma, d, x.dtype)
    beta = _vector("beta", beta, d, x.dtype)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be arrays or both None")
    if running_mean is not None:
        running_mean = _running("running_mean", running_mean, d, x.dtype)
        running_var = _running("running_var", running_var, d, x.dtype)
    out = check_output("out", out, (n, d), x.dtype)
    xc = check_output("xc", xc, (n, d), x.dtype)
    xn = check_output("xn", xn, (n, d), x.dtype)
    std = check_output("std", std, (d,), x.dtype)
    check_no_overlap(dict(running_mean=running_mean, running_var=running_var, out=out,
                          xc=xc, xn=xn, std=std), dict(x=x, gamma=gamma, beta=beta))
    _bn._train_into(x, gamma, beta, running_mean, running_var, float(momentum), float(eps),
                    out, xc, xn, std, num_threads)
    return out, xc, xn, std


def batchnorm_forward_infer(x, gamma, beta, running_mean, running_var, eps=1e-6,
                            out=None, *, num_threads=None):
    """Inference-mode batch normalization, one pass:
        out = gamma·(x - running_mean)/sqrt(running_var + eps) + beta
    (per column; computed as (x - running_mean)·s + beta with
    s = gamma/sqrt(running_var + eps)).

    x: (N, D) float32 or float64 (rows with unit column stride; other layouts
    are copied once); gamma, beta, running_mean, running_var: (D,) of x's
    dtype.  ``out`` (N, D), if given, must be a writeable C-contiguous array
    of x's dtype sharing no memory with the inputs; it is overwritten.
    Returns ``out``.
    """
    x = native(x)
    check_float_array("x", x, 2)
    n, d = x.shape
    gamma = _vector("gamma", gamma, d, x.dtype)
    beta = _vector("beta", beta, d, x.dtype)
    running_mean = _vector("running_mean", running_mean, d, x.dtype)
    running_var = _vector("running_var", running_var, d, x.dtype)
    out = check_output("out", out, (n, d), x.dtype,
                       dict(x=x, gamma=gamma, beta=beta, running_mean=running_mean,
                            running_var=running_var))
    return _bn._infer_into(x, gamma, beta, running_mean, running_var, float(eps), out,
                           num_threads)


def batchnorm_backward(dout, xn, std, gamma, dx=None, dgamma=None, dbeta=None,
                       *, num_threads=None):
    """Gradients of training-mode batch normalization; returns
    ``(dx, dgamma, dbeta)``.

    Per column, with N rows:
        dbeta  = Σ_i dout,   dgamma = Σ_i xn·dout,
        dx     = (gamma/std)·(dout - dbeta/N - xn·dgamma/N),
    the book's chain rule through xc, std, var and mean, simplified with
    xn = xc/std (equal to rounding).

    dout, xn: (N, D) float32 or float64 (copied once if not C-contiguous);
    std, gamma: (D,) of the same dtype (``xn`` and ``std`` as returned by
    :func:`batchnorm_forward_train`).  ``dx`` (N, D), ``dgamma``/``dbeta``
    (D,), if given, must be writeable C-contiguous arrays of that dtype
    sharing no memory with the inputs; they are overwritten.
    """
    dout = native(dout)
    xn = native(xn)
    check_float_array("dout", dout, 2)
    check_float_array("xn", xn, 2)
    check_same_dtype("dout", dout, xn=xn)
    if xn.shape != dout.shape:
        raise ValueError("xn has shape %s but dout has shape %s; they must match"
                         % (xn.shape, dout.shape))
    n, d = dout.shape
    if n == 0:
        raise ValueError("dout has shape %s: batch normalization needs at least one row"
                         % (dout.shape,))
    std = _vector("std", std, d, dout.dtype, "dout")
    gamma = _vector("gamma", gamma, d, dout.dtype, "dout")
    dout = np.ascontiguousarray(dout)
    xn = np.ascontiguousarray(xn)
    dx = check_output("dx", dx, (n, d), dout.dtype)
    dgamma = check_output("dgamma", dgamma, (d,), dout.dtype)
    dbeta = check_output("dbeta", dbeta, (d,), dout.dtype)
    check_no_overlap(dict(dx=dx, dgamma=dgamma, dbeta=dbeta),
                     dict(dout=dout, xn=xn, std=std, gamma=gamma))
    return _bn._backward_into(dout, xn, std, gamma, dx, dgamma, dbeta, num_threads)


# -- dropout (fastnn/_kernels/dropout.pyx) -----------------------------------------
# Non-inverted dropout: out = x·mask, mask = u > ratio drawn from a NumPy bit
# generator under its lock (mode='exact': the book's np.random.rand stream bit
# for bit; mode='fast': 32-bit draws); dx = dout·mask.  float32/float64 of any
# shape (non-contiguous inputs copied once); bool masks, one byte per element.

def dropout_forward(x, dropout_ratio, out=None, mask=None, *, mode="exact", rng=None,
                    train_flg=True):
    """Non-inverted dropout (the book's): returns ``(out, mask)``.

    Training (``train_flg`` true): ``mask = u > dropout_ratio`` elementwise
    and ``out = x·mask``, drawn and applied in one pass, where

    * ``mode='exact'``: u is the double ``rng.random_sample()`` /
      ``rng.random()`` would return, element by element, so after
      ``np.random.seed(s)`` the mask equals the book's
      ``np.random.rand(*x.shape) > dropout_ratio`` bit for bit and leaves
      the generator in the same state;
    * ``mode='fast'``: u is a 32-bit word (``next_uint32``) compared with
      ``floor(dropout_ratio·2³²)``: half the random bits and a faster path;
      the keep probability is within 2⁻³² of ``1 - dropout_ratio``.

    ``rng``: None (the global ``np.random`` state, what ``np.random.seed``
    seeds), a ``numpy.random.Generator``, ``RandomState`` or
    ``BitGenerator``; drawn from under its lock.

    Inference (``train_flg`` false): ``out = x·(1 - dropout_ratio)``,
    nothing drawn; returns ``(out, None)``.

    x: float32 or float64 of any shape (a non-contiguous x is copied once);
    ``dropout_ratio`` in [0, 1).  ``out`` (x's shape and dtype) and ``mask``
    (x's shape, bool, one byte per element), if given, must be writeable
    C-contiguous arrays; ``out`` may be ``x`` itself (in place), otherwise
    neither may share memory with x.  They are overwritten.
    """
    ratio = check_dropout_ratio(dropout_ratio)
    fast = check_dropout_mode(mode)
    x = native(x)
    check_float_array("x", x)
    bit_generator = _drop._bit_generator_of(rng)
    out = check_output("out", out, x.shape, x.dtype, {"x": x}, allow_same=True)
    if not train_flg:
        np.multiply(x, 1.0 - ratio, out=out)
        return out, None
    mask = check_output("mask", mask, x.shape, _BOOL, {"x": x}, allow_same=True)
    check_no_overlap({"out": out, "mask": mask})
    x = np.ascontiguousarray(x)
    _drop._forward_into(x, mask, out, ratio, fast, bit_generator)
    return out, mask


def dropout_backward(dout, mask, dx=None, *, num_threads=None):
    """Gradient of dropout: ``dx = dout·mask`` in one pass.

    dout: float32 or float64 (a non-contiguous one is copied once); mask: a
    bool (or uint8 0/1) array of dout's shape, as returned by
    :func:`dropout_forward`.  ``dx``, if given, must be a writeable
    C-contiguous array of dout's shape and dtype; it may be ``dout`` itself
    (in place), otherwise it must not share memory with it.  Returns dx.
    """
    dout = native(dout)
    check_float_array("dout", dout)
    if not isinstance(mask, np.ndarray):
        raise TypeError("mask must be a numpy.ndarray, got %s" % type(mask).__name__)
    if mask.dtype not in (_BOOL, np.dtype(np.uint8)):
        raise TypeError("mask must have dtype bool (or uint8 0/1), got %s" % mask.dtype)
    if mask.shape != dout.shape:
        raise ValueError("mask has shape %s but dout has shape %s; they must match"
                         % (mask.shape, dout.shape))
    if num_threads is not None:
        check_thread_count(num_threads, "num_threads")
    dx = check_output("dx", dx, dout.shape, dout.dtype, {"dout": dout, "mask": mask},
                      allow_same=True)
    dout = np.ascontiguousarray(dout)
    return _drop._backward_into(dout, _drop._mask01(mask), dx, num_threads)
