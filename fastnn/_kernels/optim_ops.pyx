# cython: language_level=3
"""The optimizers' compiled entry points, on the drivers of ``optim.pyx``:
``OptimOps`` (the ``*_step`` overrides of NumpyOps mixed into
:class:`fastnn.backends.CompiledOps`) and the checked single-array
functions of ``fastnn.ops`` (``sgd_update`` ... ``adam_update``).
"""
import numpy as np
cimport numpy as cnp
from fastnn._kernels.optim cimport (KIND_SGD, KIND_MOMENTUM, KIND_NESTEROV, KIND_ADAGRAD,
                                    KIND_RMSPROP, KIND_ADAM, _update_all, _run_one)

from fastnn._checks import (check_float_array, check_no_overlap, check_same_dtype,
                            check_same_shape, check_writeable_contiguous, native)

cnp.import_array()


# -- OptimOps --------------------------------------------------------------------

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


cdef _pass(int kind, params, grads, keys, state1, state2, tuple hyper, list skipped):
    """The compiled pass of an ``OptimOps`` step over the keys it takes; the
    others go to ``skipped``.  Python ints and floats are "weak" in NumPy 2
    (rounded to the array's dtype) and the kernels do the same; a NumPy
    scalar is not (a float64 ``lr`` makes the reference compute float32
    parameters in float64), so the dtypes it would promote go to NumPy."""
    cdef bint ok32 = True, ok64 = True
    cdef double h[4]
    cdef int i
    for i in range(4):
        x = hyper[i]
        h[i] = 0.0
        if type(x) is float or type(x) is int or type(x) is bool:
            h[i] = x
            continue
        if not isinstance(x, (np.floating, np.integer, np.bool_)):
            ok32 = ok64 = False  # arrays, Decimals, ...: NumPy's business
            break
        h[i] = x
        ok32 = ok32 and np.result_type(_F32, x) == _F32
        ok64 = ok64 and np.result_type(_F64, x) == _F64
    if not (ok32 or ok64):
        skipped.extend(params.keys() if keys is None else keys)
        return
    _update_all(kind, params, grads, keys, state1, state2, h[0], h[1], h[2], h[3],
                ok32, ok64, skipped)


cdef _step(int kind, numpy_step, params, grads, keys, state1, state2, tuple hyper,
           tuple args):
    """One ``OptimOps`` step: the compiled pass, then ``numpy_step`` (the
    NumpyOps method, through ``super()``) for the keys it skipped, also when
    the pass stops on an error (a missing gradient)."""
    cdef list skipped = []
    try:
        _pass(kind, params, grads, keys, state1, state2, hyper, skipped)
    finally:
        if skipped:
            numpy_step(params, grads, *args, keys=skipped)


class OptimOps:
    """The optimizers' updates as one compiled pass over a params dict: every
    key whose arrays the kernels take (native C-contiguous writeable float32/
    float64 parameters, gradients of the same dtype and shape in any layout,
    states of the same kind, nothing aliased in a way where the reference's
    statement order matters) is updated under one GIL release; the skipped
    keys go to NumpyOps after the pass (also when the pass stops on a
    missing gradient, as the reference's loop would have updated the keys
    before it).  Each key's update reads and writes only its own arrays, so
    doing the skipped keys last gives the reference's numbers."""

    def sgd_step(self, params, grads, lr, keys=None):
        _step(KIND_SGD, super().sgd_step, params, grads, keys, None, None,
              (lr, 0, 0, 0), (lr,))

    def momentum_step(self, params, grads, v, lr, momentum, keys=None):
        _step(KIND_MOMENTUM, super().momentum_step, params, grads, keys, v, None,
              (lr, momentum, 0, 0), (v, lr, momentum))

    def nesterov_step(self, params, grads, v, lr, momentum, keys=None):
        _step(KIND_NESTEROV, super().nesterov_step, params, grads, keys, v, None,
              (lr, momentum, 0, 0), (v, lr, momentum))

    def adagrad_step(self, params, grads, h, lr, eps=1e-7, keys=None):
        _step(KIND_ADAGRAD, super().adagrad_step, params, grads, keys, h, None,
              (lr, eps, 0, 0), (h, lr, eps))

    def rmsprop_step(self, params, grads, h, lr, decay_rate, eps=1e-7, keys=None):
        _step(KIND_RMSPROP, super().rmsprop_step, params, grads, keys, h, None,
              (lr, decay_rate, eps, 0), (h, lr, decay_rate, eps))

    def adam_step(self, params, grads, m, v, lr_t, beta1, beta2, eps=1e-7, keys=None):
        _step(KIND_ADAM, super().adam_step, params, grads, keys, m, v,
              (lr_t, beta1, beta2, eps), (m, v, lr_t, beta1, beta2, eps))


