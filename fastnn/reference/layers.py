"""The book's layers on NumPy: :mod:`fastnn.layers`'s classes bound to
:class:`fastnn.backends.NumpyOps`.

For every layer class ``X`` of :mod:`fastnn.layers` this module has a class
``X`` that subclasses it with ``_OPS = "numpy"`` and nothing else: the same
constructor, attributes and method code, every formula run by NumpyOps
(``fastnn/backends/numpy_ops.py``, the book's formulas statement for
statement).  They are made below, so a new layer needs no line here.  This
is the oracle the compiled kernels are tested against, and the networks'
``'reference'`` backend.
"""
from .. import layers as _layers
from .._on_ops import OnOps
from .util import col2im, im2col  # noqa: F401  (the book's layers module has them)


def _on_numpy(cls):
    return type(cls.__name__, (cls,), {
        "_OPS": "numpy", "__module__": __name__, "__qualname__": cls.__name__,
        "__doc__": cls.__doc__})


__all__ = [name for name in _layers.__all__
           if isinstance(getattr(_layers, name), type)
           and issubclass(getattr(_layers, name), OnOps)]
globals().update({name: _on_numpy(getattr(_layers, name)) for name in __all__})
