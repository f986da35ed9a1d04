"""What the book's two convolutional networks share (``SimpleConvNet``, ``DeepConvNet``).

Written once for every backend: the layer classes come from
:func:`fastnn._backend.get_backend`.  A subclass builds ``self.params`` and
its layers, and lists in ``self._param_layers`` the layer holding each
``W<i>``/``b<i>`` pair (i = 1, 2, ...).
"""
import pickle

import numpy as np

from ._backend import get_backend
from ._fileio import atomic_write
from ._guard import network_call
from ._on_ops import begin_pass, share_buffers
from .reference.gradient import numerical_gradient as _numerical_gradient


def network_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError("dtype must be float32 or float64, got %s" % dtype)
    return dtype


class ConvNetBase:
    """predict/loss/accuracy/gradient/numerical_gradient and the book's pickle files."""

    def _setup(self, backend, dtype):
        self.backend = get_backend(backend)
        self.dtype = network_dtype(dtype)
        self.params = {}

    def _param(self, key, value):
        # Drawn in float64 (the book's random stream), then cast: a seeded
        # float32 network holds the rounded weights of the float64 one.
        self.params[key] = np.asarray(value).astype(self.dtype, copy=False)
        return self.params[key]

    def _finish_layers(self, param_layers, last_layer):
        self._param_layers = list(param_layers)
        self.last_layer = last_layer
        # Nobody reads the input gradient of the first layer: it skips computing it.
        self._param_layers[0].need_input_grad = False
        self._buffers = share_buffers(self._layer_list() + [last_layer])

    def _layer_list(self):
        return list(self.layers.values()) if isinstance(self.layers, dict) else self.layers

    # A switch for tests and benchmarks: False runs the book's order on every ops.
    pool_before_relu = True

    def _run_order(self):
        """The layers in the order they run: the book's, except that a Relu
        directly followed by a Pooling runs after it when its ops say so
        (``ops.pool_before_relu``: the compiled ops, not NumpyOps, which
        runs the book's order).

        The two commute exactly: max(relu(window)) = relu(max(window)), NaN
        included (both pick it), and so do their input gradients, entry for
        entry: a window whose maximum is positive sends dout to the same
        first maximum either way; one whose maximum is <= 0 sends nothing
        (the book's ReLU mask is ``x <= 0``), and a NaN passes both masks.
        ReLU then reads and writes a quarter of the entries in each
        direction (SimpleConvNet: about 2 of its 18 ms step).  Only the
        layers' own attributes differ: Relu's ``mask`` has the pooled shape,
        and a window whose maximum is <= 0 may keep another ``arg_max``.
        """
        layers = self._layer_list()
        if not self.pool_before_relu:
            return layers
        relu, pooling = self.backend.layers.Relu, self.backend.layers.Pooling
        order = list(layers)
        i = 0
        while i + 1 < len(order):
            if (type(order[i]) is relu and type(order[i + 1]) is pooling
                    and order[i].ops.pool_before_relu):
                order[i], order[i + 1] = order[i + 1], order[i]
                i += 2
            else:
                i += 1
        return order

    # -- the book's interface -------------------------------------------------
    # Under the network's thread guard (see _guard.py), as the calls below.
    @network_call("train_flg")
    def _predict(self, x, train_flg):
        begin_pass(self)
        dropout = self.backend.layers.Dropout
        for layer in self._run_order():
            if isinstance(layer, dropout):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    @network_call("train_flg")
    def _loss(self, x, t, train_flg):
        """The subclasses' ``loss``: mean cross-entropy of the predictions."""
        return self.last_layer.forward(self._predict(x, train_flg), t)

    def accuracy(self, x, t, batch_size=100):
        """Fraction of correct predictions, in batches of ``batch_size``.

        As in the book, a tail of fewer than ``batch_size`` samples is not
        predicted but still counts in the denominator.
        """
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        correct = 0.0
        for i in range(int(x.shape[0] / batch_size)):
            rows = slice(i * batch_size, (i + 1) * batch_size)
            y = np.argmax(self._predict(x[rows], False), axis=1)
            correct += np.sum(y == t[rows])
        return correct / x.shape[0]

    @network_call(True)
    def gradient(self, x, t):
        """Backpropagation: the gradients of ``loss(x, t)``, keyed as ``params``.

        The arrays may be buffers that the next call overwrites (as PyTorch's
        ``.grad``): copy them to keep them across steps.
        """
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self._run_order()):
            dout = layer.backward(dout)
        grads = {}
        for i, layer in enumerate(self._param_layers, 1):
            grads["W%d" % i] = layer.dW
            grads["b%d" % i] = layer.db
        return grads

    @network_call(True)
    def numerical_gradient(self, x, t):
        """Central differences of ``loss(x, t)`` for every parameter (slow; tests only).

        Every loss evaluation starts from the same global ``np.random`` state,
        so dropout masks stay fixed; the state is left as it was found, so a
        following ``gradient(x, t)`` draws the same masks.
        """
        state = np.random.get_state()

        def loss_w(_):
            np.random.set_state(state)
            return self.loss(x, t)

        grads = {}
        for i in range(1, len(self._param_layers) + 1):
            for key in ("W%d" % i, "b%d" % i):
                grads[key] = _numerical_gradient(loss_w, self.params[key])
        np.random.set_state(state)
        return grads

    # -- the book's pickle files -------------------------------------------------
    def save_params(self, file_name="params.pkl"):
        """Pickle the params dict (the book's format), written atomically."""
        params = dict(self.params)
        with atomic_write(file_name, "wb") as fh:
            pickle.dump(params, fh)

    def load_params(self, file_name="params.pkl"):
        """Load a params pickle (the book's format) into the network.

        Pickle files run code when loaded: load only files you trust.  Arrays
        of the network's dtype are used as they are; others are converted.
        """
        with open(file_name, "rb") as fh:
            params = pickle.load(fh)
        for key, val in params.items():
            self.params[key] = np.asarray(val).astype(self.dtype, copy=False)
        for i, layer in enumerate(self._param_layers, 1):
            layer.W = self.params["W%d" % i]
            layer.b = self.params["b%d" % i]
