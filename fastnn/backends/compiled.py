"""CompiledOps: NumpyOps with its hot methods on fastnn's compiled kernels.

Each kernel family (``fastnn/_kernels/<family>.pyx``) defines a mixin of
overrides; this class stacks them over :class:`NumpyOps`.  An override runs
its kernel on the inputs it takes (native-order float32/float64 arrays, made
C-contiguous once if need be) and hands anything else to ``super()``, which
is NumpyOps, so dtype, layout and byte-order dispatch and the fallback happen
here and nowhere else.
"""
from .._kernels.activations import ActivationOps
from .._kernels.affine import AffineOps
from .._kernels.batchnorm_ops import BatchNormOps
from .._kernels.conv import ConvOps
from .._kernels.dropout import DropoutOps
from .._kernels.maxpool import MaxPoolOps
from .._kernels.optim_ops import OptimOps
from .._kernels.softmax import SoftmaxOps
from .numpy_ops import NumpyOps

__all__ = ["CompiledOps"]


class CompiledOps(ActivationOps, AffineOps, BatchNormOps, ConvOps, DropoutOps, MaxPoolOps,
                  OptimOps, SoftmaxOps, NumpyOps):
    name = "compiled"
