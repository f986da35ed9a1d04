"""The book's ``common/optimizer.py`` on compiled kernels (the default backend).

Same classes, constructor defaults, attributes (``v``, ``h``, ``m``,
``iter``) and update rules as :mod:`fastnn.reference.optimizer`; each
parameter array is updated by one fused in-place pass.  Parameters the
kernels cannot update in place (Python floats, non-contiguous or read-only
arrays, mixed dtypes) take the reference path for that key.
"""
import numpy as np

from .reference import optimizer as _ref
from .reference.optimizer import _state_for
from ._kernels.optim import adam_update

__all__ = ["np", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


def _kernel_ok(p, g):
    """True when ``p`` can be updated in place by a kernel with gradient ``g``."""
    return (isinstance(p, np.ndarray) and isinstance(g, np.ndarray)
            and p.dtype in (np.float32, np.float64) and g.dtype == p.dtype
            and g.shape == p.shape and p.flags.c_contiguous and p.flags.writeable)


class SGD(_ref.SGD):
    pass


class Momentum(_ref.Momentum):
    pass


class Nesterov(_ref.Nesterov):
    pass


class AdaGrad(_ref.AdaGrad):
    pass


class RMSprop(_ref.RMSprop):
    pass


class Adam(_ref.Adam):
    def update(self, params, grads):
        if self.m is None:
            self.m, self.v = {}, {}
        self.iter += 1
        lr_t = self.step_size()
        for key in params.keys():
            p, g = params[key], grads[key]
            m = _state_for(self.m, params, key)
            v = _state_for(self.v, params, key)
            if _kernel_ok(p, g):
                adam_update(p, g, m, v, lr_t, self.beta1, self.beta2, 1e-7)
            else:
                m += (1 - self.beta1) * (g - m)
                v += (1 - self.beta2) * (g ** 2 - v)
                params[key] -= lr_t * m / (np.sqrt(v) + 1e-7)
