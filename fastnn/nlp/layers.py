"""The book's ``common/layers.py`` (the sequel's): MatMul, Affine, Softmax,
SoftmaxWithLoss, Sigmoid, SigmoidWithLoss, Dropout, Embedding.

Each layer keeps the book's constructor and attributes: ``params`` and
``grads`` are lists, the gradients are written into the arrays of
``grads`` in place (an optimizer or ``clip_grads`` holding them sees the
new values), and weights keep the dtype they are given (the book's models
pass float32).  The math goes through ``self.ops`` (the shared compiled
ops; ``layer.ops = fastnn.backends.get_ops('numpy')`` gives the plain
NumPy twin of any layer).
"""
from .._on_ops import OnOps
from . import _grad_rows
from .config import require_cpu
from .functions import cross_entropy_error, softmax  # noqa: F401  (the book's star-export)
from .np import GPU, np  # noqa: F401  (the book star-imports both from common.np)

# What the book's ``from common.layers import *`` gives (ch04/skip_gram.py uses np from it).
__all__ = ["np", "GPU", "softmax", "cross_entropy_error",
           "MatMul", "Affine", "Softmax", "SoftmaxWithLoss", "Sigmoid", "SigmoidWithLoss",
           "Dropout", "Embedding", "check_ids", "RowGrad"]


class _Layer(_grad_rows.ReleasedOnPickle, OnOps):
    _OPS = None             # the current default ops (fastnn.backends.use_ops)

    def _own_buffers(self):
        require_cpu()
        super()._own_buffers()


def _write_grad(grad, value):
    """The book's ``grads[i][...] = value`` (skipped when the op already
    wrote into ``grad``)."""
    if value is not grad:
        grad[...] = value


def check_ids(name, idx, vocab_size):
    """Raise unless ``idx`` is an integer array (or int) of ids in [0, vocab_size)."""
    a = np.asarray(idx)
    if a.dtype.kind not in "iu":
        raise TypeError("%s must hold integer token ids, got dtype %s" % (name, a.dtype))
    if a.size:
        lo, hi = a.min(), a.max()
        if lo < 0 or hi >= vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError("%s holds the token id %d, outside [0, %d) (the vocabulary "
                             "of the embedding matrix)" % (name, bad, vocab_size))


class MatMul(_Layer):
    def __init__(self, W):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.x = None
        self._own_buffers()

    def forward(self, x):
        W, = self.params
        out = self.ops.matmul_forward(x, W)
        self.x = x
        return out

    def backward(self, dout):
        W, = self.params
        dx, dW = self.ops.matmul_backward(dout, self.x, W)
        _write_grad(self.grads[0], dW)
        return dx


class Affine(_Layer):
    def __init__(self, W, b):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None
        self._x2 = self._x_dtype = None
        self._own_buffers()

    def forward(self, x):
        W, b = self.params
        self.x = x
        if np.ndim(x) == 2:
            out, self._x2, self._x_dtype = self.ops.affine_forward(x, W, b, self._pool)
        else:                         # the book's np.dot(x, W) + b on any rank
            self._x2 = self._x_dtype = None
            out = self.ops.matmul_forward(x, W) + b
        return out

    def backward(self, dout):
        W, b = self.params
        dW_buf, db_buf = self.grads
        if self._x2 is not None:
            dx, dW, db = self.ops.affine_backward(dout, self._x2, W, self._x_dtype, True, 0.0,
                                                  self._pool, dW_buf, db_buf)
        else:
            dx, dW = self.ops.matmul_backward(dout, self.x, W)
            db = np.sum(dout, axis=0)
        _write_grad(dW_buf, dW)
        _write_grad(db_buf, db)
        return dx


class Softmax(_Layer):
    def __init__(self):
        self.params, self.grads = [], []
        self.out = None
        self._own_buffers()

    def forward(self, x):
        self.out = self.ops.softmax_forward(x)
        return self.out

    def backward(self, dout):
        return self.ops.softmax_backward(dout, self.out)


class SoftmaxWithLoss(_Layer):
    def __init__(self):
        self.params, self.grads = [], []
        self.y = None  # the softmax output
        self.t = None  # the labels
        self._own_buffers()

    def forward(self, x, t):
        self.y = None
        loss, self.y = self.ops.softmax_cross_entropy_forward(x, t, 0.0, self._pool)
        # One-hot targets are kept as their labels, as the book keeps them.
        self.t = t.argmax(axis=1) if t.size == self.y.size else t
        return loss

    def backward(self, dout=1):
        if type(dout) in (int, float) and dout == 1:
            return self.ops.softmax_cross_entropy_backward(self.y, self.t, 0.0, self._pool)
        return self.ops.softmax_loss_backward(self.y, self.t, dout)


class Sigmoid(_Layer):
    def __init__(self):
        self.params, self.grads = [], []
        self.out = None
        self._own_buffers()

    def forward(self, x):
        self.out = None
        self.out = self.ops.sigmoid_forward(x, self._pool)
        return self.out

    def backward(self, dout):
        return self.ops.sigmoid_backward(dout, self.out, self._pool)


class SigmoidWithLoss(_Layer):
    def __init__(self):
        self.params, self.grads = [], []
        self.loss = None
        self.y = None  # the sigmoid output
        self.t = None  # the targets
        self._own_buffers()

    def forward(self, x, t):
        self.t = t
        self.loss, self.y = self.ops.sigmoid_loss_forward(x, t)
        return self.loss

    def backward(self, dout=1):
        return self.ops.sigmoid_loss_backward(self.y, self.t, dout)


