"""fastnn's compiled kernels as plain functions, for hand-written NumPy code.

Each function checks its arguments (shapes, dtypes, layout) and raises a
``ValueError``/``TypeError`` naming the argument before entering the kernel.
Functions that update arrays in place say so.
"""
__all__ = []

# -- optimizer updates (fastnn/_kernels/optim.pyx) ---------------------------
# In place on C-contiguous float32/float64 arrays; the gradient may have any
# layout.  Scalars are rounded to the arrays' dtype (as NumPy 2 rounds a
# Python float).  ``num_threads=None`` means fastnn.num_threads().
from ._kernels.optim import (adam_update, adagrad_update, momentum_update,  # noqa: E402,F401
                             nesterov_update, rmsprop_update, sgd_update)
__all__ += ["sgd_update", "momentum_update", "nesterov_update", "adagrad_update",
            "rmsprop_update", "adam_update"]

# -- activations and softmax loss (fastnn/_kernels/activations.pyx) ----------
# float32/float64 inputs of any layout (copied once if not C-contiguous);
# outputs allocated, or written into out=/mask=/y_out= buffers.
from ._kernels.activations import (  # noqa: E402,F401
    relu_backward, relu_forward, sigmoid_backward, sigmoid_forward,
    softmax_cross_entropy_backward, softmax_cross_entropy_forward)
__all__ += ["relu_forward", "relu_backward", "sigmoid_forward", "sigmoid_backward",
            "softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]

# -- affine (fastnn/_kernels/affine.pyx) -------------------------------------

# -- batch normalization (fastnn/_kernels/batchnorm.pyx) ---------------------

# -- dropout (fastnn/_kernels/dropout.pyx) -----------------------------------
