"""The book's ``common/time_layers.py`` (the sequel's): RNN, TimeRNN, LSTM,
TimeLSTM, GRU, TimeGRU, TimeEmbedding, TimeAffine, TimeSoftmaxWithLoss,
TimeDropout, TimeBiLSTM, TimeSigmoidWithLoss, Simple_TimeSoftmaxWithLoss,
Simple_TimeAffine.

The constructors, ``params``/``grads`` lists (gradients written into the
arrays of ``grads`` in place), ``stateful``, ``h``/``c``/``dh``,
``set_state`` and ``reset_state`` are the book's.  The math goes through
``self.ops``: the compiled ops run a whole sequence in one call (the time
loop in C, one GEMM for the input projection of every step, fused gates:
fastnn/_kernels/rnn.pyx); ``layer.ops = fastnn.backends.get_ops('numpy')``
gives the book's step-by-step NumPy loop, the oracle.  The one-step layers
(RNN, LSTM, GRU) are the sequence ops with T = 1.

Summation order: on one thread, SimpleRnnlm's and Rnnlm's layers give the
book's numbers bit for bit; layers whose Wx and Wh exceed 1 MiB (BetterRnnlm's
650) sum dWx/dWh over all steps in one GEMM (within a few machine epsilons)
unless FASTNN_NLP_BOOK_ORDER=1 or ``fastnn._kernels.rnn.book_order(True)``.

Arrays follow the weights' dtype (the book's float32 models stay float32;
float64 weights give float64 states and outputs where the book would round
its ``hs`` buffer to float32).  ``from fastnn.nlp.time_layers import *``
brings in ``np`` and the layers of :mod:`fastnn.nlp.layers`, as the book's
star import does.
"""
from .np import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .layers import _Layer, check_ids
from .functions import softmax, sigmoid  # noqa: F401


def _check_xs(xs, Wx):
    """xs must be (N, T, D) with T >= 1 and D = Wx.shape[0]."""
    shape = getattr(xs, "shape", None)
    if shape is None or len(shape) != 3:
        raise ValueError("xs must be a 3-D array (N, T, D), got shape %s" % (shape,))
    if shape[1] == 0:
        raise ValueError("xs has T = 0 time steps (shape %s): need T >= 1" % (shape,))
    if shape[2] != Wx.shape[0]:
        raise ValueError("xs has D = %d features (shape %s) but Wx has shape %s"
                         % (shape[2], shape, Wx.shape))


def _check_state(name, s, n, h):
    if s is not None and getattr(s, "shape", None) != (n, h):
        raise ValueError("%s has shape %s, expected (%d, %d) (batch, hidden): call "
                         "reset_state() when the batch size changes"
                         % (name, getattr(s, "shape", None), n, h))


def _step_input(x):
    """A one-step layer's x (N, D) as a sequence of one step (N, 1, D)."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError("x must be 2-D (N, D), got shape %s" % (x.shape,))
    return x[:, None, :]


class _Recurrent(_Layer):
    """The book's parameter lists of a recurrent layer."""

    def _init_params(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]

    def _zeros(self, n):
        Wh = self.params[1]
        return np.zeros((n, Wh.shape[0]), dtype=Wh.dtype)


class _OneState(_Recurrent):
    """A cell with one state h, one step (RNN, GRU): the ops ``<_OP>_forward``
    and ``<_OP>_backward`` over a sequence of length 1."""

    _OP = None

    def __init__(self, Wx, Wh, b):
        self._init_params(Wx, Wh, b)
        self.cache = None
        self._own_buffers()

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        xs = _step_input(x)
        _check_xs(xs, Wx)
        _check_state("h_prev", h_prev, xs.shape[0], Wh.shape[0])
        self.cache = None
        _, h_next, self.cache = getattr(self.ops, self._OP + "_forward")(
            xs, Wx, Wh, b, h_prev, self._pool)
        return h_next

    def backward(self, dh_next):
        Wx, Wh, _ = self.params
        dxs, dh_prev = getattr(self.ops, self._OP + "_backward")(
            np.asarray(dh_next)[:, None, :], None, self.cache, Wx, Wh, *self.grads,
            pool=self._pool)
        return dxs[:, 0, :], dh_prev


