"""The book's ``common/layers.py``: each layer written once, over ``self.ops``.

A layer keeps the book's constructor, attributes and numbers; its math is
the ops object's (``self.ops``): :class:`fastnn.backends.CompiledOps` here
(compiled kernels, and NumPy's formulas for the inputs they do not take),
:class:`fastnn.backends.NumpyOps` in :mod:`fastnn.reference.layers`, whose
classes are these with ``_OPS = "numpy"`` and nothing else.  The formulas
themselves, in NumPy, are in ``fastnn/backends/numpy_ops.py``.

Buffers.  A layer takes its outputs (``forward``'s result, ``backward``'s
dx, batch norm's ``xc``/``xn``, dropout's ``mask``, ...) from a
:class:`fastnn._kernels.pool.Pool` (its own, or the one its network shares
among its layers), so a training step allocates nothing.  A buffer is
reused only while nothing outside the pool references it (checked with the
reference count, which counts views, memoryviews and the next layer holding
it as its input); otherwise the pool makes a fresh array, so an array a
layer returned never changes under its holder.  The parameter gradients
(``dW``, ``db``, ``dgamma``, ``dbeta``) are different: like PyTorch's
``.grad`` they are overwritten in place by the next ``backward`` -- copy
them to keep them.  NumpyOps ignores the pool (NumPy's results are new).

Threads.  One training thread per layer: ``backward`` (or a training
``forward`` of BatchNormalization/Dropout) entered while another thread is
inside the layer raises RuntimeError naming it (:mod:`fastnn._guard`).

Differences from the book that do not change a number:

* ``Affine``/``Convolution.need_input_grad = False`` skips dx (the networks
  set it on their first layer) and ``backward`` then returns None;
  ``Affine.weight_decay`` λ adds λ·W to dW inside the same GEMM;
* a convolution's output is a C-contiguous (N, FN, OH, OW) array (the
  book's is a transposed view); ``Convolution.col`` and ``Pooling.arg_max``
  are built in the book's layout when first read (the kernels work one
  sample at a time, in NCHW order);
* on the compiled ops, ``dx``/``dW``/``db`` of a convolution have W's dtype
  (the book's im2col makes them float64 whatever the input), and
  ``SoftmaxWithLoss`` raises ValueError for class labels outside ``[0, C)``
  (the book wraps negative labels around and fails with an IndexError on
  too large ones);
* BatchNormalization updates the running statistics in place where it can
  (the book rebinds them to new arrays): arrays passed as ``running_mean``/
  ``running_var`` see the updates.
"""
import numpy as np

from ._checks import check_dropout_mode, check_dropout_ratio
from ._guard import exclusive, exclusive_when_training, shared
from ._on_ops import OnOps, unshared
from .functions import *  # noqa: F401,F403  (the book's layers module star-imports them)
from .functions import __all__ as _functions_all
from .util import col2im, im2col

__all__ = ["Relu", "Sigmoid", "Tanh", "Affine", "SoftmaxWithLoss", "BatchNormalization", "Dropout",
           "Convolution", "Pooling", "im2col", "col2im"] + list(_functions_all)


# -- activations ---------------------------------------------------------------

class Relu(OnOps):
    """ReLU; ``mask`` is the bool array ``x <= 0`` (NaN passes through)."""

    def __init__(self):
        self.mask = None
        self._own_buffers()

    @shared
    def forward(self, x):
        self.mask = None  # drop our own hold so last step's mask can be reused
        out, self.mask = self.ops.relu_forward(x, self._pool)
        return out

    @exclusive
    def backward(self, dout):
        # The book zeroes ``dout`` in place; a new array keeps the caller's
        # intact and gives the same numbers.
        return self.ops.relu_backward(dout, self.mask, self._pool)


class Sigmoid(OnOps):
    """Sigmoid; ``out`` is the forward output, used by ``backward``."""

    def __init__(self):
        self.out = None
        self._own_buffers()

    @shared
    def forward(self, x):
        self.out = None
        self.out = self.ops.sigmoid_forward(x, self._pool)
        return self.out

    @exclusive
    def backward(self, dout):
        return self.ops.sigmoid_backward(dout, self.out, self._pool)


class Tanh(OnOps):
    """tanh (not a layer of the first book: its sequel's RNN uses it, and
    chapter 6's activation-histogram experiment); ``out`` is the forward
    output, used by ``backward``: dx = dout·(1 - out²)."""

    def __init__(self):
        self.out = None
        self._own_buffers()

    @shared
    def forward(self, x):
        self.out = None
        self.out = self.ops.tanh_forward(x, self._pool)
        return self.out

    @exclusive
    def backward(self, dout):
        return self.ops.tanh_backward(dout, self.out, self._pool)


