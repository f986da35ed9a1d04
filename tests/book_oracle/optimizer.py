"""Parameter-update rules, as in the book's ``common/optimizer.py``.

``update(params, grads)`` walks ``params.keys()`` and changes each array in
place (so layers holding the same arrays see the change).  Per-parameter
state (velocity, squared-gradient sums, Adam moments) is created lazily on
the first update and keyed by parameter name.  Python floats are accepted as
parameters too (the book's 2-D optimizer demo uses them); they are rebound
in the dict since a float cannot change in place.

``update`` applies ``_update_key`` to each key in turn.
"""
import math

import numpy as np

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


def _state_for(store, params, key):
    """The zero-initialised state array for ``key``, created on first use."""
    if key not in store:
        store[key] = np.zeros_like(params[key])
    return store[key]


class SGD:
    """p -= lr·g.  Stateless: one instance may serve several networks."""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for key in params.keys():
            self._update_key(params, grads, key)

    def _update_key(self, params, grads, key):
        params[key] -= self.lr * grads[key]


class Momentum:
    """v = μ·v - lr·g;  p += v."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = {}
        for key in params.keys():
            self._update_key(params, grads, key)

    def _update_key(self, params, grads, key):
        v = _state_for(self.v, params, key)
        self.v[key] = self.momentum * v - self.lr * grads[key]
        params[key] += self.v[key]


class Nesterov:
    """Nesterov's accelerated gradient in the book's form (http://arxiv.org/abs/1212.0901).

    p += μ²·v - (1+μ)·lr·g, using the old v;  then v = μ·v - lr·g.
    """

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = {}
        for key in params.keys():
            self._update_key(params, grads, key)

    def _update_key(self, params, grads, key):
        v = _state_for(self.v, params, key)
        params[key] += self.momentum * self.momentum * v
        params[key] -= (1 + self.momentum) * self.lr * grads[key]
        v *= self.momentum
        v -= self.lr * grads[key]


class AdaGrad:
    """h += g²;  p -= lr·g / (√h + 1e-7)."""

    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    def update(self, params, grads):
        if self.h is None:
            self.h = {}
        for key in params.keys():
            self._update_key(params, grads, key)

    def _update_key(self, params, grads, key):
        h = _state_for(self.h, params, key)
        h += grads[key] * grads[key]
        params[key] -= self.lr * grads[key] / (np.sqrt(h) + 1e-7)


class RMSprop:
    """h = ρ·h + (1-ρ)·g²;  p -= lr·g / (√h + 1e-7), ρ = ``decay_rate``."""

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr = lr
        self.decay_rate = decay_rate
        self.h = None

    def update(self, params, grads):
        if self.h is None:
            self.h = {}
        for key in params.keys():
            self._update_key(params, grads, key)

    def _update_key(self, params, grads, key):
        h = _state_for(self.h, params, key)
        h *= self.decay_rate
        h += (1 - self.decay_rate) * grads[key] * grads[key]
        params[key] -= self.lr * grads[key] / (np.sqrt(h) + 1e-7)


class Adam:
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
        if self.m is None:
            self.m, self.v = {}, {}
        self.iter += 1
        lr_t = self.step_size()
        for key in params.keys():
            self._update_key(params, grads, key, lr_t)

    def _update_key(self, params, grads, key, lr_t):
        m = _state_for(self.m, params, key)
        v = _state_for(self.v, params, key)
        g = grads[key]
        m += (1 - self.beta1) * (g - m)
        v += (1 - self.beta2) * (g ** 2 - v)
        params[key] -= lr_t * m / (np.sqrt(v) + 1e-7)
