# cython: language_level=3
"""The optimizers' compiled entry points, on the drivers of ``optim.pyx``:
``OptimOps`` (the ``*_step`` overrides of NumpyOps mixed into
:class:`fastnn.backends.CompiledOps`) and the driver of the checked
single-array functions of :mod:`fastnn.ops` (``sgd_update`` ...
``adam_update``).
"""
import numpy as np
cimport numpy as cnp
from fastnn._kernels.optim cimport (KIND_SGD, KIND_MOMENTUM, KIND_NESTEROV, KIND_ADAGRAD,
                                    KIND_RMSPROP, KIND_ADAM, _update_all, _run_one)

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


# -- the driver of the checked single-array functions (fastnn.ops) --------------

# The rules' numbers, for fastnn.ops.
KINDS = {"sgd": KIND_SGD, "momentum": KIND_MOMENTUM, "nesterov": KIND_NESTEROV,
         "adagrad": KIND_ADAGRAD, "rmsprop": KIND_RMSPROP, "adam": KIND_ADAM}


def _update_one(int kind, cnp.ndarray p, cnp.ndarray g, s1, s2, double a, double b,
                double c, double d, num_threads):
    """One rule on one array, unchecked: p, g and the states s1, s2 (None when
    the rule has fewer) native, C-contiguous, of one float dtype and shape;
    p and the states writeable and apart; g is p or apart from what is
    written.  ``num_threads`` None, or a thread count (checked here)."""
    _run_one(kind, p, g, s1, s2, a, b, c, d, num_threads)
