"""Save and load a network with its optimizer state in one ``.npz`` file.

>>> save_network("model.npz", network, trainer.optimizer)      # doctest: +SKIP
>>> network = load_network("model.npz")                         # doctest: +SKIP
>>> network, optimizer = load_checkpoint("model.npz")[:2]       # doctest: +SKIP

The file holds the parameters (``param/W1`` ...), the batch-norm running
statistics (``bn/BatchNorm1/running_mean`` ...), the optimizer's state
arrays (``optim/m/W1`` ...) and, as JSON in ``__meta__``, the network's
class and constructor configuration and the optimizer's class,
hyperparameters and scalar state (Adam's ``iter``).  It is written
atomically and read without pickle.  A loaded network predicts exactly as
the saved one; a loaded optimizer continues exactly where the saved one
stopped, so training k steps, saving, loading and training k more gives
the parameters of 2k steps in one go (with the same ``np.random`` stream,
which ``save_network(..., rng=True)`` can store as well).
"""
import importlib
import inspect
import json

import numpy as np

from ._fileio import atomic_write
from ._version import __version__

__all__ = ["save_network", "load_network", "load_checkpoint", "Checkpoint",
           "network_state", "load_network_state", "network_config"]

FORMAT = "fastnn-network"
FORMAT_VERSION = 1

_STATE_DICTS = ("v", "h", "m")          # per-parameter state of the book's optimizers
_STATE_SCALARS = ("iter",)


# ---------------------------------------------------------------------------
# In-memory state (also used by the Trainer's early stopping)

def _bn_layers(network):
    layers = getattr(network, "layers", {}) or {}
    return [(name, layer) for name, layer in layers.items()
            if hasattr(layer, "running_mean") and hasattr(layer, "running_var")]


def network_state(network):
    """Copies of the parameters and batch-norm running statistics: {name: array}."""
    state = {}
    for key, value in network.params.items():
        state["param/" + key] = np.array(value, copy=True)
    for name, layer in _bn_layers(network):
        for attr in ("running_mean", "running_var"):
            value = getattr(layer, attr)
            if value is not None:
                state["bn/%s/%s" % (name, attr)] = np.array(value, copy=True)
    return state


def load_network_state(network, state):
    """Put ``state`` (from :func:`network_state` or a file) back into ``network`` in place."""
    params = network.params
    for key, value in state.items():
        if key.startswith("param/"):
            name = key[len("param/"):]
            if name not in params:
                raise KeyError("the network has no parameter %r" % name)
            target = params[name]
            if isinstance(target, np.ndarray):
                if target.shape != value.shape:
                    raise ValueError("parameter %r: shape %s in the file, %s in the network"
                                     % (name, value.shape, target.shape))
                target[...] = value      # layers hold these very arrays
            else:
                params[name] = value.item() if value.ndim == 0 else value.copy()
    layers = dict(_bn_layers(network))
    for key, value in state.items():
        if key.startswith("bn/"):
            _, name, attr = key.split("/")
            if name not in layers:
                raise KeyError("the network has no batch-norm layer %r" % name)
            layer = layers[name]
            current = getattr(layer, attr)
            if isinstance(current, np.ndarray) and current.shape == value.shape \
                    and current.flags.writeable:
                current[...] = value
            else:
                dtype = network.params[next(iter(network.params))].dtype \
                    if network.params else value.dtype
                setattr(layer, attr, np.array(value, dtype=dtype, copy=True))


def network_config(network):
    """The class and constructor arguments that rebuild ``network`` (a JSON-able dict)."""
    from .multi_layer_net import MultiLayerNet
    from .multi_layer_net_extend import MultiLayerNetExtend
    if not isinstance(network, MultiLayerNetExtend):
        raise TypeError("save_network supports fastnn's MultiLayerNet and "
                        "MultiLayerNetExtend, got %s" % type(network).__name__)
    act = network.layers["Activation_function1"] if network.hidden_layer_num else None
    activation = "sigmoid" if act is not None and "sigmoid" in type(act).__name__.lower() \
        else "relu"
    config = {
        "input_size": int(network.input_size),
        "hidden_size_list": [int(h) for h in network.hidden_size_list],
        "output_size": int(network.output_size),
        "activation": activation,
        "weight_decay_lambda": float(network.weight_decay_lambda),
        "dtype": np.dtype(network.dtype).name,
        "backend": network.backend.name,
        "label_smoothing": float(getattr(network.last_layer, "label_smoothing", 0.0) or 0.0),
    }
    if not isinstance(network, MultiLayerNet):
        config.update(use_dropout=bool(network.use_dropout),
                      dropout_ration=float(network.dropout_ration),
                      use_batchnorm=bool(network.use_batchnorm))
    cls = type(network)
    return {"class": cls.__module__ + ":" + cls.__qualname__, "kwargs": config}


def _import(qualified):
    module, _, name = qualified.partition(":")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _build_network(config, backend=None):
    cls = _import(config["class"])
    kwargs = dict(config["kwargs"])
    if backend is not None:
        kwargs["backend"] = backend
    kwargs["dtype"] = np.dtype(kwargs["dtype"])
    args = [kwargs.pop("input_size"), kwargs.pop("hidden_size_list"), kwargs.pop("output_size")]
    # Building draws initial weights from np.random; they are overwritten at
    # once, and the global stream is put back so loading changes nothing.
    rng_state = np.random.get_state()
    try:
        return cls(*args, **kwargs)
    finally:
        np.random.set_state(rng_state)


# ---------------------------------------------------------------------------
# Optimizer state