class _TimeOneState(_Recurrent):
    """The Time version of a one-state cell (TimeRNN, TimeGRU): the whole
    sequence in one call of ``<_OP>_forward``/``<_OP>_backward``; ``stateful``
    keeps h across calls."""

    _OP = None

    def __init__(self, Wx, Wh, b, stateful=False):
        self._init_params(Wx, Wh, b)
        self.layers = None
        self.h, self.dh = None, None
        self.stateful = stateful
        self._cache = None
        self._own_buffers()

    def forward(self, xs):
        Wx, Wh, b = self.params
        _check_xs(xs, Wx)
        n = xs.shape[0]
        if not self.stateful or self.h is None:
            self.h = self._zeros(n)
        _check_state("h", self.h, n, Wh.shape[0])
        self._cache = None
        hs, self.h, self._cache = getattr(self.ops, self._OP + "_forward")(
            xs, Wx, Wh, b, self.h, self._pool)
        return hs

    def backward(self, dhs):
        Wx, Wh, _ = self.params
        dxs, self.dh = getattr(self.ops, self._OP + "_backward")(
            dhs, None, self._cache, Wx, Wh, *self.grads, pool=self._pool)
        return dxs

    def set_state(self, h):
        self.h = h

    def reset_state(self):
        self.h = None


class RNN(_OneState):
    """The book's RNN cell: h_next = tanh(h_prev·Wh + x·Wx + b)."""
    _OP = "rnn"


class TimeRNN(_TimeOneState):
    _OP = "rnn"


class LSTM(_Recurrent):
    def __init__(self, Wx, Wh, b):
        '''Wx, Wh, b: the four gates' weights side by side, [f g i o].'''
        self._init_params(Wx, Wh, b)
        self.cache = None
        self._own_buffers()

    def forward(self, x, h_prev, c_prev):
        Wx, Wh, b = self.params
        xs = _step_input(x)
        _check_xs(xs, Wx)
        n, hd = xs.shape[0], Wh.shape[0]
        _check_state("h_prev", h_prev, n, hd)
        _check_state("c_prev", c_prev, n, hd)
        self.cache = None
        _, h_next, c_next, self.cache = self.ops.lstm_forward(xs, Wx, Wh, b, h_prev, c_prev,
                                                              self._pool)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        Wx, Wh, _ = self.params
        dxs, dh_prev, dc_prev = self.ops.lstm_backward(
            np.asarray(dh_next)[:, None, :], None, dc_next, self.cache, Wx, Wh, *self.grads,
            pool=self._pool)
        return dxs[:, 0, :], dh_prev, dc_prev


class TimeLSTM(_Recurrent):
    def __init__(self, Wx, Wh, b, stateful=False):
        self._init_params(Wx, Wh, b)
        self.layers = None
        self.h, self.c = None, None
        self.dh = None
        self.stateful = stateful
        self._cache = None
        self._own_buffers()

    def forward(self, xs):
        Wx, Wh, b = self.params
        _check_xs(xs, Wx)
        n, hd = xs.shape[0], Wh.shape[0]
        if not self.stateful or self.h is None:
            self.h = self._zeros(n)
        if not self.stateful or self.c is None:
            self.c = self._zeros(n)
        _check_state("h", self.h, n, hd)
        _check_state("c", self.c, n, hd)
        self._cache = None
        hs, self.h, self.c, self._cache = self.ops.lstm_forward(xs, Wx, Wh, b, self.h, self.c,
                                                                self._pool)
        return hs

    def backward(self, dhs):
        Wx, Wh, _ = self.params
        dxs, self.dh, _ = self.ops.lstm_backward(dhs, None, None, self._cache, Wx, Wh,
                                                 *self.grads, pool=self._pool)
        return dxs

    def set_state(self, h, c=None):
        self.h, self.c = h, c

    def reset_state(self):
        self.h, self.c = None, None


class GRU(_OneState):
    """The GRU cell; Wx, Wh, b: the gates' weights side by side, [z r h]."""
    _OP = "gru"

    def backward(self, dh_next):
        dxs, dh_prev = super().backward(dh_next)
        self.dWx, self.dWh, self.db = self.grads
        return dxs, dh_prev


class TimeGRU(_TimeOneState):
    _OP = "gru"


class TimeEmbedding(_Layer):
    def __init__(self, W):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.layers = None
        self.W = W
        self.idx = None
        self._own_buffers()

    def forward(self, xs):
        xs = np.asarray(xs)
        if xs.ndim != 2:
            raise ValueError("xs must be a 2-D array of token ids (N, T), got shape %s"
                             % (xs.shape,))
        if xs.shape[1] == 0:
            raise ValueError("xs has T = 0 time steps (shape %s): need T >= 1" % (xs.shape,))
        check_ids("xs", xs, self.W.shape[0])
        self.idx = xs
        return self.ops.time_embedding_forward(self.W, xs, self._pool)

    def backward(self, dout):
        self.ops.time_embedding_backward(dout, self.idx, self.grads[0], pool=self._pool)
        return None


