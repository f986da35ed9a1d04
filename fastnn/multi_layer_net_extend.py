"""Fully connected networks of the book's chapter 6, written once for every backend.

``MultiLayerNetExtend`` is the book's network with optional Batch
Normalization, Dropout and weight decay; ``MultiLayerNet`` (in
:mod:`fastnn.multi_layer_net`) is the same network without BN and Dropout.
The layer classes come from a backend (``'fast'`` by default,
``'reference'`` for plain NumPy), so the same code runs on either.

Compared with the book, keyword-only extras: ``backend=``, ``dtype=``
(float64 by default, as in the book; float32 keeps the whole network, its
gradients and optimizer state in float32), ``label_smoothing=`` and
``dropout_inverted=`` (False, the book's dropout; True divides the kept
units by 1 - dropout_ration in training and passes x through in inference).  Arrays returned
by ``gradient``
may be buffers that the next ``gradient`` call overwrites (as ``.grad`` in
PyTorch): copy them if you keep them across steps.
"""
from collections import OrderedDict

import numpy as np

from ._backend import get_backend
from ._guard import network_call
from ._on_ops import begin_pass, share_buffers
from ._activations import activation_layer, check_activation
from .reference.gradient import numerical_gradient

__all__ = ["np", "MultiLayerNetExtend"]

def init_weight_scale(weight_init_std, fan_in):
    """Standard deviation of the initial weights for a layer with ``fan_in`` inputs.

    'relu'/'he' -> sqrt(2/fan_in) (He et al. 2015); 'sigmoid'/'xavier' ->
    sqrt(1/fan_in) (Glorot & Bengio 2010, in the book's form); a number is
    used as the standard deviation itself.
    """
    name = str(weight_init_std).lower()
    if name in ("relu", "he"):
        return np.sqrt(2.0 / fan_in)
    if name in ("sigmoid", "xavier"):
        return np.sqrt(1.0 / fan_in)
    if isinstance(weight_init_std, str):
        raise ValueError("weight_init_std must be 'relu', 'he', 'sigmoid', 'xavier' "
                         "or a number, got %r" % (weight_init_std,))
    try:
        return float(weight_init_std)
    except (TypeError, ValueError):
        raise TypeError("weight_init_std must be 'relu', 'he', 'sigmoid', 'xavier' "
                        "or a number, got %r" % (weight_init_std,)) from None


