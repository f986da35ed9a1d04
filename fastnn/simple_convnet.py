"""The book's chapter-7 ``SimpleConvNet``: conv - relu - pool - affine - relu - affine - softmax.

Same constructor, params keys (``W1``..``W3``, ``b1``..``b3``), methods and
pickle files as the book's; two keyword-only extras as in
:class:`~fastnn.multi_layer_net_extend.MultiLayerNetExtend`: ``backend=``
(``'fast'`` by default, or ``'reference'``) and ``dtype=`` (float64 by
default).  Pickle files run code when loaded: load only trusted ones.
"""
from collections import OrderedDict

import numpy as np

from ._convnet import ConvNetBase

__all__ = ["np", "SimpleConvNet"]


class SimpleConvNet(ConvNetBase):
    """conv - relu - pool(2x2, stride 2) - affine - relu - affine - softmax.

    ``conv_param`` has the keys ``filter_num``, ``filter_size``, ``pad`` and
    ``stride``; ``weight_init_std`` is the standard deviation of every
    initial weight (biases start at zero).
    """

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},  # noqa: B006
                 hidden_size=100, output_size=10, weight_init_std=0.01,
                 *, backend=None, dtype=np.float64):
        self._setup(backend, dtype)
        self.input_dim, self.conv_param = tuple(input_dim), dict(conv_param)  # for checkpoints
        self.hidden_size, self.output_size = hidden_size, output_size
        self.weight_init_std = weight_init_std
        filter_num = conv_param['filter_num']
        filter_size = conv_param['filter_size']
        pad = conv_param['pad']
        stride = conv_param['stride']
        # The book's arithmetic: a float conv size, the pooled count truncated.
        conv_size = (input_dim[1] - filter_size + 2 * pad) / stride + 1
        pool_size = int(filter_num * (conv_size / 2) * (conv_size / 2))

        randn = np.random.randn
        self._param('W1', weight_init_std * randn(filter_num, input_dim[0],
                                                  filter_size, filter_size))
        self._param('b1', np.zeros(filter_num))
        self._param('W2', weight_init_std * randn(pool_size, hidden_size))
        self._param('b2', np.zeros(hidden_size))
        self._param('W3', weight_init_std * randn(hidden_size, output_size))
        self._param('b3', np.zeros(output_size))

        L = self.backend.layers
        p = self.params
        self.layers = OrderedDict()
        self.layers['Conv1'] = L.Convolution(p['W1'], p['b1'], stride, pad)
        self.layers['Relu1'] = L.Relu()
        self.layers['Pool1'] = L.Pooling(pool_h=2, pool_w=2, stride=2)
        self.layers['Affine1'] = L.Affine(p['W2'], p['b2'])
        self.layers['Relu2'] = L.Relu()
        self.layers['Affine2'] = L.Affine(p['W3'], p['b3'])
        self._finish_layers([self.layers[k] for k in ('Conv1', 'Affine1', 'Affine2')],
                            L.SoftmaxWithLoss())

    def predict(self, x):
        return self._predict(x, False)

    def loss(self, x, t):
        """Mean cross-entropy of the predictions for ``x`` against labels ``t``."""
        return self._loss(x, t, False)
