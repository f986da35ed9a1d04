"""fastnn's compiled kernels as plain functions, for hand-written NumPy code.

Each function checks its arguments (shapes, dtypes, layout) and raises a
``ValueError``/``TypeError`` naming the argument before entering the kernel.
Functions that update arrays in place say so.
"""
# -- optimizer updates (fastnn/_kernels/optim.pyx) ---------------------------
from ._kernels.optim import adam_update  # noqa: F401

__all__ = ["adam_update"]
