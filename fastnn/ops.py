"""fastnn's compiled kernels as plain functions, for hand-written NumPy code.

Each function checks its arguments (shapes, dtypes, layout) and raises a
``ValueError``/``TypeError`` naming the argument before entering the kernel.
Functions that update arrays in place say so.
"""
__all__ = []

# -- optimizer updates (fastnn/_kernels/optim.pyx) ---------------------------
from ._kernels.optim import adam_update  # noqa: E402,F401
__all__ += ["adam_update"]

# -- activations and softmax loss (fastnn/_kernels/activations.pyx) ----------

# -- affine (fastnn/_kernels/affine.pyx) -------------------------------------

# -- batch normalization (fastnn/_kernels/batchnorm.pyx) ---------------------

# -- dropout (fastnn/_kernels/dropout.pyx) -----------------------------------
