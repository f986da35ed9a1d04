"""The book's ``common/layers.py`` on compiled kernels (the default backend).

Each class subclasses its reference twin in :mod:`fastnn.reference.layers`
and overrides only the hot methods; inputs the kernels do not take are
handed to the reference implementation, which gives the same numbers.
"""
import numpy as np  # noqa: F401  (book scripts star-import np from here)

from .reference import layers as _ref

__all__ = ["np", "Relu", "Sigmoid", "Affine", "SoftmaxWithLoss",
           "BatchNormalization", "Dropout"]


class Relu(_ref.Relu):
    pass


class Sigmoid(_ref.Sigmoid):
    pass


class Affine(_ref.Affine):
    pass


class SoftmaxWithLoss(_ref.SoftmaxWithLoss):
    pass


class BatchNormalization(_ref.BatchNormalization):
    pass


class Dropout(_ref.Dropout):
    pass
