"""Fast Affine, BatchNormalization and Dropout (re-exported by :mod:`fastnn.layers`).

Each class subclasses its twin in :mod:`fastnn.reference.layers`, keeps its
attributes and results, and runs the work in :mod:`fastnn._kernels`.  Inputs
the kernels do not take (non-float dtypes, parameters of another dtype or
shape, ...) go to the reference code, which gives the same numbers.

Buffers.  A layer writes its outputs (``forward``'s result, ``backward``'s
dx, batch norm's ``xc``/``xn``, dropout's ``mask``) into arrays it keeps
from one call to the next, so a training step allocates nothing.  A buffer
is reused only while nothing outside the layer references it (checked with
the reference count, which counts views, memoryviews and the next layer
holding it as its input); otherwise the layer takes a fresh array, so an
array it returned never changes under its holder.  The parameter gradients
(``dW``, ``db``, ``dgamma``, ``dbeta``) are different: like PyTorch's
``.grad`` they are overwritten in place by the next ``backward`` — copy them
to keep them.
"""

import numpy as np

from .reference import layers as _ref
from ._guard import exclusive, exclusive_when_training, shared
from ._buffers import take as _take
from ._kernels.pool import Pool
from .backends import get_ops
from ._kernels import affine as _affine
from ._kernels import dropout as _drop

