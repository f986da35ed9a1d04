"""The one registry of activation names (``activation='relu'``, ...): the
networks, the serializer and the CLI all read it, so a name is known
everywhere or nowhere.  Light on purpose (no kernels imported): the CLI
reads it to build its argument parser.
"""
import importlib

__all__ = ["ACTIVATIONS", "check_activation", "activation_layer", "activation_name"]

# name -> the class's name in a layers module (fastnn.layers, or
# fastnn.reference.layers for the reference backend).
ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}


def check_activation(name):
    """``name`` lower-cased when it is a registered activation, else ValueError."""
    key = name.lower() if isinstance(name, str) else None
    if key not in ACTIVATIONS:
        raise ValueError("activation must be one of %s, got %r"
                         % (", ".join(repr(n) for n in ACTIVATIONS), name))
    return key


def activation_layer(name, layers=None):
    """The activation layer class called ``name`` (any case) in the layers
    module ``layers`` (fastnn.layers when None)."""
    module = importlib.import_module("fastnn.layers") if layers is None else layers
    return getattr(module, ACTIVATIONS[check_activation(name)])


def activation_name(layer):
    """The registered name of an activation layer (of either backend: the
    reference classes subclass fastnn.layers'); ValueError for any other
    object, so a checkpoint never names an activation the network does not have."""
    module = importlib.import_module("fastnn.layers")
    for name, cls in ACTIVATIONS.items():
        if isinstance(layer, getattr(module, cls)):
            return name
    raise ValueError("%s is not a registered activation layer (%s)"
                     % (type(layer).__name__, ", ".join(ACTIVATIONS)))