# -- affine --------------------------------------------------------------------

class Affine(OnOps):
    """out = x·W + b; input of any rank is flattened to (N, -1) first.

    The result dtype is NumPy's promotion of x and W: float32 images fed to
    a float64 layer are converted once (into a reusable buffer, which is
    then ``self.x``).

    Extras over the book's layer, both plain attributes:

    * ``need_input_grad`` (default True): when False, ``backward`` skips the
      dx GEMM and returns None (the network sets it on its first layer,
      whose input gradient nobody uses).
    * ``weight_decay`` λ (default 0): when nonzero, ``backward`` stores
      ``dW = xᵀ·dout + λ·W``, the gradient including the L2 term ½λΣW²
      (the network sets it from its ``weight_decay_lambda``).
    """

    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None
        self.need_input_grad = True
        self.weight_decay = 0.0
        self._x_dtype = None   # x's own dtype (self.x may be it converted to W's)
        self._own_buffers()

    @shared
    def forward(self, x):
        self.original_x_shape = x.shape
        self.x = None   # let the pool reuse last step's converted input
        out, self.x, self._x_dtype = self.ops.affine_forward(x, self.W, self.b, self._pool)
        return out

    @exclusive
    def backward(self, dout):
        dx, self.dW, self.db = self.ops.affine_backward(
            dout, self.x, self.W, self._x_dtype, self.need_input_grad, self.weight_decay,
            self._pool, unshared(self.dW, dout, self.x), unshared(self.db, dout, self.x))
        if dx is None or dx.shape == self.original_x_shape:
            return dx
        return dx.reshape(*self.original_x_shape)


# -- softmax with loss ---------------------------------------------------------

class SoftmaxWithLoss(OnOps):
    """Softmax followed by the mean cross-entropy over the batch.

    ``t`` is class indices (N,) or one-hot rows (N, C).  With
    ``label_smoothing=eps`` the target becomes ``(1-eps)·onehot + eps/C``;
    ``eps=0`` (the default) is exactly the book's layer.  As in the book,
    ``backward`` ignores ``dout`` (the loss is the end of the graph).
    """

    def __init__(self, label_smoothing=0.0):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError("label_smoothing must be in [0, 1), got %r" % (label_smoothing,))
        self.label_smoothing = label_smoothing
        self.loss = None
        self.y = None
        self.t = None
        self._own_buffers()

    @shared
    def forward(self, x, t):
        self.t = t
        self.y = None
        self.loss, self.y = self.ops.softmax_cross_entropy_forward(
            x, t, self.label_smoothing, self._pool)
        return self.loss

    @exclusive
    def backward(self, dout=1):
        return self.ops.softmax_cross_entropy_backward(self.y, self.t, self.label_smoothing,
                                                       self._pool)


# -- batch normalization ---------------------------------------------------------

class BatchNormalization(OnOps):
    """Batch normalization (http://arxiv.org/abs/1502.03167), the book's version.

    Statistics are per column of the (N, D) input; 4-D input (N, C, H, W) is
    flattened to (N, C·H·W), i.e. one statistic per activation, not per
    channel.  eps is 1e-6, the variance is the biased batch variance, and the
    running statistics start at zero on the first forward pass and move as
    ``running = momentum·running + (1-momentum)·batch``.  After a training
    forward: ``xc``, ``xn``, ``std``, ``batch_size``; after backward:
    ``dgamma``, ``dbeta``.
    """

    eps = 10e-7

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.input_shape = None
        self.running_mean = running_mean
        self.running_var = running_var
        self.batch_size = None
        self.xc = None
        self.xn = None
        self.std = None
        self.dgamma = None
        self.dbeta = None
        self._own_buffers()

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


# -- dropout -----------------------------------------------------------------------

