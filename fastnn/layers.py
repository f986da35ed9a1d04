"""The book's ``common/layers.py`` on compiled kernels (the default backend).

Each class subclasses its reference twin in :mod:`fastnn.reference.layers`
and overrides only the hot methods; inputs the kernels do not take are
handed to the reference implementation, which gives the same numbers.
The classes live in two private modules, one per kernel family owner.
"""
import numpy as np  # noqa: F401  (book scripts star-import np from here)

from ._layers_act import Relu, Sigmoid, SoftmaxWithLoss
from ._layers_dense import Affine, BatchNormalization, Dropout
from ._layers_conv import *  # noqa: F401,F403  (Convolution, Pooling, im2col, col2im, functions)
from ._layers_conv import __all__ as _conv_all

__all__ = ["np", "Relu", "Sigmoid", "Affine", "SoftmaxWithLoss",
           "BatchNormalization", "Dropout"] + _conv_all
