"""NumpyOps: the layers' math as plain functions of arrays, in NumPy.

Each method is the reference layer's formula (:mod:`fastnn.reference.layers`)
with the state passed in and out instead of kept on a layer, so it takes
every input the reference takes and gives the reference's numbers, dtypes
and errors.  :class:`fastnn.backends.compiled.CompiledOps` subclasses it,
overrides the hot methods with compiled kernels and calls ``super()`` for
the inputs its kernels do not take: this class is both the oracle and the
fallback.

``pool`` (a :class:`fastnn._kernels.pool.Pool` or None) is where an
implementation may take its output arrays from; NumPy's own results are new
arrays, so this class ignores it.
"""
import numpy as np

from ..reference.functions import sigmoid

__all__ = ["NumpyOps"]


class NumpyOps:
    name = "numpy"

    # -- activations -----------------------------------------------------------
    def relu_forward(self, x, pool=None):
        """``(out, mask)``: ``mask = x <= 0``, ``out`` = x with the masked entries 0."""
        mask = (x <= 0)
        out = x.copy()
        out[mask] = 0
        return out, mask

    def relu_backward(self, dout, mask, pool=None):
        """``dout`` with the masked entries 0 (a new array)."""
        dx = dout.copy()
        dx[mask] = 0
        return dx

    def sigmoid_forward(self, x, pool=None):
        return sigmoid(x)

    def sigmoid_backward(self, dout, y, pool=None):
        """Gradient from the forward output ``y``: ``dout·(1 - y)·y``."""
        return dout * (1.0 - y) * y

    def __repr__(self):
        return "%s()" % type(self).__name__
