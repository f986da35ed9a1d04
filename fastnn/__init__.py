"""fastnn: the training techniques of "Deep Learning from Scratch", made fast.

Drop-in modules named as in the book's ``common`` package
(:mod:`fastnn.layers`, :mod:`fastnn.optimizer`, :mod:`fastnn.multi_layer_net_extend`,
:mod:`fastnn.trainer`, ...) run their hot loops in compiled kernels;
:mod:`fastnn.reference` is the same math in plain NumPy.

Threads: one pool for all of fastnn's parallel work (kernels and GEMMs),
sized by :func:`set_num_threads`, ``FASTNN_NUM_THREADS``, or threadpoolctl;
by default the CPUs this process may use.
"""
from . import _kernels  # noqa: F401  (one clear ImportError when the kernels are not built)
from ._threads import start_pool as _start_pool

_start_pool()

from ._version import __version__  # noqa: E402
from ._backend import get_backend, set_backend, use_backend  # noqa: E402
from ._config import (show_config, num_threads, get_num_threads,  # noqa: E402
                      set_num_threads)

__all__ = ["__version__", "get_backend", "set_backend", "use_backend",
           "show_config", "num_threads", "get_num_threads", "set_num_threads"]
