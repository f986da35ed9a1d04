"""A network's state in memory: copies of its parameters and batch-norm
statistics, and putting such a state back, checked first (all or nothing).

Used by :mod:`fastnn.serialization` (files) and the Trainer's early stopping.
"""
import numpy as np

__all__ = ["network_state", "load_network_state"]

_BN_STATS = ("running_mean", "running_var")


def _bn_layers(network):
    layers = getattr(network, "layers", None) or {}
    named = layers.items() if isinstance(layers, dict) else \
        (("layer%d" % i, layer) for i, layer in enumerate(layers))    # DeepConvNet's list
    return [(name, layer) for name, layer in named
            if hasattr(layer, "running_mean") and hasattr(layer, "running_var")]


def network_state(network):
    """Copies of the parameters and batch-norm running statistics: {name: array}."""
    state = {}
    for key, value in network.params.items():
        state["param/" + key] = np.array(value, copy=True)
    for name, layer in _bn_layers(network):
        for attr in _BN_STATS:
            value = getattr(layer, attr)
            if value is not None:
                state["bn/%s/%s" % (name, attr)] = np.array(value, copy=True)
    return state


def _is_real(value):
    return isinstance(value, np.ndarray) and value.dtype.kind in "biuf"


def _shape_problem(key, value, want):
    if not _is_real(value):
        return "%s: %s, not an array of numbers" % (key, getattr(value, "dtype", type(value)))
    if want is not None and value.shape != tuple(want):
        return "%s: shape %s in the file, %s in the network" % (key, value.shape, tuple(want))
    return None


def _wanted(network):
    """``{key: shape}`` of all a state of ``network`` may hold, and the batch-norm
    key pairs (a layer's statistics come both or neither)."""
    wanted = {"param/" + k: getattr(v, "shape", None) for k, v in network.params.items()}
    pairs = []
    for name, layer in _bn_layers(network):
        keys = ["bn/%s/%s" % (name, attr) for attr in _BN_STATS]
        for key, attr in zip(keys, _BN_STATS):
            current = getattr(layer, attr)
            wanted[key] = current.shape if current is not None else (np.size(layer.gamma),)
        pairs.append(keys)
    return wanted, pairs


def _problems(wanted, state, pairs=()):
    """Every reason ``state`` does not fit ``wanted`` (empty when it fits): the
    parameters missing from it, the keys it has extra, the shapes that differ."""
    extra = [k for k in state if k not in wanted]
    mismatched = [p for p in (_shape_problem(k, v, wanted[k]) for k, v in state.items()
                              if k in wanted) if p]
    missing = [k for k in wanted if k.startswith("param/") and k not in state]
    for keys in pairs:
        present = [k in state for k in keys]
        if any(present) and not all(present):
            missing += [k for k, p in zip(keys, present) if not p]
    problems = []
    for label, items in (("missing", missing), ("extra", extra), ("mismatched", mismatched)):
        if items:
            problems.append("%s %s" % (label, ", ".join(items)))
    return problems


def _state_problems(network, state):
    wanted, pairs = _wanted(network)
    return _problems(wanted, state, pairs)


def load_network_state(network, state):
    """Put ``state`` (from :func:`network_state` or a file) back into ``network`` in place.

    All or nothing: when a key is missing, extra or of another shape, a
    ``ValueError`` names them all and ``network`` is left untouched.  A
    batch-norm layer without statistics in ``state`` gets none (as when new).
    """
    problems = _state_problems(network, state)
    if problems:
        raise ValueError("the state does not fit the network: " + "; ".join(problems))
    params = network.params
    for key, value in state.items():
        if key.startswith("param/"):
            name = key[len("param/"):]
            target = params[name]
            if isinstance(target, np.ndarray):
                target[...] = value      # layers hold these very arrays
            else:
                params[name] = value.item() if value.ndim == 0 else value.copy()
    dtype = np.dtype(getattr(network, "dtype", np.float64))
    for name, layer in _bn_layers(network):
        for attr in _BN_STATS:
            value = state.get("bn/%s/%s" % (name, attr))
            current = getattr(layer, attr)
            if value is None:
                setattr(layer, attr, None)
            elif isinstance(current, np.ndarray) and current.shape == value.shape \
                    and current.flags.writeable:
                current[...] = value
            else:
                setattr(layer, attr, np.array(value, dtype=dtype, copy=True))
