"""The plain-NumPy side of fastnn: the book's chapter 3-8 math, to read and
to test the compiled kernels against.

:mod:`functions`, :mod:`gradient` and :mod:`util` are the book's functions
in NumPy; :mod:`layers` and :mod:`optimizer` are fastnn's own layer and
optimizer classes bound to :class:`fastnn.backends.NumpyOps` (the book's
formulas), the networks' ``'reference'`` backend.  Module and class names
follow the book's ``common`` package.
"""
import importlib

from . import functions, gradient, util  # noqa: F401

__all__ = ["functions", "gradient", "util", "layers", "optimizer"]


def __getattr__(name):
    # layers and optimizer subclass fastnn.layers / fastnn.optimizer, which
    # import NumpyOps, which imports functions and util from here: loaded on
    # first use to keep that chain acyclic.
    if name in ("layers", "optimizer"):
        return importlib.import_module("." + name, __name__)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
