"""The book's ``MultiLayerNet``: the chapter-6 network without BN or Dropout."""
import numpy as np

from .multi_layer_net_extend import MultiLayerNetExtend

__all__ = ["np", "MultiLayerNet"]


class MultiLayerNet(MultiLayerNetExtend):
    """Affine -> activation, repeated, then Affine -> softmax, with optional weight decay.

    Same constructor as the book's; ``backend=`` and ``dtype=`` as in
    :class:`~fastnn.multi_layer_net_extend.MultiLayerNetExtend`.
    """

    def __init__(self, input_size, hidden_size_list, output_size,
                 activation='relu', weight_init_std='relu', weight_decay_lambda=0,
                 *, backend=None, dtype=np.float64, label_smoothing=0.0):
        super().__init__(input_size, hidden_size_list, output_size,
                         activation=activation, weight_init_std=weight_init_std,
                         weight_decay_lambda=weight_decay_lambda,
                         backend=backend, dtype=dtype, label_smoothing=label_smoothing)

    def predict(self, x):
        return super().predict(x, train_flg=False)

    def loss(self, x, t):
        return super().loss(x, t, train_flg=False)
