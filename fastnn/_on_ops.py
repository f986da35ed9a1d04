"""The base of the fast layers and optimizers: what each of them has beside
its reference class, written once.

A fast class lists it before its reference class
(``class Relu(OnOps, _ref.Relu)``) and keeps the reference's constructor,
signature included (the serializer reads an optimizer's hyperparameters from
it).
"""
import functools

from ._kernels.pool import Pool
from .backends import get_ops

__all__ = ["OnOps"]


class OnOps:
    """``ops``: the shared ops object the methods call (compiled kernels, and
    NumPy's formulas for the inputs they do not take); an instance may be
    given its own.  ``_pool``: the one buffer pool a layer owns, made on first
    use; outputs are reused from one call to the next once nobody else holds
    them."""

    ops = get_ops()

    @functools.cached_property
    def _pool(self):
        return Pool()