class MultiLayerNetExtend:
    """Affine -> [BatchNorm] -> activation -> [Dropout], repeated, then Affine -> softmax.

    Parameters follow the book: ``W1, b1, gamma1, beta1, ..., W{L+1}, b{L+1}``
    in ``self.params``.  Weight decay adds ``0.5·λ·ΣW²`` over every W to the
    loss and ``λ·W`` to each W's gradient.
    """

    def __init__(self, input_size, hidden_size_list, output_size,
                 activation='relu', weight_init_std='relu', weight_decay_lambda=0,
                 use_dropout=False, dropout_ration=0.5, use_batchnorm=False,
                 *, backend=None, dtype=np.float64, label_smoothing=0.0,
                 dropout_inverted=False):
        _check_size("input_size", input_size)
        _check_size("output_size", output_size)
        hidden_size_list = list(hidden_size_list)
        for i, h in enumerate(hidden_size_list):
            _check_size("hidden_size_list[%d]" % i, h)
        check_activation(activation)
        if use_dropout and not 0.0 <= dropout_ration < 1.0:
            raise ValueError("dropout_ration must be in [0, 1), got %r" % (dropout_ration,))
        if weight_decay_lambda < 0:
            raise ValueError("weight_decay_lambda must be >= 0, got %r" % (weight_decay_lambda,))
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError("dtype must be float32 or float64, got %s" % dtype)

        self.backend = get_backend(backend)
        self.dtype = dtype
        self.input_size = input_size
        self.output_size = output_size
        self.hidden_size_list = hidden_size_list
        self.hidden_layer_num = len(hidden_size_list)
        self.use_dropout = use_dropout
        self.dropout_ration = dropout_ration
        self.dropout_inverted = bool(dropout_inverted)
        self.weight_decay_lambda = weight_decay_lambda
        self.use_batchnorm = use_batchnorm
        self.params = {}

        self._init_weight(weight_init_std)

        L = self.backend.layers
        act_layer = activation_layer(activation, L)
        self.layers = OrderedDict()
        for idx in range(1, self.hidden_layer_num + 1):
            self.layers['Affine' + str(idx)] = L.Affine(self.params['W' + str(idx)],
                                                        self.params['b' + str(idx)])
            if self.use_batchnorm:
                self.params['gamma' + str(idx)] = np.ones(hidden_size_list[idx - 1], dtype=dtype)
                self.params['beta' + str(idx)] = np.zeros(hidden_size_list[idx - 1], dtype=dtype)
                self.layers['BatchNorm' + str(idx)] = L.BatchNormalization(
                    self.params['gamma' + str(idx)], self.params['beta' + str(idx)])
            self.layers['Activation_function' + str(idx)] = act_layer()
            if self.use_dropout:
                self.layers['Dropout' + str(idx)] = (
                    L.Dropout(dropout_ration, inverted=True) if dropout_inverted
                    else L.Dropout(dropout_ration))

        idx = self.hidden_layer_num + 1
        self.layers['Affine' + str(idx)] = L.Affine(self.params['W' + str(idx)],
                                                    self.params['b' + str(idx)])
        self.last_layer = (L.SoftmaxWithLoss(label_smoothing=label_smoothing)
                           if label_smoothing else L.SoftmaxWithLoss())
        # Nothing consumes the input gradient of the first layer: it skips
        # computing it (one GEMM).
        self.layers['Affine1'].need_input_grad = False
        self._buffers = share_buffers(list(self.layers.values()) + [self.last_layer])

    def _init_weight(self, weight_init_std):
        sizes = [self.input_size] + self.hidden_size_list + [self.output_size]
        for idx in range(1, len(sizes)):
            scale = init_weight_scale(weight_init_std, sizes[idx - 1])
            # Drawn in float64 and then cast, so a seeded float32 network has
            # the rounded weights of the seeded float64 one.
            W = scale * np.random.randn(sizes[idx - 1], sizes[idx])
            self.params['W' + str(idx)] = W.astype(self.dtype, copy=False)
            self.params['b' + str(idx)] = np.zeros(sizes[idx], dtype=self.dtype)

    # -- the book's interface -------------------------------------------------
    def predict(self, x, train_flg=False):
        return self._predict(x, train_flg)

    def loss(self, x, t, train_flg=False):
        return self._loss(x, t, train_flg)

    # The public methods above keep the book's signatures (MultiLayerNet's
    # have no train_flg); the network's own code calls these two.  Each
    # public method runs under the network's thread guard (see _guard.py).
    @network_call("train_flg")
    def _predict(self, x, train_flg):
        begin_pass(self)
        for key, layer in self.layers.items():
            if "Dropout" in key or "BatchNorm" in key:
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    @network_call("train_flg")
    def _loss(self, x, t, train_flg):
        y = self._predict(x, train_flg)
        return self.last_layer.forward(y, t) + self.weight_decay_loss()

    def weight_decay_loss(self):
        """0.5·λ·ΣW² over every weight matrix (0 when λ is 0)."""
        if not self.weight_decay_lambda:
            return 0
        total = 0.0
        for idx in range(1, self.hidden_layer_num + 2):
            W = self.params['W' + str(idx)]
            total += 0.5 * self.weight_decay_lambda * float(np.vdot(W, W))
        return total

    def accuracy(self, X, T):
        Y = np.argmax(self._predict(X, False), axis=1)
        if T.ndim != 1:
            T = np.argmax(T, axis=1)
        return np.sum(Y == T) / float(X.shape[0])

    @network_call(True)
    def numerical_gradient(self, X, T):
        def loss_W(W):
            return self._loss(X, T, True)

        grads = {}
        for key in self._param_keys():
            grads[key] = numerical_gradient(loss_W, self.params[key])
        return grads

    @network_call(True)
    def gradient(self, x, t):
        lam = self.weight_decay_lambda
        layers = self.layers
        names = _layer_names(self.hidden_layer_num + 1)
        affines = [layers[key] for key in names.affine]
        # Each Affine adds lam*W to its dW (inside its own GEMM on the
        # compiled ops): no temporaries, no extra pass.
        for affine in affines:
            affine.weight_decay = lam
        # The loss value is not returned: skip its weight-decay term (a pass
        # over every W), keep the forward pass _loss would do.
        self.last_layer.forward(self._predict(x, True), t)
        dout = self.last_layer.backward(1)
        for layer in reversed(layers.values()):
            dout = layer.backward(dout)

        grads = {}
        last = len(affines) - 1
        for i, affine in enumerate(affines):
            grads[names.W[i]] = affine.dW
            grads[names.b[i]] = affine.db
            if self.use_batchnorm and i != last:
                bn = layers[names.bn[i]]
                grads[names.gamma[i]] = bn.dgamma
                grads[names.beta[i]] = bn.dbeta
        return grads

    def _param_keys(self):
        keys = []
        for idx in range(1, self.hidden_layer_num + 2):
            keys += ['W' + str(idx), 'b' + str(idx)]
            if self.use_batchnorm and idx != self.hidden_layer_num + 1:
                keys += ['gamma' + str(idx), 'beta' + str(idx)]
        return keys


class _Names:
    """The keys of a network with ``count`` Affine layers (built once per count:
    string concatenation in every ``gradient`` call cost microseconds)."""

    def __init__(self, count):
        idx = [str(i) for i in range(1, count + 1)]
        self.affine = tuple('Affine' + i for i in idx)
        self.bn = tuple('BatchNorm' + i for i in idx)
        self.W = tuple('W' + i for i in idx)
        self.b = tuple('b' + i for i in idx)
        self.gamma = tuple('gamma' + i for i in idx)
        self.beta = tuple('beta' + i for i in idx)


_NAMES = {}


def _layer_names(count):
    names = _NAMES.get(count)
    if names is None:
        names = _NAMES[count] = _Names(count)
    return names


def _check_size(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError("%s must be an int, got %r" % (name, value))
    if value < 1:
        raise ValueError("%s must be >= 1, got %r" % (name, value))