# -- checked single-array wrappers --------------------------------------------

cdef _check_update_args(param, grad, states, bint grad_may_be_param=True):
    """Validate ``param``/``grad``/state arrays; return the grad to read
    (native byte order, C-contiguous).  ``grad_may_be_param``: False for a
    rule that reads the gradient after writing the parameter (Nesterov)."""
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
    if not cnp.PyArray_ISCARRAY_RO(<cnp.ndarray>grad):
        return np.ascontiguousarray(grad)
    return grad


def sgd_update(param, grad, double lr, *, num_threads=None):
    """In-place SGD step: ``param -= lr * grad``.

    ``param`` is updated in place and must be C-contiguous and writeable;
    ``grad`` may have any layout (a non-contiguous one is copied once).
    Both must share shape and dtype (float32 or float64); ``lr`` is rounded
    to that dtype, as NumPy rounds a Python float operand.
    """
    grad = _check_update_args(param, grad, {})
    _run_one(KIND_SGD, param, grad, None, None, lr, 0, 0, 0, num_threads)


def momentum_update(param, grad, v, double lr, double momentum=0.9, *, num_threads=None):
    """In-place momentum step: ``v = momentum*v - lr*grad;  param += v``.

    ``param`` and ``v`` are updated in place and must be C-contiguous,
    writeable and separate; ``grad`` may have any layout.  All share shape
    and dtype (float32 or float64).
    """
    grad = _check_update_args(param, grad, {"v": v})
    _run_one(KIND_MOMENTUM, param, grad, v, None, lr, momentum, 0, 0, num_threads)


def nesterov_update(param, grad, v, double lr, double momentum=0.9, *, num_threads=None):
    """In-place Nesterov step in the book's form, using the old ``v``:
    ``param += momentum²·v - (1+momentum)·lr·grad;  v = momentum·v - lr·grad``.

    ``param`` and ``v`` are updated in place (C-contiguous, writeable,
    separate); ``grad`` may have any layout but must not be ``param`` (the
    book's last statement reads it after the parameter has changed).  Same
    shape and dtype (float32 or float64).
    """
    grad = _check_update_args(param, grad, {"v": v}, False)
    _run_one(KIND_NESTEROV, param, grad, v, None, lr, momentum, 0, 0, num_threads)


def adagrad_update(param, grad, h, double lr, double eps=1e-7, *, num_threads=None):
    """In-place AdaGrad step: ``h += grad²;  param -= lr·grad / (√h + eps)``.

    ``param`` and ``h`` are updated in place (C-contiguous, writeable,
    separate); ``grad`` may have any layout.  Same shape and dtype
    (float32 or float64).
    """
    grad = _check_update_args(param, grad, {"h": h})
    _run_one(KIND_ADAGRAD, param, grad, h, None, lr, eps, 0, 0, num_threads)


def rmsprop_update(param, grad, h, double lr, double decay_rate=0.99, double eps=1e-7,
                   *, num_threads=None):
    """In-place RMSprop step:
    ``h = decay_rate·h + (1-decay_rate)·grad²;  param -= lr·grad / (√h + eps)``.

    ``param`` and ``h`` are updated in place (C-contiguous, writeable,
    separate); ``grad`` may have any layout.  Same shape and dtype
    (float32 or float64).
    """
    grad = _check_update_args(param, grad, {"h": h})
    _run_one(KIND_RMSPROP, param, grad, h, None, lr, decay_rate, eps, 0, num_threads)


def adam_update(param, grad, m, v, double lr_t, double beta1=0.9,
                double beta2=0.999, double eps=1e-7, *, num_threads=None):
    """In-place Adam step with the book's bias correction folded into ``lr_t``.

    m += (1-beta1)(grad - m);  v += (1-beta2)(grad² - v);
    param -= lr_t · m / (√v + eps),  lr_t = lr·√(1-beta2^t)/(1-beta1^t).

    ``param``, ``m`` and ``v`` are updated in place and must be C-contiguous,
    writeable and separate; ``grad`` may have any layout (a non-contiguous
    one is copied once).  All four share shape and dtype (float32 or float64).
    """
    grad = _check_update_args(param, grad, {"m": m, "v": v})
    _run_one(KIND_ADAM, param, grad, m, v, lr_t, beta1, beta2, eps, num_threads)
