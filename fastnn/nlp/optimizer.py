"""The book's ``common/optimizer.py`` (the sequel's): list-based SGD, Momentum,
Nesterov, AdaGrad, RMSprop, Adam.

``update(params, grads)`` takes the lists a model keeps and updates the
arrays in place, with the book's constructor defaults, attributes (``lr``,
``momentum``, ``v``, ``h``, ``m``, ``iter``; the state lists are created on
the first update) and numbers.  Each update is one call of an ops step
(``self.ops``, the compiled ops by default: one fused pass over the arrays
the kernels take, NumPy's formula for the rest), keyed by list position.

Where the sequel differs from the first book:

* Nesterov decays ``v`` first and then moves the parameters with the new
  ``v`` (``ops.nesterov_new_v_step``, NumPy's formula);
* Adam's ``lr_t`` is NumPy's ``np.sqrt`` of a Python float, a float64 scalar,
  so float32 parameters take their step in float64 (rounded back on the
  store) as in the book: those arrays take NumPy's formula, float64 ones
  the kernel.
"""
from ..backends import get_ops
from .np import GPU, np  # noqa: F401  (the book star-imports both from common.np)

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


class _ListOptimizer:
    """The ops steps take dicts keyed by parameter; a model's lists become
    ``{i: array}`` for the call, and what the step rebinds (Python floats,
    Momentum's new ``v``) goes back into the lists."""

    ops = get_ops()

    @staticmethod
    def _keyed(items):
        return dict(enumerate(items))

    @staticmethod
    def _back(items, keyed):
        for i in range(len(items)):
            if items[i] is not keyed[i]:
                items[i] = keyed[i]

    def _states(self, params, *names):
        for name in names:
            if getattr(self, name) is None:
                setattr(self, name, [np.zeros_like(p) for p in params])
        return [self._keyed(getattr(self, name)) for name in names]

    def _step(self, method, params, grads, states, *hyper):
        keyed = self._keyed(params)
        method(keyed, self._keyed(grads), *states, *hyper)
        self._back(params, keyed)
        return keyed


class SGD(_ListOptimizer):
    '''Stochastic gradient descent: p -= lr·g.'''

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        self._step(self.ops.sgd_step, params, grads, (), self.lr)


class Momentum(_ListOptimizer):
    '''Momentum SGD: v = μ·v - lr·g;  p += v.'''

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        v, = self._states(params, "v")
        self._step(self.ops.momentum_step, params, grads, (v,), self.lr, self.momentum)
        self._back(self.v, v)


class Nesterov(_ListOptimizer):
    '''Nesterov's accelerated gradient (http://arxiv.org/abs/1212.0901), as the
    sequel writes it: v = μ·v - lr·g;  p += μ²·v - (1+μ)·lr·g (the new v).'''

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        v, = self._states(params, "v")
        self._step(self.ops.nesterov_new_v_step, params, grads, (v,), self.lr, self.momentum)
        self._back(self.v, v)


class AdaGrad(_ListOptimizer):
    '''AdaGrad: h += g²;  p -= lr·g / (√h + 1e-7).'''

    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    def update(self, params, grads):
        h, = self._states(params, "h")
        self._step(self.ops.adagrad_step, params, grads, (h,), self.lr)


class RMSprop(_ListOptimizer):
    '''RMSprop: h = ρ·h + (1-ρ)·g²;  p -= lr·g / (√h + 1e-7).'''

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr = lr
        self.decay_rate = decay_rate
        self.h = None

    def update(self, params, grads):
        h, = self._states(params, "h")
        self._step(self.ops.rmsprop_step, params, grads, (h,), self.lr, self.decay_rate)


class Adam(_ListOptimizer):
    '''Adam (http://arxiv.org/abs/1412.6980v8): t += 1;
    lr_t = lr·√(1-β2^t) / (1-β1^t) (a NumPy float64, as the book's np.sqrt gives);
    m += (1-β1)(g - m);  v += (1-β2)(g² - v);  p -= lr_t·m / (√v + 1e-7).'''

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def update(self, params, grads):
        m, v = self._states(params, "m", "v")
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        self._step(self.ops.adam_step, params, grads, (m, v), lr_t, self.beta1, self.beta2)