class Dropout(_Layer):
    '''
    Non-inverted dropout (http://arxiv.org/abs/1207.0580): ``x·mask`` with
    ``mask = np.random.rand(*x.shape) > dropout_ratio`` in training (the
    book's stream, bit for bit), ``x·(1 - dropout_ratio)`` otherwise.
    '''
    def __init__(self, dropout_ratio=0.5):
        self.params, self.grads = [], []
        self.dropout_ratio = dropout_ratio
        self.mask = None
        self._own_buffers()

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = None
        out, mask = self.ops.dropout_forward(x, self.dropout_ratio, train_flg, "exact", None,
                                             False, self._pool)
        if train_flg:
            self.mask = mask
        return out

    def backward(self, dout):
        return self.ops.dropout_backward(dout, self.mask, self.dropout_ratio, False, self._pool)


class Embedding(_Layer):
    '''The rows ``W[idx]`` of an embedding matrix; the backward pass adds
    each row of dout into its id's row of dW (repeated ids add up), in
    one compiled scatter-add where the book calls ``np.add.at``.'''
    def __init__(self, W):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        _grad_rows.born_zero(self.grads[0])     # read-only between steps, from the start
        self.idx = None
        self._own_buffers()

    def forward(self, idx):
        W, = self.params
        check_ids("idx", idx, W.shape[0])
        self.idx = idx
        return self.ops.embedding_forward(W, idx)

    def __setstate__(self, state):
        self.__dict__.update(state)
        for g in state.get("grads", ()):        # released when pickled
            _grad_rows.relock(g)

    def backward(self, dout):
        dW, = self.grads
        _scatter_tracked(dW, self.idx,
                         lambda stale: self.ops.embedding_backward(dW, self.idx, dout, stale))
        return None


def _scatter_tracked(dW, idx, write):
    """Run ``write(stale)``, the ops' zero-then-scatter of ``idx`` into the
    gradient dW, zeroing only the rows dW is known to be nonzero in
    (``stale``, else None: all of it), then record ``idx`` as its rows
    (fastnn.nlp._grad_rows: dW is then read-only until the next write)."""
    stale = _grad_rows.unlock(dW)
    try:
        out = write(stale)
    except BaseException:
        _grad_rows.forget(dW)
        raise
    if isinstance(dW, np.ndarray) and dW.ndim == 2:
        _grad_rows.track(dW, idx)
    return out


class RowGrad:
    """A sparse gradient of a (V, H) weight (not in the book): the distinct
    row ids ``ids`` (int64, read-only) and their gradient rows ``rows``
    (len(ids), H); every other row's gradient is zero.  The sparse word2vec
    models (``CBOW(..., sparse=True)``) produce them and
    :class:`fastnn.nlp.optimizer.LazyAdam` consumes them; ``to_dense()``
    gives the (V, H) array they stand for.  NumPy refuses to treat one as an
    array (a dense optimizer given one raises TypeError, not a silent
    densification)."""

    __array_ufunc__ = None          # np.add(g, ...), g + array: TypeError

    def __init__(self, ids, rows, shape):
        from .._kernels import sparse_rows
        shape = tuple(int(n) for n in shape)
        if len(shape) != 2:
            raise ValueError("shape must be (V, H), got %r" % (shape,))
        rows = np.asarray(rows)
        if rows.dtype not in (np.float32, np.float64):
            raise TypeError("rows must be float32 or float64, got %s" % rows.dtype)
        ids = sparse_rows.as_ids(ids, "ids", shape[0], 1)
        if rows.shape != (ids.shape[0], shape[1]):
            raise ValueError("rows must have shape %s (one row of H=%d per id), got %s"
                             % ((ids.shape[0], shape[1]), shape[1], rows.shape))
        if sparse_rows.dedupe(ids, shape[0])[0].shape[0] != ids.shape[0]:
            raise ValueError("ids must be distinct (sum the rows of a repeated id first)")
        self._set(ids.copy(), np.ascontiguousarray(rows), shape)

    @classmethod
    def _trusted(cls, ids, rows, shape):
        """From a kernel's output: distinct ids in range, rows of the right shape."""
        g = cls.__new__(cls)
        g._set(ids, rows, shape)
        return g

    def _set(self, ids, rows, shape):
        ids.flags.writeable = False
        self.ids, self.rows, self.shape = ids, rows, shape

    @property
    def dtype(self):
        return self.rows.dtype

    def to_dense(self):
        """The (V, H) array: zeros, with ``rows`` at ``ids``."""
        out = np.zeros(self.shape, dtype=self.rows.dtype)
        out[self.ids] = self.rows
        return out

    def __array__(self, dtype=None, copy=None):
        raise TypeError("a RowGrad is a sparse gradient (row ids and rows): use "
                        "fastnn.nlp.optimizer.LazyAdam, or .to_dense() for the array")

    def _dense_only(self, *args):
        raise TypeError("a RowGrad is a sparse gradient (row ids and rows), not an array: "
                        "LazyAdam takes it (clip_grads, max_grad and the dense optimizers "
                        "do not); .to_dense() gives the array")

    __add__ = __radd__ = __iadd__ = __sub__ = __rsub__ = __isub__ = _dense_only
    __mul__ = __rmul__ = __imul__ = __truediv__ = __itruediv__ = __pow__ = _dense_only

    def __repr__(self):
        return "RowGrad(%d of %d rows, H=%d, %s)" % (self.ids.shape[0], self.shape[0],
                                                   self.shape[1], self.rows.dtype)