class TimeAffine(_Layer):
    def __init__(self, W, b):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None
        self._x2 = None
        self._own_buffers()

    def forward(self, x):
        N, T, D = x.shape
        W, b = self.params
        self._x2 = x.reshape(N * T, -1)
        out = self.ops.time_affine_forward(self._x2, W, b, self._pool)
        self.x = x
        return out.reshape(N, T, -1)

    def backward(self, dout):
        return self._backward(dout, self.grads[1])

    def _backward(self, dout, db):
        """backward, with db None when the caller has already written the
        bias gradient (see _scores_loss_backward)."""
        N, T, D = self.x.shape
        W, b = self.params
        dx = self.ops.time_affine_backward(dout.reshape(N * T, -1), self._x2, W,
                                           self.grads[0], db, self._pool)
        return dx.reshape(N, T, D)


class TimeSoftmaxWithLoss(_Layer):
    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None
        self.ignore_label = -1
        self._own_buffers()

    def forward(self, xs, ts):
        return self._forward(xs, ts, False)

    def _forward(self, xs, ts, overwrite):
        """forward; ``overwrite``: xs is the caller's own scratch, which the
        compiled ops overwrite with the softmax (see _scores_loss_forward)."""
        N, T, V = xs.shape
        ts = np.asarray(ts)
        if ts.ndim == 3:  # one-hot targets
            ts = ts.argmax(axis=2)
        if ts.shape != (N, T):
            raise ValueError("ts has shape %s, expected (N, T) = %s to match xs %s"
                             % (ts.shape, (N, T), xs.shape))
        if T == 0:
            raise ValueError("xs has T = 0 time steps (shape %s): need T >= 1" % (xs.shape,))
        if V == 0:
            raise ValueError("xs has V = 0 classes (shape %s): need V >= 1" % (xs.shape,))
        if ts.dtype.kind not in "iu":
            raise TypeError("ts must hold integer labels, got dtype %s" % ts.dtype)
        if ts.size:
            kept = ts[ts != self.ignore_label]
            if kept.size and (kept.min() < 0 or kept.max() >= V):
                bad = kept.min() if kept.min() < 0 else kept.max()
                raise ValueError("ts holds the label %d, outside [0, %d) (and not "
                                 "ignore_label %r)" % (bad, V, self.ignore_label))
        self.cache = None
        loss, self.cache = self.ops.time_softmax_loss_forward(xs, ts, self.ignore_label,
                                                              self._pool, overwrite)
        return loss

    def backward(self, dout=1):
        return self.ops.time_softmax_loss_backward(dout, self.cache, self._pool)

    def _backward(self, dout, db):
        """backward, writing the column sums of dx into ``db`` (V,) in the
        same pass: the bias gradient of the TimeAffine that made the scores."""
        return self.ops.time_softmax_loss_backward(dout, self.cache, self._pool, db)


# -- the output layer and its loss, as a model runs them ------------------------------
# A model whose scores go only into its loss (Rnnlm's and BetterRnnlm's
# forward: the scores are never returned) lets the loss's softmax overwrite
# them: one N·T·V buffer less to fetch for writing (at Rnnlm's sizes 28 MB a
# step).  The loss's backward pass also adds up the affine's bias gradient,
# np.sum(dx, axis=0) in its order (the same bits), so that dx is not read
# again for it.  Other layer classes (a subclass, a layer of the user's) get
# the plain calls, and so do instances with a forward or backward of their own
# (a hook set on the instance may keep the scores).

def _is_method(obj, name, func):
    """Whether ``obj.name`` is the class's ``func`` (not a subclass's method
    or one set on the instance, a hook, which the book's path would call)."""
    return getattr(getattr(obj, name, None), "__func__", None) is func


def _scores_loss_forward(affine, loss, hs, ts):
    """``loss.forward(affine.forward(hs), ts)``."""
    if (type(affine) is TimeAffine and type(loss) is TimeSoftmaxWithLoss
            and _is_method(affine, "forward", TimeAffine.forward)
            and _is_method(loss, "forward", TimeSoftmaxWithLoss.forward)):
        loss.cache = None       # the last step's softmax (over the last scores) goes first
        return loss._forward(affine.forward(hs), ts, True)
    return loss.forward(affine.forward(hs), ts)


def _scores_loss_backward(affine, loss, dout):
    """``affine.backward(loss.backward(dout))``."""
    if (type(affine) is TimeAffine and type(loss) is TimeSoftmaxWithLoss
            and _is_method(affine, "backward", TimeAffine.backward)
            and _is_method(loss, "backward", TimeSoftmaxWithLoss.backward)):
        return affine._backward(loss._backward(dout, affine.grads[1]), None)
    return affine.backward(loss.backward(dout))


