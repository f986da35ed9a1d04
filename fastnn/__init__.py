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
from ._config import exit_if_command as _exit_if_command
from ._threads import start_pool as _start_pool

try:    # FASTNN_NUM_THREADS and FASTNN_BACKEND are read here
    _start_pool()
    from ._backend import get_backend, set_backend, use_backend
except ValueError as _exc:
    _exit_if_command(_exc)      # the fastnn command: one line, exit status 2
    raise

from ._version import __version__  # noqa: E402
from ._config import (show_config, num_threads, get_num_threads,  # noqa: E402
                      set_num_threads)

__all__ = ["__version__", "get_backend", "set_backend", "use_backend",
           "show_config", "num_threads", "get_num_threads", "set_num_threads"]
