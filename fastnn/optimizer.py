"""The book's ``common/optimizer.py`` on compiled kernels (the default backend).

Same classes, constructor defaults, attributes (``v``, ``h``, ``m``,
``iter``) and update rules as :mod:`fastnn.reference.optimizer`.  One
``update`` is one call into compiled code: every parameter array the kernels
can take is updated by one fused in-place pass, all of them under one GIL
release (per-array Python overhead dominates the book's small networks).

A key takes the reference formula instead (``_update_key``, after the
compiled pass over the other keys) when its parameter is not a C-contiguous writeable float32/float64
ndarray (Python floats, as in the book's 2-D demo; views; read-only arrays),
its gradient has another dtype or shape, or its state array was replaced by
one the kernel cannot update.  A gradient of another layout is copied once.

Hyperparameters: Python ints and floats are "weak" in NumPy 2 (rounded to
the array's dtype), and the kernels do the same.  A NumPy float64 scalar
(``lr = 10 ** np.random.uniform(-6, -2)``) is not: with float32 parameters
the reference then computes in float64, so those keys take the reference
path to give the same numbers.

Momentum's ``v`` arrays are updated in place here, where the reference
rebinds ``self.v[key]`` to a new array each step; the values are the same.

Threads: an array of at least ``fastnn._kernels.optim.PARALLEL_MIN_SIZE``
(65,536) elements is split over ``fastnn.num_threads()`` threads (1 unless
FASTNN_NUM_THREADS or OMP_NUM_THREADS say otherwise); results do not depend
on the thread count.
"""
import numpy as np

from .reference import optimizer as _ref
from ._kernels import optim as _k

__all__ = ["np", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_WEAK = (int, float, bool)


def _kernel_ok(p, g):
    """True when ``p`` can be updated in place by a kernel with gradient ``g``
    (of any layout).

    The compiled driver (``_update_all``) applies the same test in C, plus
    checks of the state arrays and of the hyperparameters' types; this
    Python version documents it and serves the tests.
    """
    return (type(p) is np.ndarray and type(g) is np.ndarray
            and p.dtype in (_F32, _F64) and g.dtype == p.dtype and g.shape == p.shape
            and p.flags.c_contiguous and p.flags.writeable and p.flags.aligned)


def _dtypes_ok(*scalars):
    """(float32 ok, float64 ok): may the kernels, which round every scalar to
    the array's dtype, stand in for the reference with these hyperparameters?"""
    ok32 = ok64 = True
    for x in scalars:
        if type(x) in _WEAK:
            continue
        try:
            ok32 = ok32 and np.result_type(_F32, x) == _F32
            ok64 = ok64 and np.result_type(_F64, x) == _F64
        except TypeError:
            return False, False
    return ok32, ok64


def _update(opt, kind, params, grads, state1, state2, a, b, c, d, scalars, *extra):
    """One compiled pass over every key the kernels take; then the reference
    formula (``_update_key``) for the keys they skipped, also when the pass
    stops on an error (a missing gradient), as the reference's loop would
    have updated the keys before it.  Each key's update reads and writes
    only its own arrays, so doing the skipped keys last gives the same
    numbers as the reference's key order."""
    ok32, ok64 = _dtypes_ok(*scalars)
    skipped = []
    try:
        _k._update_all(kind, params, grads, state1, state2, a, b, c, d, ok32, ok64, skipped)
    finally:
        for key in skipped:
            opt._update_key(params, grads, key, *extra)


class SGD(_ref.SGD):
    def update(self, params, grads):
        _update(self, _k.SGD, params, grads, None, None, self.lr, 0.0, 0.0, 0.0, (self.lr,))


class Momentum(_ref.Momentum):
    def update(self, params, grads):
        if self.v is None:
            self.v = {}
        _update(self, _k.MOMENTUM, params, grads, self.v, None, self.lr, self.momentum,
                0.0, 0.0, (self.lr, self.momentum))


class Nesterov(_ref.Nesterov):
    def update(self, params, grads):
        if self.v is None:
            self.v = {}
        _update(self, _k.NESTEROV, params, grads, self.v, None, self.lr, self.momentum,
                0.0, 0.0, (self.lr, self.momentum))


class AdaGrad(_ref.AdaGrad):
    def update(self, params, grads):
        if self.h is None:
            self.h = {}
        _update(self, _k.ADAGRAD, params, grads, self.h, None, self.lr, 1e-7, 0.0, 0.0,
                (self.lr,))


class RMSprop(_ref.RMSprop):
    def update(self, params, grads):
        if self.h is None:
            self.h = {}
        _update(self, _k.RMSPROP, params, grads, self.h, None, self.lr, self.decay_rate,
                1e-7, 0.0, (self.lr, self.decay_rate))


class Adam(_ref.Adam):
    def update(self, params, grads):
        if self.m is None:
            self.m, self.v = {}, {}
        self.iter += 1
        lr_t = self.step_size()
        _update(self, _k.ADAM, params, grads, self.m, self.v, lr_t, self.beta1, self.beta2,
                1e-7, (lr_t, self.beta1, self.beta2), lr_t)
