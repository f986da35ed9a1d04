"""The ops interface: the layers' math as methods of an ops object.

:class:`NumpyOps` holds every operation as a plain NumPy function of arrays
(the reference formulas); :class:`CompiledOps` overrides the hot ones with
compiled kernels and calls ``super()`` for inputs they do not take.  A fast
layer is written once, in Python, over ``self.ops``; the layer owns its
output buffers (one :class:`fastnn._kernels.pool.Pool`) and passes them in.
"""
from .numpy_ops import NumpyOps

__all__ = ["NumpyOps", "CompiledOps", "get_ops"]

_OPS = {}


def get_ops(name="compiled"):
    """The shared ops object ``'compiled'`` (default) or ``'numpy'``."""
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


def is_shared_ops(ops):
    """True when ``ops`` is the object ``get_ops(ops.name)`` returns."""
    return _OPS.get(getattr(ops, "name", None)) is ops


def __getattr__(name):
    if name == "CompiledOps":
        from .compiled import CompiledOps
        return CompiledOps
    raise AttributeError(name)
