"""Bad input gets a ValueError/TypeError that names the argument."""
import numpy as np
import pytest

from fastnn import get_backend, set_backend
from fastnn.multi_layer_net_extend import MultiLayerNetExtend
from fastnn.trainer import Trainer, make_optimizer


def test_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        MultiLayerNetExtend(4, [3], 2, activation="tanhh")


def test_unknown_weight_init():
    with pytest.raises(ValueError, match="weight_init_std"):
        MultiLayerNetExtend(4, [3], 2, weight_init_std="glorot")
    with pytest.raises(TypeError, match="weight_init_std"):
        MultiLayerNetExtend(4, [3], 2, weight_init_std=[1])


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5])
def test_dropout_ratio_out_of_range(ratio):
    with pytest.raises(ValueError, match="dropout_ration"):
        MultiLayerNetExtend(4, [3], 2, use_dropout=True, dropout_ration=ratio)


def test_bad_sizes_and_dtype():
    with pytest.raises(ValueError, match="hidden_size_list\\[1\\]"):
        MultiLayerNetExtend(4, [3, 0], 2)
    with pytest.raises(TypeError, match="input_size"):
        MultiLayerNetExtend(4.5, [3], 2)
    with pytest.raises(TypeError, match="dtype"):
        MultiLayerNetExtend(4, [3], 2, dtype=np.int32)


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("adamw")
    x, t = np.zeros((4, 4)), np.zeros(4, dtype=int)
    with pytest.raises(ValueError, match="optimizer"):
        Trainer(MultiLayerNetExtend(4, [3], 2), x, t, x, t, optimizer="lbfgs")


def test_trainer_mismatched_lengths():
    net = MultiLayerNetExtend(4, [3], 2)
    with pytest.raises(ValueError, match="x_train and t_train"):
        Trainer(net, np.zeros((4, 4)), np.zeros(3, dtype=int), np.zeros((2, 4)),
                np.zeros(2, dtype=int))


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        get_backend("gpu")
    with pytest.raises(ValueError, match="backend"):
        set_backend("jax")
    with pytest.raises(ValueError, match="backend"):
        MultiLayerNetExtend(4, [3], 2, backend="tensorflow")


def test_labels_out_of_range():
    net = MultiLayerNetExtend(4, [3], 2)
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="\\bt\\b"):
        net.loss(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="\\bt\\b"):
        net.gradient(x, np.array([0, -1, 1]))


def test_mismatched_input_width():
    net = MultiLayerNetExtend(4, [3], 2)
    with pytest.raises(ValueError, match="\\bx\\b"):
        net.predict(np.zeros((3, 5)))