def _fast_generator(seed):
    """The generator of a fast-mode Dropout: ``seed`` may be None (fresh
    entropy), an int or SeedSequence (a new MT19937, which the kernel draws
    from directly), or a Generator/BitGenerator to use as is."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.BitGenerator):
        return np.random.Generator(seed)
    return np.random.Generator(np.random.MT19937(seed))


class Dropout(OnOps):
    """Non-inverted dropout (http://arxiv.org/abs/1207.0580), the book's:
    ``x·mask`` in training, ``x·(1 - dropout_ratio)`` in inference.

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

    ``inverted=True`` (not in the book): the dropout of the course notes and
    of most frameworks: training divides the kept units by
    ``keep_prob = 1 - dropout_ratio`` (same draws, same mask), inference
    returns x unchanged.  The expected activation is x in both modes.
    """

    def __init__(self, dropout_ratio=0.5, mode="exact", seed=None, *, inverted=False):
        check_dropout_ratio(dropout_ratio)
        fast = check_dropout_mode(mode)
        if not fast and seed is not None:
            raise ValueError("seed is only used with mode='fast'; mode='exact' draws from "
                             "the global np.random (seed it with np.random.seed)")
        self.dropout_ratio = dropout_ratio
        self.inverted = inverted
        self.mask = None
        self.mode = mode
        self.rng = _fast_generator(seed) if fast else None
        self._own_buffers()

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


# -- convolution and pooling ---------------------------------------------------------

class _BookLayout:
    """An attribute in the book's layout, built from the ops' own state on
    first read and cached in ``_<name>``; assigning it sets the cache."""

    def __init__(self, build, doc):
        self._build, self.__doc__ = build, doc

    def __set_name__(self, owner, name):
        self._slot = "_" + name

    def __get__(self, layer, owner=None):
        if layer is None:
            return self
        value = getattr(layer, self._slot)
        if value is None:
            value = self._build(layer)
            setattr(layer, self._slot, value)
        return value

    def __set__(self, layer, value):
        setattr(layer, self._slot, value)


def _book_col(layer):
    if layer.x is None:
        return None
    fh, fw = layer.W.shape[2:]
    return im2col(layer.x, fh, fw, layer.stride, layer.pad)


def _book_arg_max(layer):
    if layer._arg is None:
        return None
    nhwc = layer._arg.transpose(0, 2, 3, 1)
    return nhwc.astype(np.intp, order="C", copy=False).reshape(-1)


class Convolution(OnOps):
    """2-D convolution (cross-correlation): im2col and one matrix product.

    W is (FN, C, FH, FW) and b is (FN,).  ``x``, ``col`` (the im2col matrix,
    in the book's layout: the compiled ops work one sample at a time and
    never build the whole batch's, so it is computed when first read) and
    ``col_W`` (W as a (C·FH·FW, FN) matrix) are kept for the backward pass,
    which sets ``dW`` and ``db``.
    """

    col = _BookLayout(_book_col, "im2col of the last input, in the book's layout "
                                 "(computed on first read).")

    def __init__(self, W, b, stride=1, pad=0):
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x = None
        self._col = None
        self.col_W = None
        self.dW = None
        self.db = None
        self.need_input_grad = True
        self._own_buffers()

    @shared
    def forward(self, x):
        self.x = self._col = None   # let the pool reuse last step's converted input
        out, self.x, self._col, self.col_W = self.ops.conv_forward(
            x, self.W, self.b, self.stride, self.pad, self._pool)
        return out

    @exclusive
    def backward(self, dout):
        dx, self.dW, self.db = self.ops.conv_backward(
            dout, self.x, self._col, self.col_W, self.W, self.stride, self.pad,
            self.need_input_grad, self._pool, unshared(self.dW, dout, self.x),
            unshared(self.db, dout, self.x))
        return dx


class Pooling(OnOps):
    """Max pooling over pool_h x pool_w windows (default stride 2, the book's).

    ``arg_max`` is the book's: one index per window in (n, oh, ow, c) order,
    ties to the first maximum in (fh, fw) order, padding read as zeros.  The
    ops keep it in NCHW order (the compiled kernels one byte per window when
    pool_h·pool_w <= 256, an eighth of the memory traffic); the book's array
    is built on first read.
    """

    arg_max = _BookLayout(_book_arg_max, "Per window, in (n, oh, ow, c) order, the "
                                         "(fh, fw)-flat index of its maximum.")

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None
        self._arg = None          # the ops' (N, C, OH, OW) indices
        self._arg_max = None      # the book's layout, built on first read
        self._own_buffers()

    @shared
    def forward(self, x):
        self.x = self._arg = self._arg_max = None
        out, self.x, self._arg = self.ops.maxpool_forward(
            x, self.pool_h, self.pool_w, self.stride, self.pad, self._pool)
        return out

    @exclusive
    def backward(self, dout):
        return self.ops.maxpool_backward(dout, self.x, self._arg, self.pool_h, self.pool_w,
                                         self.stride, self.pad, self._pool)

