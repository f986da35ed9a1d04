"""The book's ``common/config.py``: ``GPU = False``.

fastnn runs on the CPU only.  Setting ``config.GPU = True`` (the book's
switch to CuPy) raises :class:`GPUNotSupportedError` at once, and the
modules of :mod:`fastnn.nlp` check the flag again when they are imported
and when a layer or model is built (see :func:`require_cpu`), so a flag set
by other means is refused too.
"""
import sys
import types

__all__ = ["GPU", "GPUNotSupportedError", "require_cpu"]

GPU = False


class GPUNotSupportedError(RuntimeError):
    """fastnn.nlp has no GPU (CuPy) mode."""


_MESSAGE = ("fastnn.nlp runs on the CPU only: config.GPU = True (the book's CuPy mode) "
            "is not supported; leave config.GPU = False (fastnn's compiled kernels "
            "replace the GPU)")


def require_cpu():
    """Raise :class:`GPUNotSupportedError` when ``config.GPU`` is set."""
    if GPU:
        raise GPUNotSupportedError(_MESSAGE)


class _ConfigModule(types.ModuleType):
    def __setattr__(self, name, value):
        if name == "GPU" and value:
            raise GPUNotSupportedError(_MESSAGE)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _ConfigModule
