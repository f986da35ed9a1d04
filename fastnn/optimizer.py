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


class _Optimizer:
    """The base of the fast optimizers (listed before the reference class,
    whose constructor and signature they keep: the serializer reads the
    hyperparameters from it).  ``ops``: the shared ops object (an instance
    may be given its own); ``_state(name)``: the per-key state dict ``name``
    (``v``, ``h``, ``m``), created empty on the first update as the reference
    creates it."""

    ops = get_ops()

    def _state(self, name):
        state = getattr(self, name)
        if state is None:
            state = {}
            setattr(self, name, state)
        return state


class SGD(_Optimizer, _ref.SGD):
    def update(self, params, grads):
        self.ops.sgd_step(params, grads, self.lr)


class Momentum(_Optimizer, _ref.Momentum):
    def update(self, params, grads):
        self.ops.momentum_step(params, grads, self._state("v"), self.lr, self.momentum)


class Nesterov(_Optimizer, _ref.Nesterov):
    def update(self, params, grads):
        self.ops.nesterov_step(params, grads, self._state("v"), self.lr, self.momentum)


class AdaGrad(_Optimizer, _ref.AdaGrad):
    def update(self, params, grads):
        self.ops.adagrad_step(params, grads, self._state("h"), self.lr)


class RMSprop(_Optimizer, _ref.RMSprop):
    def update(self, params, grads):
        self.ops.rmsprop_step(params, grads, self._state("h"), self.lr, self.decay_rate)


class Adam(_Optimizer, _ref.Adam):
    def update(self, params, grads):
        m, v = self._state("m"), self._state("v")
        self.iter += 1
        self.ops.adam_step(params, grads, m, v, self.step_size(), self.beta1, self.beta2)