class TimeDropout(_Layer):
    def __init__(self, dropout_ratio=0.5):
        self.params, self.grads = [], []
        self.dropout_ratio = dropout_ratio
        self._keep = None
        self._mask = None
        self.train_flg = True
        self._own_buffers()

    # The book keeps ``mask = (rand > ratio).astype(float32) * scale``; this
    # layer keeps the bool draw and makes that array when ``mask`` is read.
    @property
    def mask(self):
        if self._mask is None and self._keep is not None:
            self._mask = self._keep.astype(np.float32) * (1 / (1.0 - self.dropout_ratio))
        return self._mask

    @mask.setter
    def mask(self, value):
        self._mask, self._keep = value, None

    def forward(self, xs):
        if not self.train_flg:
            return xs
        self._keep = self._mask = None
        out, self._keep = self.ops.dropout_forward(xs, self.dropout_ratio, True, "exact", None,
                                                   False, self._pool)
        # xs·mask·scale: the book's x * (float32(1)·scale), one rounding
        out *= np.float32(1 / (1.0 - self.dropout_ratio))
        return out

    def backward(self, dout):
        if self._keep is None:
            return dout * self._mask
        dx = self.ops.dropout_backward(dout, self._keep, self.dropout_ratio, False, self._pool)
        dx *= np.float32(1 / (1.0 - self.dropout_ratio))
        return dx


class TimeBiLSTM:
    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2, stateful=False):
        self.forward_lstm = TimeLSTM(Wx1, Wh1, b1, stateful)
        self.backward_lstm = TimeLSTM(Wx2, Wh2, b2, stateful)
        self.params = self.forward_lstm.params + self.backward_lstm.params
        self.grads = self.forward_lstm.grads + self.backward_lstm.grads

    def forward(self, xs):
        ahead = self.forward_lstm.forward(xs)
        behind = self.backward_lstm.forward(xs[:, ::-1])[:, ::-1]
        return np.concatenate((ahead, behind), axis=2)

    def backward(self, dhs):
        H = dhs.shape[2] // 2
        dxs = self.forward_lstm.backward(dhs[:, :, :H])
        back = self.backward_lstm.backward(np.ascontiguousarray(dhs[:, ::-1, H:]))
        return dxs + back[:, ::-1]


# The book's layers that it does not explain, or writes for clarity rather
# than speed: kept as it has them (one layer of common/layers.py a step).

class TimeSigmoidWithLoss:
    def __init__(self):
        self.params, self.grads = [], []
        self.xs_shape = None
        self.layers = None

    def forward(self, xs, ts):
        N, T = xs.shape
        self.xs_shape = xs.shape
        self.layers = [SigmoidWithLoss() for _ in range(T)]  # noqa: F405
        loss = 0
        for t, layer in enumerate(self.layers):
            loss += layer.forward(xs[:, t], ts[:, t])
        return loss / T

    def backward(self, dout=1):
        N, T = self.xs_shape
        dxs = np.empty(self.xs_shape, dtype='f')
        dout *= 1 / T
        for t, layer in enumerate(self.layers):
            dxs[:, t] = layer.backward(dout)
        return dxs


class Simple_TimeSoftmaxWithLoss:
    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, xs, ts):
        N, T, V = xs.shape
        layers = [SoftmaxWithLoss() for _ in range(T)]  # noqa: F405
        loss = 0
        for t, layer in enumerate(layers):
            loss += layer.forward(xs[:, t, :], ts[:, t])
        loss /= T
        self.cache = (layers, xs)
        return loss

    def backward(self, dout=1):
        layers, xs = self.cache
        dxs = np.empty(xs.shape, dtype='f')
        dout *= 1 / xs.shape[1]
        for t, layer in enumerate(layers):
            dxs[:, t, :] = layer.backward(dout)
        return dxs


class Simple_TimeAffine:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.dW, self.db = None, None
        self.layers = None

    def forward(self, xs):
        N, T, D = xs.shape
        D, M = self.W.shape
        self.layers = [Affine(self.W, self.b) for _ in range(T)]  # noqa: F405
        out = np.empty((N, T, M), dtype='f')
        for t, layer in enumerate(self.layers):
            out[:, t, :] = layer.forward(xs[:, t, :])
        return out

    def backward(self, dout):
        N, T, M = dout.shape
        D, M = self.W.shape
        dxs = np.empty((N, T, D), dtype='f')
        self.dW, self.db = 0, 0
        for t, layer in enumerate(self.layers):
            dxs[:, t, :] = layer.backward(dout[:, t, :])
            # the book reads layer.dW/db, which its Affine does not have
            self.dW += layer.grads[0]
            self.db += layer.grads[1]
        return dxs
