"""The book's layers on NumPy: :mod:`fastnn.layers`'s classes bound to
:class:`fastnn.backends.NumpyOps`.

Each class here is its :mod:`fastnn.layers` twin with ``_OPS = "numpy"``
and nothing else: the same constructor, attributes and method code, with
every formula run by NumpyOps (``fastnn/backends/numpy_ops.py``, the book's
formulas statement for statement).  This is the oracle the compiled kernels
are tested against, and the ``'reference'`` backend of the networks.
"""
from .. import layers as _layers
from .util import col2im, im2col  # noqa: F401  (the book's module has them)

__all__ = ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss",
           "BatchNormalization", "Dropout", "Convolution", "Pooling"]


class Relu(_layers.Relu):
    _OPS = "numpy"


class Sigmoid(_layers.Sigmoid):
    _OPS = "numpy"


class Affine(_layers.Affine):
    _OPS = "numpy"


class SoftmaxWithLoss(_layers.SoftmaxWithLoss):
    _OPS = "numpy"


class BatchNormalization(_layers.BatchNormalization):
    _OPS = "numpy"


class Dropout(_layers.Dropout):
    _OPS = "numpy"


class Convolution(_layers.Convolution):
    _OPS = "numpy"


class Pooling(_layers.Pooling):
    _OPS = "numpy"
