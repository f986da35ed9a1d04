"""The book's chapter-8 ``DeepConvNet`` (over 99% on MNIST).

conv - relu - conv - relu - pool, three times (3x3 filters: 16, 16, 32, 32,
64, 64), then affine - relu - dropout - affine - dropout - softmax.  Same
constructor, params keys (``W1``..``W8``), ``layers`` list, methods and
pickle files as the book's, plus ``numerical_gradient`` and the
keyword-only ``backend=`` and ``dtype=`` of
:class:`~fastnn.multi_layer_net_extend.MultiLayerNetExtend`.  Pickle files
run code when loaded: load only trusted ones.
"""
import numpy as np

from ._convnet import ConvNetBase

__all__ = ["np", "DeepConvNet"]

# Positions in ``layers`` of the layers holding W1..W8 (the book's indices).
_PARAM_LAYER_INDEX = (0, 2, 5, 7, 10, 12, 15, 18)


class DeepConvNet(ConvNetBase):
    """He-initialized: each scale is sqrt(2 / fan_in), the fan-ins being the
    book's fixed ``pre_node_nums`` (which assume 3x3 filters and a 1-channel
    28x28 input)."""

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param_1={'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},  # noqa: B006
                 conv_param_2={'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},  # noqa: B006
                 conv_param_3={'filter_num': 32, 'filter_size': 3, 'pad': 1, 'stride': 1},  # noqa: B006
                 conv_param_4={'filter_num': 32, 'filter_size': 3, 'pad': 2, 'stride': 1},  # noqa: B006
                 conv_param_5={'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1},  # noqa: B006
                 conv_param_6={'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1},  # noqa: B006
                 hidden_size=50, output_size=10, *, backend=None, dtype=np.float64):
        self._setup(backend, dtype)
        fan_in = np.array([1 * 3 * 3, 16 * 3 * 3, 16 * 3 * 3, 32 * 3 * 3, 32 * 3 * 3,
                           64 * 3 * 3, 64 * 4 * 4, hidden_size])
        scales = np.sqrt(2.0 / fan_in)
        conv_params = [conv_param_1, conv_param_2, conv_param_3,
                       conv_param_4, conv_param_5, conv_param_6]
        self.input_dim, self.hidden_size = tuple(input_dim), hidden_size
        self.output_size = output_size
        for i, cp in enumerate(conv_params, 1):             # kept for checkpoints
            setattr(self, 'conv_param_%d' % i, dict(cp))
        channels = input_dim[0]
        for i, cp in enumerate(conv_params):
            size = cp['filter_size']
            self._param('W%d' % (i + 1), scales[i] * np.random.randn(cp['filter_num'], channels,
                                                                     size, size))
            self._param('b%d' % (i + 1), np.zeros(cp['filter_num']))
            channels = cp['filter_num']
        self._param('W7', scales[6] * np.random.randn(64 * 4 * 4, hidden_size))
        self._param('b7', np.zeros(hidden_size))
        self._param('W8', scales[7] * np.random.randn(hidden_size, output_size))
        self._param('b8', np.zeros(output_size))

        L = self.backend.layers
        p = self.params

        def conv(i):
            cp = conv_params[i - 1]
            return L.Convolution(p['W%d' % i], p['b%d' % i], cp['stride'], cp['pad'])

        self.layers = []
        for i in (1, 3, 5):
            self.layers += [conv(i), L.Relu(), conv(i + 1), L.Relu(),
                            L.Pooling(pool_h=2, pool_w=2, stride=2)]
        self.layers += [L.Affine(p['W7'], p['b7']), L.Relu(), L.Dropout(0.5),
                        L.Affine(p['W8'], p['b8']), L.Dropout(0.5)]
        self._finish_layers([self.layers[i] for i in _PARAM_LAYER_INDEX], L.SoftmaxWithLoss())

    def predict(self, x, train_flg=False):
        return self._predict(x, train_flg)

    def loss(self, x, t):
        """Mean cross-entropy with dropout active (train mode), as in the book."""
        return self._loss(x, t, True)