def _optimizer_hyperparams(optimizer):
    names = [p for p in inspect.signature(type(optimizer).__init__).parameters
             if p != "self"]
    out = {}
    for name in names:
        value = getattr(optimizer, name, None)
        if isinstance(value, (int, float, np.integer, np.floating)) \
                and not isinstance(value, bool):
            out[name] = value.item() if isinstance(value, np.generic) else value
    return out


def _optimizer_config(optimizer):
    cls = type(optimizer)
    scalars = {}
    for name in _STATE_SCALARS:
        if isinstance(getattr(optimizer, name, None), (int, np.integer)):
            scalars[name] = int(getattr(optimizer, name))
    dicts = [name for name in _STATE_DICTS if isinstance(getattr(optimizer, name, None), dict)]
    return {"class": cls.__module__ + ":" + cls.__qualname__, "name": cls.__name__,
            "hyperparams": _optimizer_hyperparams(optimizer), "scalars": scalars,
            "state_dicts": dicts}


def _optimizer_arrays(optimizer):
    arrays = {}
    for name in _STATE_DICTS:
        store = getattr(optimizer, name, None)
        if isinstance(store, dict):
            for key, value in store.items():
                arrays["optim/%s/%s" % (name, key)] = np.array(value, copy=True)
    return arrays


def _build_optimizer(config, arrays, backend_name):
    from ._backend import get_backend
    cls = None
    try:
        cls = _import(config["class"])
    except (ImportError, AttributeError):
        pass
    # An optimizer of fastnn's own backends follows the network's backend.
    if config["class"].startswith(("fastnn.optimizer:", "fastnn.reference.optimizer:")):
        cls = getattr(get_backend(backend_name).optimizer, config["name"])
    if cls is None:
        raise ImportError("cannot import the optimizer class %r" % config["class"])
    opt = cls(**config["hyperparams"])
    for name, value in config["scalars"].items():
        setattr(opt, name, value)
    for name in config["state_dicts"]:
        store = {}
        prefix = "optim/%s/" % name
        for key, value in arrays.items():
            if key.startswith(prefix):
                store[key[len(prefix):]] = (value.item() if value.ndim == 0
                                            else np.array(value, copy=True))
        setattr(opt, name, store)
    return opt


# ---------------------------------------------------------------------------
# Files

def save_network(path, network, optimizer=None, *, rng=False, extra=None):
    """Write ``network`` (and ``optimizer``'s state) to ``path`` as one ``.npz``, atomically.

    ``rng=True`` also stores the global ``np.random`` state (mini-batch
    draws and dropout masks use it), so a resumed run in a new process draws
    what the uninterrupted one would have.  ``extra`` is any JSON-able dict
    kept with the file (e.g. the epoch reached).
    """
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fastnn": __version__,
            "network": network_config(network),
            "optimizer": None if optimizer is None else _optimizer_config(optimizer),
            "extra": extra or {}}
    arrays = network_state(network)
    if optimizer is not None:
        arrays.update(_optimizer_arrays(optimizer))
    if rng:
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        arrays["rng/keys"] = np.asarray(keys)
        meta["rng"] = {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss),
                       "cached_gaussian": float(gauss)}
    arrays["__meta__"] = np.array(json.dumps(meta))
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)


class Checkpoint:
    """What :func:`load_checkpoint` returns: ``network``, ``optimizer`` (None if not
    saved), ``extra`` and ``meta``; ``restore_rng()`` puts the saved ``np.random``
    state back (when it was saved).  Unpacks as ``network, optimizer, extra``."""

    def __init__(self, network, optimizer, extra, meta, rng_state):
        self.network = network
        self.optimizer = optimizer
        self.extra = extra
        self.meta = meta
        self.rng_state = rng_state

    def __iter__(self):
        return iter((self.network, self.optimizer, self.extra))

    def restore_rng(self):
        if self.rng_state is None:
            raise ValueError("this checkpoint was saved without rng=True")
        np.random.set_state(self.rng_state)


def load_checkpoint(path, *, backend=None, restore_rng=False):
    """Read a file written by :func:`save_network`: a :class:`Checkpoint`.

    ``backend`` overrides the saved backend ('fast' / 'reference');
    ``restore_rng=True`` also restores the saved global ``np.random`` state.
    """
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    if "__meta__" not in arrays:
        raise ValueError("%s is not a fastnn network file (no __meta__)" % (path,))
    meta = json.loads(str(arrays.pop("__meta__")))
    if meta.get("format") != FORMAT:
        raise ValueError("%s is not a fastnn network file" % (path,))
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError("%s has format version %s; this fastnn reads up to %d"
                         % (path, meta.get("format_version"), FORMAT_VERSION))
    network = _build_network(meta["network"], backend)
    load_network_state(network, {k: v for k, v in arrays.items()
                                 if k.startswith(("param/", "bn/"))})
    optimizer = None
    if meta.get("optimizer") is not None:
        optimizer = _build_optimizer(meta["optimizer"],
                                     {k: v for k, v in arrays.items() if k.startswith("optim/")},
                                     network.backend.name)
    rng_state = None
    if "rng" in meta:
        r = meta["rng"]
        rng_state = (r["kind"], arrays["rng/keys"], r["pos"], r["has_gauss"],
                     r["cached_gaussian"])
    ckpt = Checkpoint(network, optimizer, meta.get("extra", {}), meta, rng_state)
    if restore_rng:
        ckpt.restore_rng()
    return ckpt


def load_network(path, *, backend=None):
    """The network saved in ``path`` (see :func:`load_checkpoint` for the optimizer too)."""
    return load_checkpoint(path, backend=backend).network
