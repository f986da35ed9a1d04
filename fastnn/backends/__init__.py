"""The ops interface: the layers' math as methods of an ops object.

:class:`NumpyOps` holds every operation as a plain NumPy function of arrays
(the reference formulas); :class:`CompiledOps` overrides the hot ones with
compiled kernels and calls ``super()`` for inputs they do not take.  A fast
layer is written once, in Python, over ``self.ops``; the layer owns its
output buffers (one :class:`fastnn._kernels.pool.Pool`) and passes them in.
"""
import contextlib
import contextvars

from .numpy_ops import NumpyOps

__all__ = ["NumpyOps", "CompiledOps", "get_ops", "use_ops"]

_OPS = {}
_CURRENT = contextvars.ContextVar("fastnn_ops", default="compiled")


def get_ops(name=None):
    """The shared ops object ``'compiled'`` or ``'numpy'``; None: the current
    default (``'compiled'`` unless inside :func:`use_ops`)."""
    if name is None:
        name = _CURRENT.get()
    ops = _OPS.get(name)
    if ops is None:
        if name == "compiled":
            from .compiled import CompiledOps
            ops = CompiledOps()
        elif name == "numpy":
            ops = NumpyOps()
        else:
            raise ValueError("ops must be 'compiled' or 'numpy', got %r" % (name,))
        _OPS[name] = ops
    return ops


@contextlib.contextmanager
def use_ops(name):
    """Layers and models built inside ``with use_ops('numpy'):`` run on that
    ops object (thinc's ``use_ops``): the sequel's models, whose classes
    have no reference twins, get their NumPy version so.  Per thread and
    per async task (a context variable); the layer keeps its ops after."""
    get_ops(name)                       # an unknown name fails here, not later
    token = _CURRENT.set(name)
    try:
        yield get_ops(name)
    finally:
        _CURRENT.reset(token)


def is_shared_ops(ops):
    """True when ``ops`` is the object ``get_ops(ops.name)`` returns."""
    return _OPS.get(getattr(ops, "name", None)) is ops


def __getattr__(name):
    if name == "CompiledOps":
        from .compiled import CompiledOps
        return CompiledOps
    raise AttributeError(name)
