"""The book's ``common/optimizer.py``: each optimizer written once, over ``self.ops``.

The book's classes, constructor defaults, attributes (``lr``, ``momentum``,
``v``, ``h``, ``m``, ``iter``, ...) and update rules.  ``update(params,
grads)`` changes each array of ``params`` in place, in ``params.keys()``
order (layers holding the same arrays see the change); per-key state
(velocity, squared-gradient sums, Adam's moments) is created lazily on the
first update and keyed by parameter name.  Python floats are accepted as
parameters too (the book's 2-D optimizer demo uses them); they are rebound
in the dict since a float cannot change in place.

The rules themselves are the ops' ``*_step`` methods: NumpyOps's (the
book's statements) in :mod:`fastnn.reference.optimizer`, whose classes are
these with ``ops = get_ops("numpy")`` and nothing else; here
:class:`fastnn.backends.CompiledOps`'s, where one ``*_step`` call
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
book (and NumpyOps) rebinds ``self.v[key]`` to a new array each step; the
values are the same.

Threads: an array of at least ``fastnn._kernels.optim.PARALLEL_MIN_SIZE``
(32,768) elements is split in 16,384-element pieces over fastnn's thread
pool (``fastnn.get_num_threads()``); results do not depend on the thread
count.
"""
import math

import numpy as np

from .backends import get_ops

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
    """``ops``: the ops object the updates run on (a class attribute: an
    instance may be given its own); ``_state(name)``: the per-key state dict
    ``name`` (``v``, ``h``, ``m``), created empty on the first update, as the
    book creates it."""

    ops = get_ops()

    def _state(self, name):
        state = getattr(self, name)
        if state is None:
            state = {}
            setattr(self, name, state)
        return state


class SGD(_Optimizer):
    """p -= lr·g.  Stateless: one instance may serve several networks."""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        self.ops.sgd_step(params, grads, self.lr)


class Momentum(_Optimizer):
    """v = μ·v - lr·g;  p += v."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        self.ops.momentum_step(params, grads, self._state("v"), self.lr, self.momentum)


class Nesterov(_Optimizer):
    """Nesterov's accelerated gradient in the book's form (http://arxiv.org/abs/1212.0901).

    p += μ²·v - (1+μ)·lr·g, using the old v;  then v = μ·v - lr·g.
    """

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        self.ops.nesterov_step(params, grads, self._state("v"), self.lr, self.momentum)


class AdaGrad(_Optimizer):
    """h += g²;  p -= lr·g / (√h + 1e-7)."""

    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    def update(self, params, grads):
        self.ops.adagrad_step(params, grads, self._state("h"), self.lr)


class RMSprop(_Optimizer):
    """h = ρ·h + (1-ρ)·g²;  p -= lr·g / (√h + 1e-7), ρ = ``decay_rate``."""

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr = lr
        self.decay_rate = decay_rate
        self.h = None

    def update(self, params, grads):
        self.ops.rmsprop_step(params, grads, self._state("h"), self.lr, self.decay_rate)


class Adam(_Optimizer):
    """Adam (http://arxiv.org/abs/1412.6980v8) with the book's bias correction.

    t += 1;  lr_t = lr·√(1-β2^t) / (1-β1^t)
    m += (1-β1)(g - m);  v += (1-β2)(g² - v);  p -= lr_t·m / (√v + 1e-7)
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def step_size(self):
        """lr_t for the current ``iter`` (a Python float, so float32 stays float32)."""
        return self.lr * math.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)

    def update(self, params, grads):
        m, v = self._state("m"), self._state("v")
        self.iter += 1
        self.ops.adam_step(params, grads, m, v, self.step_size(), self.beta1, self.beta2)
