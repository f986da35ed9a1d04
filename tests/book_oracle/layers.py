"""Layers with ``forward``/``backward``, as in the book's ``common/layers.py``
(the test oracle; see this package's docstring).

Each layer caches what its backward pass needs during ``forward``.  Layers
that hold parameters keep references to the network's arrays (``Affine.W``
*is* ``params['W1']``), so an optimizer that updates ``params`` in place
updates the layer too.
"""
import numpy as np

from fastnn.reference.functions import sigmoid, softmax, cross_entropy_error
from fastnn.reference.util import im2col, col2im
from fastnn._checks import check_window

__all__ = ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss",
           "BatchNormalization", "Dropout", "Convolution", "Pooling"]


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = (x <= 0)
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        # The book zeroes ``dout`` in place; a copy keeps the caller's array
        # intact and gives the same numbers.
        dx = dout.copy()
        dx[self.mask] = 0
        return dx


class Sigmoid:
    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Affine:
    """out = x·W + b; input of any rank is flattened to (N, -1) first."""

    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class SoftmaxWithLoss:
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

    def _smoothed_target(self):
        n, c = self.y.shape
        if self.t.size == self.y.size:
            onehot = self.t.reshape(n, c).astype(self.y.dtype)
        else:
            onehot = np.zeros_like(self.y)
            onehot[np.arange(n), self.t] = 1
        eps = self.label_smoothing
        return (1.0 - eps) * onehot + eps / c

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        if self.label_smoothing:
            target = self._smoothed_target()
            self.loss = -np.sum(target * np.log(self.y + 1e-7)) / self.y.shape[0]
        else:
            self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        if self.label_smoothing:
            return (self.y - self._smoothed_target()) / batch_size
        if self.t.size == self.y.size:
            return (self.y - self.t) / batch_size
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx / batch_size


class Dropout:
    """Non-inverted dropout (http://arxiv.org/abs/1207.0580).

    Training keeps each unit with probability ``1 - dropout_ratio`` and does
    not rescale; inference multiplies by ``1 - dropout_ratio`` instead.  The
    mask comes from the global ``np.random``, so ``np.random.seed`` makes a
    run repeat the book's run.

    ``inverted=True`` (not in the book) is the dropout of the course notes
    and of most frameworks: training divides the kept units by
    ``keep_prob = 1 - dropout_ratio``, inference passes x through unchanged.
    The expected activation is x in both modes.
    """

    def __init__(self, dropout_ratio=0.5, *, inverted=False):
        self.dropout_ratio = dropout_ratio
        self.inverted = inverted
        self.mask = None

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            if self.inverted:
                return x * self.mask / (1.0 - self.dropout_ratio)
            return x * self.mask
        if self.inverted:
            return x
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        if self.inverted:
            return dout * self.mask / (1.0 - self.dropout_ratio)
        return dout * self.mask


class BatchNormalization:
    """Batch normalization (http://arxiv.org/abs/1502.03167), the book's version.

    Statistics are per column of the (N, D) input; 4-D input (N, C, H, W) is
    flattened to (N, C·H·W), i.e. one statistic per activation, not per
    channel.  eps is 1e-6, the variance is the biased batch variance, and the
    running statistics start at zero on the first forward pass and move as
    ``running = momentum·running + (1-momentum)·batch``.
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

    def forward(self, x, train_flg=True):
        self.input_shape = x.shape
        if x.ndim != 2:
            x = x.reshape(x.shape[0], -1)
        return self._forward(x, train_flg).reshape(*self.input_shape)

    def _forward(self, x, train_flg):
        if self.running_mean is None:
            d = x.shape[1]
            self.running_mean = np.zeros(d, dtype=x.dtype)
            self.running_var = np.zeros(d, dtype=x.dtype)
        if train_flg:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc ** 2, axis=0)
            std = np.sqrt(var + self.eps)
            xn = xc / std
            self.batch_size = x.shape[0]
            self.xc = xc
            self.xn = xn
            self.std = std
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            xc = x - self.running_mean
            xn = xc / np.sqrt(self.running_var + self.eps)
        return self.gamma * xn + self.beta

    def backward(self, dout):
        if dout.ndim != 2:
            dout = dout.reshape(dout.shape[0], -1)
        return self._backward(dout).reshape(*self.input_shape)

    def _backward(self, dout):
        dbeta = dout.sum(axis=0)
        dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / self.batch_size) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        dx = dxc - dmu / self.batch_size
        self.dgamma = dgamma
        self.dbeta = dbeta
        return dx


def _filter_shape(W):
    shape = getattr(W, "shape", ())
    if len(shape) != 4:
        raise ValueError("W must be 4-D (FN, C, FH, FW), got shape %s" % (tuple(shape),))
    return shape


class Convolution:
    """2-D convolution (cross-correlation) through im2col and one matrix product.

    W is (FN, C, FH, FW) and b is (FN,).  The output (N, FN, out_h, out_w)
    is, as in the book, a transposed view of the (N·out_h·out_w, FN) product.
    ``col`` (the im2col matrix), ``col_W`` (W as a (C·FH·FW, FN) matrix) and
    ``x`` are kept for the backward pass, which sets ``dW`` and ``db``.
    """

    def __init__(self, W, b, stride=1, pad=0):
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x = None
        self.col = None
        self.col_W = None
        self.dW = None
        self.db = None

    def forward(self, x):
        fn, c, fh, fw = _filter_shape(self.W)
        out_h, out_w = check_window(x, fh, fw, self.stride, self.pad, channels=c)
        col = im2col(x, fh, fw, self.stride, self.pad)
        col_W = self.W.reshape(fn, -1).T
        out = np.dot(col, col_W) + self.b
        self.x = x
        self.col = col
        self.col_W = col_W
        return out.reshape(x.shape[0], out_h, out_w, -1).transpose(0, 3, 1, 2)

    def backward(self, dout):
        fn, c, fh, fw = self.W.shape
        rows = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = np.sum(rows, axis=0)
        self.dW = np.dot(self.col.T, rows).transpose(1, 0).reshape(fn, c, fh, fw)
        dcol = np.dot(rows, self.col_W.T)
        return col2im(dcol, self.x.shape, fh, fw, self.stride, self.pad)


class Pooling:
    """Max pooling over pool_h x pool_w windows (default stride 2, the book's).

    ``arg_max`` holds, for every window in (n, oh, ow, c) order, the index
    of its maximum in (fh, fw) order (ties: the first, as ``np.argmax``).
    A ``pad`` is handed to im2col, which pads with zeros.
    """

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None
        self.arg_max = None

    def forward(self, x):
        out_h, out_w = check_window(x, self.pool_h, self.pool_w, self.stride, self.pad,
                                    pooling=True)
        n, c = x.shape[:2]
        windows = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        windows = windows.reshape(-1, self.pool_h * self.pool_w)
        self.arg_max = np.argmax(windows, axis=1)
        out = np.max(windows, axis=1)
        self.x = x
        return out.reshape(n, out_h, out_w, c).transpose(0, 3, 1, 2)

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, size))
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(-1, self.x.shape[1] * size)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)
