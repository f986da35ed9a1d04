"""The book's optimizers on NumPy: :mod:`fastnn.optimizer`'s classes bound
to :class:`fastnn.backends.NumpyOps` (``ops = get_ops("numpy")`` and
nothing else; the update rules, statement for statement as the book's, are
NumpyOps's ``*_step`` methods)."""
from .. import optimizer as _optimizer
from ..backends import get_ops

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]

_NUMPY = get_ops("numpy")


class SGD(_optimizer.SGD):
    ops = _NUMPY


class Momentum(_optimizer.Momentum):
    ops = _NUMPY


class Nesterov(_optimizer.Nesterov):
    ops = _NUMPY


class AdaGrad(_optimizer.AdaGrad):
    ops = _NUMPY


class RMSprop(_optimizer.RMSprop):
    ops = _NUMPY


class Adam(_optimizer.Adam):
    ops = _NUMPY
