"""fastnn: the training techniques of "Deep Learning from Scratch", chapter 6, made fast.

Drop-in modules named as in the book's ``common`` package
(:mod:`fastnn.layers`, :mod:`fastnn.optimizer`, :mod:`fastnn.multi_layer_net_extend`,
:mod:`fastnn.trainer`, ...) run their hot loops in compiled kernels;
:mod:`fastnn.reference` is the same math in plain NumPy.
"""
from . import _kernels  # noqa: F401  (one clear ImportError when the kernels are not built)
from ._version import __version__
from ._backend import get_backend, set_backend, use_backend
from ._config import show_config, num_threads

__all__ = ["__version__", "get_backend", "set_backend", "use_backend",
           "show_config", "num_threads"]