__all__ = ["Affine", "BatchNormalization", "Dropout"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _grad_buffer(buf, shape, dtype):
    """``buf`` if it can be overwritten as a parameter gradient, else a new array."""
    if (type(buf) is np.ndarray and buf.shape == shape and buf.dtype == dtype
            and buf.flags.c_contiguous and buf.flags.writeable):
        return buf
    return np.empty(shape, dtype=dtype)


# -- Affine --------------------------------------------------------------------

class Affine(_ref.Affine):
    """out = x·W + b on BLAS GEMM; input of any rank is flattened to (N, -1).

    The result dtype is NumPy's promotion of x and W, as in the reference:
    float32 images fed to a float64 layer are converted once into a
    reusable float64 buffer (which is then ``self.x``).  Combinations where
    the promotion is not W's dtype (float64 x into a float32 layer, b of
    another dtype, ...) run the reference code.

    Extras over the book's layer, both plain attributes:

    * ``need_input_grad`` (default True): when False, ``backward`` skips the
      dx GEMM and returns None (the network sets it on its first layer,
      whose input gradient nobody uses).
    * ``weight_decay`` λ (default 0): when nonzero, ``backward`` stores
      ``dW = xᵀ·dout + λ·W``, the gradient including the L2 term ½λΣW²,
      computed inside the same GEMM (the network sets it from its
      ``weight_decay_lambda``).
    """

    def __init__(self, W, b):
        super().__init__(W, b)
        self.need_input_grad = True
        self.weight_decay = 0.0
        self._fast = False
        self._cast_from = None   # x's own dtype when forward converted it
        self._out_pool = []
        self._dx_pool = []
        self._x_pool = []

    @shared
    def forward(self, x):
        # The common case (x of W's dtype) in C: checks and buffers there
        # cost a fraction of the same in Python.
        self._cast_from = None
        out = _affine._layer_forward(self, x)
        if out is NotImplemented:
            return self._forward_py(x)
        return out

    def _forward_py(self, x):
        W, b = self.W, self.b
        self._fast = False
        if not (type(x) is np.ndarray and type(W) is np.ndarray and type(b) is np.ndarray
                and x.ndim >= 1 and W.ndim == 2 and W.dtype in _FLOATS
                and b.dtype == W.dtype and b.shape == (W.shape[1],)):
            return super().forward(x)
        dtype = W.dtype
        if x.dtype != dtype and (x.dtype.kind not in "biuf"
                                 or np.result_type(x.dtype, dtype) != dtype):
            return super().forward(x)
        self.original_x_shape = x.shape
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != W.shape[0]:
            raise ValueError("x has %d features per sample (shape %s) but W has shape %s: "
                             "W.shape[0] must equal the feature count"
                             % (x2.shape[1], x.shape, W.shape))
        if x2.dtype != dtype:
            self.x = None   # drop our hold on the previous buffer so it can be reused
            buf = _take(self._x_pool, x2.shape, dtype)
            np.copyto(buf, x2, casting="unsafe")
            self._cast_from = x2.dtype
            x2 = buf
        self.x = x2
        out = _take(self._out_pool, (x2.shape[0], W.shape[1]), dtype)
        _affine._forward_into(x2, W, b, out)
        self._fast = True
        return out

    @exclusive
    def backward(self, dout):
        dx = _affine._layer_backward(self, dout)
        if dx is NotImplemented:
            return self._backward_py(dout)
        return dx

    def _backward_py(self, dout):
        W, x = self.W, self.x
        if not (self._fast and type(dout) is np.ndarray and dout.dtype == W.dtype
                and dout.shape == (x.shape[0], W.shape[1])
                and type(W) is np.ndarray and W.shape == (x.shape[1], dout.shape[1])
                and x.dtype == W.dtype):
            return self._backward_numpy(dout)
        dtype = W.dtype
        self.dW = dW = _grad_buffer(self.dW, W.shape, dtype)
        self.db = db = _grad_buffer(self.db, (W.shape[1],), dtype)
        dx = _take(self._dx_pool, x.shape, dtype) if self.need_input_grad else None
        _affine._backward_into(dout, x, W, dx, dW, db, float(self.weight_decay))
        if dx is None:
            return None
        if dx.shape == self.original_x_shape:
            return dx
        return dx.reshape(*self.original_x_shape)

    def _backward_numpy(self, dout):
        # The reference's formulas, plus this class's two extras.  The
        # reference keeps x as given: a converted x goes back to its own
        # dtype (exactly: the conversion widened it) so dW has the
        # reference's dtype and rounding.
        x = self.x if self._cast_from is None else self.x.astype(self._cast_from)
        self.dW = np.dot(x.T, dout)
        if self.weight_decay:
            self.dW = self.dW + self.weight_decay * self.W
        self.db = np.sum(dout, axis=0)
        if not self.need_input_grad:
            return None
        dx = np.dot(dout, self.W.T)
        return dx.reshape(*self.original_x_shape)


def _running_ok(a, d, dtype):
    """A running statistic the kernel can update in place."""
    return (type(a) is np.ndarray and a.dtype == dtype and a.shape == (d,)
            and a.flags.c_contiguous and a.flags.writeable)


class BatchNormalization(_ref.BatchNormalization):
    """Batch normalization, the book's version, on two-pass kernels.

    Same attributes and numbers as the reference (to rounding): ``xc``,
    ``xn``, ``std``, ``batch_size`` after a training forward, ``dgamma``,
    ``dbeta`` after backward; 4-D input is flattened to (N, C·H·W).  The
    running statistics are updated in place (the reference rebinds them to
    new arrays), so arrays passed as ``running_mean``/``running_var`` see the
    updates; ones the kernel cannot update in place (another dtype, read-only,
    not contiguous) run the reference code.  Input of another dtype than
    gamma/beta also runs the reference code.
    """

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        super().__init__(gamma, beta, momentum, running_mean, running_var)
        self.ops = get_ops()
        self._pool = Pool()

    @exclusive_when_training
    def forward(self, x, train_flg=True):
        self.input_shape = x.shape
        x2 = x if x.ndim == 2 else x.reshape(x.shape[0], -1)
        if self.running_mean is None:
            self.running_mean = np.zeros(x2.shape[1], dtype=x2.dtype)
            self.running_var = np.zeros(x2.shape[1], dtype=x2.dtype)
        if train_flg:
            self.xc = self.xn = self.std = None   # let the pool reuse last step's buffers
            (out, self.xc, self.xn, self.std, self.running_mean,
             self.running_var) = self.ops.batchnorm_forward_train(
                x2, self.gamma, self.beta, self.running_mean, self.running_var,
                self.momentum, self.eps, self._pool)
            self.batch_size = x2.shape[0]
        else:
            out = self.ops.batchnorm_forward_infer(x2, self.gamma, self.beta, self.running_mean,
                                                   self.running_var, self.eps, self._pool)
        return out if x2 is x else out.reshape(*self.input_shape)

    @exclusive
    def backward(self, dout):
        d2 = dout if dout.ndim == 2 else dout.reshape(dout.shape[0], -1)
        dx, self.dgamma, self.dbeta = self.ops.batchnorm_backward(
            d2, self.xn, self.xc, self.std, self.gamma, self.batch_size, self._pool,
            self.dgamma, self.dbeta)
        return dx if dx.shape == self.input_shape else dx.reshape(*self.input_shape)


def _fast_generator(seed):
    """The generator of a fast-mode Dropout: ``seed`` may be None (fresh
    entropy), an int or SeedSequence (a new MT19937, which the kernel draws
    from directly), or a Generator/BitGenerator to use as is."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.BitGenerator):
        return np.random.Generator(seed)
    return np.random.Generator(np.random.MT19937(seed))


class Dropout(_ref.Dropout):
    """Non-inverted dropout (the book's): ``x·mask`` in training,
    ``x·(1 - dropout_ratio)`` in inference, mask drawn and applied in one pass.

    ``mode='exact'`` (default) draws from the global ``np.random`` exactly as
    the book's ``np.random.rand(*x.shape) > dropout_ratio``: after
    ``np.random.seed(s)`` the masks are the book's, bit for bit, and the
    global stream is left where the book leaves it.

    ``mode='fast'`` trades that stream for speed: its own generator
    (``self.rng``, from ``seed``: None, an int, a SeedSequence, or a
    Generator/BitGenerator to use), one 32-bit draw per element compared
    with ``floor(dropout_ratio·2³²)``.  Reproducible for a given seed; keeps
    a fraction 1 - dropout_ratio of the units (to 2⁻³²), but not the same
    units as the book's stream.

    ``mask`` is a bool array (one byte per element), reused between steps
    unless something else still holds it.

    ``inverted=True``: inverted dropout (the course's and most frameworks'):
    training divides the kept units by ``keep_prob = 1 - dropout_ratio``
    (same draws, same mask), inference returns x unchanged; equal to
    :class:`fastnn.reference.layers.Dropout` with ``inverted=True``.
    """

    def __init__(self, dropout_ratio=0.5, mode="exact", seed=None, *, inverted=False):
        _drop._check_ratio(dropout_ratio)
        fast = _drop._check_mode(mode)
        if not fast and seed is not None:
            raise ValueError("seed is only used with mode='fast'; mode='exact' draws from "
                             "the global np.random (seed it with np.random.seed)")
        super().__init__(dropout_ratio, inverted=inverted)
        self.mode = mode
        self.rng = _fast_generator(seed) if fast else None
        self.ops = get_ops()
        self._pool = Pool()

    @exclusive_when_training
    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = None   # let go of last step's mask so its buffer can be reused
        out, mask = self.ops.dropout_forward(x, self.dropout_ratio, train_flg, self.mode,
                                             self.rng, self.inverted, self._pool)
        if train_flg:
            self.mask = mask
        return out

    @exclusive
    def backward(self, dout):
        return self.ops.dropout_backward(dout, self.mask, self.dropout_ratio, self.inverted,
                                         self._pool)
