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
from .config import require_cpu
from .functions import cross_entropy_error, softmax  # noqa: F401  (the book's star-export)
from .np import GPU, np  # noqa: F401  (the book star-imports both from common.np)

# What the book's ``from common.layers import *`` gives (ch04/skip_gram.py uses np from it).
__all__ = ["np", "GPU", "softmax", "cross_entropy_error",
           "MatMul", "Affine", "Softmax", "SoftmaxWithLoss", "Sigmoid", "SigmoidWithLoss",
           "Dropout", "Embedding", "check_ids"]


class _Layer(OnOps):
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
        self.idx = None
        self._own_buffers()

    def forward(self, idx):
        W, = self.params
        check_ids("idx", idx, W.shape[0])
        self.idx = idx
        return self.ops.embedding_forward(W, idx)

    def backward(self, dout):
        dW, = self.grads
        self.ops.embedding_backward(dW, self.idx, dout)
        return None
