"""The base of every layer: its ops object and its buffers, written once.

A layer (:mod:`fastnn.layers`, :mod:`fastnn.nlp.layers`, ...) subclasses
:class:`OnOps`, keeps the book's constructor signature and calls
``self._own_buffers()`` at the end of ``__init__``.  ``_OPS`` names the ops
it runs on: ``"compiled"``, ``"numpy"`` (all that :mod:`fastnn.reference.layers`
changes), or None (the sequel's layers): the current default, ``"compiled"``
unless the layer is built inside :func:`fastnn.backends.use_ops`.
"""
import numpy as np

from ._kernels.pool import PER_LAYER, Pool
from .backends import get_ops

__all__ = ["OnOps", "begin_pass", "share_buffers", "unshared"]


class OnOps:
    """``self.ops``: the shared ops object the methods call (compiled kernels,
    and NumPy's formulas for the inputs they do not take); an instance may be
    given its own.  ``self._pool``: the buffer pool the layer takes its
    outputs from (reused from one call to the next once nobody else holds
    them): its own, or its network's (``share_buffers``).

    Both are plain instance attributes set at construction: the fastest
    lookups on the per-call path.  (Measured on CPython 3.11: a class-level
    ``ops`` shadowed by the instance's, or a ``_pool`` added lazily by
    ``functools.cached_property``, made reading any of the layer's attributes
    up to three times slower.)
    """

    _OPS = "compiled"

    def _own_buffers(self):
        self.ops = get_ops(self._OPS)
        self._pool = Pool()


def unshared(buffer, *inputs):
    """``buffer`` (a gradient array the last backward pass left, which the next one
    overwrites in place), or None when it may share memory with one of ``inputs``,
    the arrays that pass reads (a caller may hand ``layer.dW`` back in as ``dout``
    or as the input of the forward pass): the kernel then writes a new array
    rather than one it is reading."""
    if buffer is not None:
        for a in inputs:
            if isinstance(a, np.ndarray) and np.may_share_memory(buffer, a):
                return None
    return buffer


def share_buffers(layers):
    """Give the fast layers among ``layers`` (a network's) one buffer pool.

    An output the next layer has consumed is then handed out again at once,
    to whichever layer asks next, while it is still in the cache (see
    fastnn/_kernels/pool.pyx); the pool keeps as many arrays as the layers'
    own pools would have.  Objects that are not layers are left alone.

    Returns the pool (None when there is no layer): the network calls its
    ``next_pass()`` as each forward pass begins, so buffers of batch sizes
    no longer used go after two passes."""
    members = [layer for layer in layers if isinstance(layer, OnOps)]
    if not members:
        return None
    pool = Pool(PER_LAYER * len(members))
    for layer in members:
        layer._pool = pool
    return pool


def begin_pass(network):
    """A network's forward pass begins (the top of its ``_predict``): its
    shared pool, if it has one, lets go of the buffers no longer used."""
    # getattr: a subclass may build its layers without our __init__.
    buffers = getattr(network, "_buffers", None)
    if buffers is not None:
        buffers.next_pass()
