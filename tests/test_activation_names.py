"""One registry of activation names (fastnn/_activations.py): the networks,
the serializer and the CLI accept the same names, and an unknown one is an
error in each (never silently saved or built as 'relu')."""
import numpy as np
import pytest

from fastnn._activations import ACTIVATIONS, activation_layer, activation_name
from fastnn.multi_layer_net_extend import MultiLayerNetExtend
from fastnn.reference import layers as R
from fastnn.serialization import network_config


@pytest.mark.parametrize("backend", ["fast", "reference"])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_registered_name_builds_its_layer_on_both_backends(backend, name):
    net = MultiLayerNetExtend(4, [3], 2, activation=name.upper(), backend=backend)
    layer = net.layers["Activation_function1"]
    assert type(layer) is activation_layer(name, net.backend.layers)
    assert activation_name(layer) == name
    assert network_config(net)["kwargs"]["activation"] == name


@pytest.mark.parametrize("bad", ["tanhh", "", None, 3, "relu "])
def test_an_unknown_activation_name_is_refused_by_the_network(bad):
    with pytest.raises(ValueError, match="activation must be one of"):
        MultiLayerNetExtend(4, [3], 2, activation=bad)


def test_a_network_with_an_unregistered_activation_layer_is_not_saved_as_relu():
    class Swish:                            # any object that is not a registered layer
        def forward(self, x):
            return x / (1 + np.exp(-x))
    net = MultiLayerNetExtend(4, [3], 2)
    net.layers["Activation_function1"] = Swish()
    with pytest.raises(ValueError, match="not a registered activation layer"):
        network_config(net)


def test_reference_layers_have_the_same_names():
    assert activation_name(R.Relu()) == "relu" and activation_name(R.Sigmoid()) == "sigmoid"


def test_the_cli_offers_exactly_the_registered_names():
    from fastnn.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if getattr(a, "choices", None) and "train" in a.choices)
    train = sub.choices["train"]
    action = next(a for a in train._actions if "--activation" in a.option_strings)
    assert list(action.choices) == list(ACTIVATIONS)
