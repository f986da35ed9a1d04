"""fastnn's compiled kernels as plain functions, for hand-written NumPy code.

Each function checks its arguments (shapes, dtypes, layout) and raises a
``ValueError``/``TypeError`` naming the argument before entering the kernel.
Functions that update arrays in place say so.
"""
__all__ = []

# -- optimizer updates (fastnn/_kernels/optim_ops.pyx) -----------------------
# In place on C-contiguous float32/float64 arrays; the gradient may have any
# layout.  Scalars are rounded to the arrays' dtype (as NumPy 2 rounds a
# Python float).  ``num_threads=None`` means fastnn.num_threads().
from ._kernels.optim_ops import (  # noqa: E402,F401
    adam_update, adagrad_update, momentum_update, nesterov_update, rmsprop_update, sgd_update)
__all__ += ["sgd_update", "momentum_update", "nesterov_update", "adagrad_update",
            "rmsprop_update", "adam_update"]

# -- activations and softmax loss (fastnn/_kernels/activations.pyx, softmax.pyx)
# float32/float64 inputs of any layout (copied once if not C-contiguous);
# outputs allocated, or written into out=/mask=/y_out= buffers.
from ._kernels.activations import (  # noqa: E402,F401
    relu_backward, relu_forward, sigmoid_backward, sigmoid_forward)
from ._kernels.softmax import (  # noqa: E402,F401
    softmax_cross_entropy_backward, softmax_cross_entropy_forward)
__all__ += ["relu_forward", "relu_backward", "sigmoid_forward", "sigmoid_backward",
            "softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]

# -- affine (fastnn/_kernels/affine.pyx) -------------------------------------
# out = x·W + b;  dx = dout·Wᵀ, dW = xᵀ·dout (+ weight_decay·W), db = Σ_rows dout.
# BLAS GEMM (SciPy's); x, W, dout in C or Fortran order or transposed views go
# to GEMM as they are, other strides are copied once; all operands one dtype
# (float32 or float64); out=/dx=/dW=/db= buffers must be C-contiguous.
from ._kernels.affine import affine_backward, affine_forward  # noqa: E402,F401
__all__ += ["affine_forward", "affine_backward"]

# -- batch normalization (fastnn/_kernels/batchnorm_ops.pyx) -----------------
# The book's batch norm on (N, D): per-column mean and biased variance, eps
# 1e-6; training forward in two passes (running statistics updated in place),
# inference in one, backward in two.  float32/float64; x/dout rows with unit
# column stride (others copied once); out=/xc=/xn=/std=/dx=/... buffers
# C-contiguous.
from ._kernels.batchnorm_ops import (  # noqa: E402,F401
    batchnorm_backward, batchnorm_forward_infer, batchnorm_forward_train)
__all__ += ["batchnorm_forward_train", "batchnorm_forward_infer", "batchnorm_backward"]

# -- dropout (fastnn/_kernels/dropout.pyx) -----------------------------------
# Non-inverted dropout: out = x·mask, mask = u > ratio drawn from a NumPy bit
# generator under its lock (mode='exact': the book's np.random.rand stream bit
# for bit; mode='fast': 32-bit draws); dx = dout·mask.  float32/float64 of any
# shape (non-contiguous inputs copied once); bool masks, one byte per element.
from ._kernels.dropout import dropout_backward, dropout_forward  # noqa: E402,F401
__all__ += ["dropout_forward", "dropout_backward"]
