"""Fast Affine, BatchNormalization and Dropout (re-exported by :mod:`fastnn.layers`)."""
from .reference import layers as _ref


class Affine(_ref.Affine):
    pass


class BatchNormalization(_ref.BatchNormalization):
    pass


class Dropout(_ref.Dropout):
    pass
