"""The book's ``common/optimizer.py`` on compiled kernels (the default backend).

Same classes, constructor defaults, attributes (``lr``, ``momentum``, ``v``,
``h``, ``m``, ``iter``, ...) and update rules as
:mod:`fastnn.reference.optimizer`, each ``update`` written once over
``self.ops`` (:class:`fastnn.backends.CompiledOps`): one ``*_step`` call
updates every parameter array the kernels can take in one fused in-place
pass, all of them under one GIL release (per-array Python overhead dominates
the book's small networks), and hands the other keys to NumPy's formulas.

A key takes NumPy's formula when its parameter is not a C-contiguous
writeable float32/float64 ndarray (Python floats, as in the book's 2-D demo;
views; read-only arrays), its gradient has another dtype or shape or shares
memory with what the update writes, or its state array was replaced by one
the kernel cannot update (see :func:`_kernel_ok`).  A gradient of another
layout is copied once.

Hyperparameters: Python ints and floats are "weak" in NumPy 2 (rounded to
the array's dtype), and the kernels do the same.  A NumPy float64 scalar
(``lr = 10 ** np.random.uniform(-6, -2)``) is not: with float32 parameters
the reference then computes in float64, so those keys take NumPy's formula
to give the same numbers.

Momentum's ``v`` arrays are updated in place by the kernels, where the
reference rebinds ``self.v[key]`` to a new array each step; the values are
the same.

Threads: an array of at least ``fastnn._kernels.optim.PARALLEL_MIN_SIZE``
(65,536) elements is split over ``fastnn.num_threads()`` threads (1 unless
FASTNN_NUM_THREADS or OMP_NUM_THREADS say otherwise); results do not depend
on the thread count.
"""
import numpy as np

from .backends import get_ops
from .reference import optimizer as _ref

__all__ = ["np", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


def _kernel_ok(p, g):
    """True when ``p`` can be updated in place by a kernel with gradient ``g``
    (of any layout).

    ``OptimOps`` (fastnn/_kernels/optim_ops.pyx) applies the same test in C,
    plus checks of the state arrays, of aliasing and of the
    hyperparameters' types; this Python version documents it and serves
    the tests.
    """
    return (type(p) is np.ndarray and type(g) is np.ndarray
            and p.dtype in (_F32, _F64) and g.dtype == p.dtype and g.shape == p.shape
            and p.flags.c_contiguous and p.flags.writeable and p.flags.aligned)


class SGD(_ref.SGD):
    def __init__(self, lr=0.01):
        super().__init__(lr)
        self.ops = get_ops()

    def update(self, params, grads):
        self.ops.sgd_step(params, grads, self.lr)


class Momentum(_ref.Momentum):
    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__(lr, momentum)
        self.ops = get_ops()

    def update(self, params, grads):
        if self.v is None:
            self.v = {}
        self.ops.momentum_step(params, grads, self.v, self.lr, self.momentum)


class Nesterov(_ref.Nesterov):
    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__(lr, momentum)
        self.ops = get_ops()

    def update(self, params, grads):
        if self.v is None:
            self.v = {}
        self.ops.nesterov_step(params, grads, self.v, self.lr, self.momentum)


class AdaGrad(_ref.AdaGrad):
    def __init__(self, lr=0.01):
        super().__init__(lr)
        self.ops = get_ops()

    def update(self, params, grads):
        if self.h is None:
            self.h = {}
        self.ops.adagrad_step(params, grads, self.h, self.lr)


class RMSprop(_ref.RMSprop):
    def __init__(self, lr=0.01, decay_rate=0.99):
        super().__init__(lr, decay_rate)
        self.ops = get_ops()

    def update(self, params, grads):
        if self.h is None:
            self.h = {}
        self.ops.rmsprop_step(params, grads, self.h, self.lr, self.decay_rate)


class Adam(_ref.Adam):
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        super().__init__(lr, beta1, beta2)
        self.ops = get_ops()

    def update(self, params, grads):
        if self.m is None:
            self.m, self.v = {}, {}
        self.iter += 1
        self.ops.adam_step(params, grads, self.m, self.v, self.step_size(), self.beta1,
                           self.beta2)
