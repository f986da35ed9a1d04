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

A file is data, never code: the classes it may name are looked up in the
fixed tables :data:`NETWORKS` and :data:`OPTIMIZERS` (nothing is imported
by a name read from the file), their keyword arguments must be constructor
parameters of that class with plain JSON values, and every array is checked
against the network before anything is written.  A load either succeeds
completely or raises ``ValueError`` and changes nothing.
"""
import importlib
import inspect
import json
import math
import os

import numpy as np

from ._fileio import atomic_write, jsonable, read_npz
from ._state import (_problems, _shape_problem, _state_problems, load_network_state,
                     network_state)
from ._version import __version__

__all__ = ["save_network", "load_network", "load_checkpoint", "Checkpoint",
           "network_state", "load_network_state", "network_config",
           "NETWORKS", "OPTIMIZERS"]

FORMAT = "fastnn-network"
FORMAT_VERSION = 1

_STATE_DICTS = ("v", "h", "m")          # per-parameter state of the book's optimizers
_STATE_SCALARS = ("iter",)


# ---------------------------------------------------------------------------
# What a file may name: fixed tables, never an import of a string from the file

def _mlp_config(network):
    """Constructor arguments of a MultiLayerNet(Extend), read from the network."""
    act = network.layers["Activation_function1"] if network.hidden_layer_num else None
    from ._activations import activation_name
    activation = "relu" if act is None else activation_name(act)
    config = {
        "input_size": int(network.input_size),
        "hidden_size_list": [int(h) for h in network.hidden_size_list],
        "output_size": int(network.output_size),
        "activation": activation,
        "weight_decay_lambda": float(network.weight_decay_lambda),
        "label_smoothing": float(getattr(network.last_layer, "label_smoothing", 0.0) or 0.0),
    }
    from .multi_layer_net import MultiLayerNet
    if not isinstance(network, MultiLayerNet):
        config.update(use_dropout=bool(network.use_dropout),
                      dropout_ration=float(network.dropout_ration),
                      dropout_inverted=bool(getattr(network, "dropout_inverted", False)),
                      use_batchnorm=bool(network.use_batchnorm))
    return config


def attribute_config(network):
    """Constructor arguments read from attributes of the same name (those present)."""
    names = inspect.signature(type(network).__init__).parameters
    return {name: getattr(network, name) for name in names
            if name not in ("self", "backend", "dtype") and hasattr(network, name)}


#: Networks a file may name: ``"module:Class"`` -> a function returning the
#: constructor keyword arguments of a network of that class (``backend`` and
#: ``dtype`` are added).  A network whose constructor arguments are kept as
#: attributes of the same name is one more line with :func:`attribute_config`.
NETWORKS = {
    "fastnn.multi_layer_net:MultiLayerNet": _mlp_config,
    "fastnn.multi_layer_net_extend:MultiLayerNetExtend": _mlp_config,
    "fastnn.simple_convnet:SimpleConvNet": attribute_config,
    "fastnn.deep_convnet:DeepConvNet": attribute_config,
}


def _mlp_shapes(kwargs):
    """The parameter shapes a MultiLayerNet(Extend) built with ``kwargs`` has."""
    hidden = list(kwargs.get("hidden_size_list", []))
    sizes = [kwargs.get("input_size")] + hidden + [kwargs.get("output_size")]
    shapes = {}
    for i in range(1, len(sizes)):
        shapes["W%d" % i] = (sizes[i - 1], sizes[i])
        shapes["b%d" % i] = (sizes[i],)
    if kwargs.get("use_batchnorm"):
        for i, h in enumerate(hidden, 1):
            shapes["gamma%d" % i] = shapes["beta%d" % i] = (h,)
    return shapes


def _with_defaults(name, kwargs):
    """``kwargs`` completed with the defaults of the constructor of the class ``name``."""
    params = inspect.signature(_network_class(name).__init__).parameters
    out = {n: p.default for n, p in params.items() if p.default is not p.empty}
    out.update(kwargs)
    return out


def _conv_shape(cp, channels):
    """The filter shape (FN, C, FH, FW) of a conv_param dict on ``channels`` channels."""
    return (cp["filter_num"], channels, cp["filter_size"], cp["filter_size"])


def _simple_convnet_shapes(kwargs):
    """The parameter shapes of a SimpleConvNet (the book's arithmetic, see simple_convnet.py)."""
    k = _with_defaults("fastnn.simple_convnet:SimpleConvNet", kwargs)
    cp, (channels, height) = k["conv_param"], k["input_dim"][:2]
    conv = (height - cp["filter_size"] + 2 * cp["pad"]) / cp["stride"] + 1
    pooled = int(cp["filter_num"] * (conv / 2) * (conv / 2))
    hidden, out = k["hidden_size"], k["output_size"]
    return {"W1": _conv_shape(cp, channels), "b1": (cp["filter_num"],),
            "W2": (pooled, hidden), "b2": (hidden,), "W3": (hidden, out), "b3": (out,)}


def _deep_convnet_shapes(kwargs):
    """The parameter shapes of a DeepConvNet (its W7 always takes 64 * 4 * 4 inputs)."""
    k = _with_defaults("fastnn.deep_convnet:DeepConvNet", kwargs)
    shapes, channels = {}, k["input_dim"][0]
    for i in range(1, 7):
        cp = k["conv_param_%d" % i]
        shapes["W%d" % i], shapes["b%d" % i] = _conv_shape(cp, channels), (cp["filter_num"],)
        channels = cp["filter_num"]
    hidden, out = k["hidden_size"], k["output_size"]
    shapes.update(W7=(64 * 4 * 4, hidden), b7=(hidden,), W8=(hidden, out), b8=(out,))
    return shapes


#: Where the parameter shapes follow from the constructor arguments alone, they
#: are checked against the file before the network is built (which could
#: otherwise allocate whatever a file's sizes ask for).
_PARAM_SHAPES = {
    "fastnn.multi_layer_net:MultiLayerNet": _mlp_shapes,
    "fastnn.multi_layer_net_extend:MultiLayerNetExtend": _mlp_shapes,
    "fastnn.simple_convnet:SimpleConvNet": _simple_convnet_shapes,
    "fastnn.deep_convnet:DeepConvNet": _deep_convnet_shapes,
}
# What bad settings read from a file make a shape function or a constructor raise.
_BAD_SETTINGS = (TypeError, ValueError, KeyError, IndexError, ArithmeticError)

#: Optimizer classes a file may name, found in the network's backend.
OPTIMIZERS = ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam")
_OPTIMIZER_MODULES = {"fast": "fastnn.optimizer", "reference": "fastnn.reference.optimizer"}


def _network_class(name):
    """The class registered as ``name`` in :data:`NETWORKS` (a fixed import)."""
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def _registered_name(network):
    for name in NETWORKS:
        if type(network) is _network_class(name):
            return name
    raise TypeError("save_network saves fastnn's own networks (%s), got %s"
                    % (", ".join(n.partition(":")[2] for n in NETWORKS),
                       type(network).__name__))


def _optimizer_name(optimizer):
    """``("fastnn.optimizer:Adam", "Adam")`` for an optimizer of a fastnn backend."""
    from ._backend import get_backend
    name = type(optimizer).__name__
    if name in OPTIMIZERS:
        for backend, module in _OPTIMIZER_MODULES.items():
            if type(optimizer) is getattr(get_backend(backend).optimizer, name, None):
                return module + ":" + name, name
    raise TypeError("save_network saves the optimizers of fastnn's backends (%s), got %s"
                    % (", ".join(OPTIMIZERS), type(optimizer).__name__))


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_plain(v):
    """A JSON scalar, a list of numbers, or a flat dict of those scalars (a conv_param)."""
    if v is None or isinstance(v, bool) or _is_number(v):
        return True
    if isinstance(v, str):
        return len(v) <= 64
    if isinstance(v, list):
        return len(v) <= 4096 and all(_is_number(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and (x is None or isinstance(x, (bool, str))
                                           or _is_number(x)) for k, x in v.items())
    return False


def _check_kwargs(what, cls, kwargs, numbers_only=False):
    """``kwargs`` as read from a file: a dict of ``cls``'s keyword names with plain values."""
    if not isinstance(kwargs, dict):
        raise ValueError("%s: expected a dict of keyword arguments, found %s"
                         % (what, type(kwargs).__name__))
    params = inspect.signature(cls.__init__).parameters
    known = {n for n, p in params.items() if n != "self"
             and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ValueError("%s: %s takes no argument %s (it takes %s)"
                         % (what, cls.__name__, ", ".join(map(repr, unknown)),
                            ", ".join(sorted(known))))
    for key, value in kwargs.items():
        ok = _is_number(value) if numbers_only else _is_plain(value)
        if not ok:
            raise ValueError("%s: %s=%r is not a plain %s" % (
                what, key, value, "finite number" if numbers_only else "JSON value"))


def network_config(network):
    """The class and constructor arguments that rebuild ``network`` (a JSON-able dict)."""
    name = _registered_name(network)
    config = jsonable(NETWORKS[name](network))
    config["dtype"] = np.dtype(network.dtype).name
    config["backend"] = network.backend.name
    return {"class": name, "kwargs": config}


def _build_network(config, backend, where, params=None):
    if not isinstance(config, dict) or not isinstance(config.get("class"), str):
        raise ValueError("%s: the network entry names no class" % where)
    name = config["class"]
    if name not in NETWORKS:
        raise ValueError("%s names the network class %r; a checkpoint may only name "
                         "fastnn's own networks: %s" % (where, name, ", ".join(NETWORKS)))
    cls = _network_class(name)
    kwargs = config.get("kwargs")
    _check_kwargs("%s: network %s" % (where, cls.__name__), cls, kwargs)
    kwargs = dict(kwargs)
    if params is not None and name in _PARAM_SHAPES:
        try:
            wanted = {"param/" + k: v for k, v in _PARAM_SHAPES[name](kwargs).items()}
        except _BAD_SETTINGS:               # bad settings: the constructor says which
            wanted = None
        problems = _problems(wanted, params) if wanted is not None else ()
        if problems:
            raise ValueError("%s: the saved state does not fit its network: %s"
                             % (where, "; ".join(problems)))
    if backend is not None:
        kwargs["backend"] = backend
    # Building draws initial weights from np.random; they are overwritten at
    # once, and the global stream is put back so loading changes nothing.
    rng_state = np.random.get_state()
    try:
        return cls(**kwargs)
    except _BAD_SETTINGS as exc:
        why = "missing %s" % exc if isinstance(exc, KeyError) else exc
        raise ValueError("%s: the network settings are invalid: %s" % (where, why)) from None
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
    qualified, name = _optimizer_name(optimizer)
    scalars = {}
    for attr in _STATE_SCALARS:
        if isinstance(getattr(optimizer, attr, None), (int, np.integer)):
            scalars[attr] = int(getattr(optimizer, attr))
    dicts = [d for d in _STATE_DICTS if isinstance(getattr(optimizer, d, None), dict)]
    return {"class": qualified, "name": name,
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


def _build_optimizer(config, arrays, network, where):
    """A new optimizer from its file entry, all checked before it is made."""
    from ._backend import get_backend
    if not isinstance(config, dict):
        raise ValueError("%s: the optimizer entry is not a dict" % where)
    qualified = config.get("class")
    allowed = {m + ":" + n for m in _OPTIMIZER_MODULES.values() for n in OPTIMIZERS}
    if qualified not in allowed:
        raise ValueError("%s names the optimizer class %r; a checkpoint may only name "
                         "fastnn's own optimizers: %s" % (where, qualified, ", ".join(OPTIMIZERS)))
    name = qualified.partition(":")[2]
    # An optimizer follows the network's backend.
    cls = getattr(get_backend(network.backend.name).optimizer, name)
    hyper = config.get("hyperparams", {})
    _check_kwargs("%s: optimizer %s" % (where, name), cls, hyper, numbers_only=True)
    _check_hyperparams("%s: optimizer %s" % (where, name), hyper)
    scalars = config.get("scalars", {})
    if not isinstance(scalars, dict) or any(
            k not in _STATE_SCALARS or not isinstance(v, int) or isinstance(v, bool) or v < 0
            for k, v in scalars.items()):
        raise ValueError("%s: optimizer scalars %r: expected %s as non-negative ints"
                         % (where, scalars, ", ".join(_STATE_SCALARS)))
    dicts = config.get("state_dicts", [])
    if not isinstance(dicts, list) or any(d not in _STATE_DICTS for d in dicts):
        raise ValueError("%s: optimizer state_dicts %r: expected a list from %s"
                         % (where, dicts, ", ".join(_STATE_DICTS)))
    problems = []
    for key, value in arrays.items():
        _, store, pname = key.split("/", 2) if key.count("/") >= 2 else ("", "", "")
        if store not in dicts or pname not in network.params:
            problems.append("extra " + key)
            continue
        problem = _shape_problem(key, value, np.shape(network.params[pname]))
        if problem:
            problems.append("mismatched " + problem)
        elif value.dtype.kind != "f":
            problems.append("%s: %s, not floating point" % (key, value.dtype))
    if problems:
        raise ValueError("%s: the optimizer state does not fit the network: %s"
                         % (where, "; ".join(problems)))
    opt = cls(**hyper)
    for attr, value in scalars.items():
        if not hasattr(opt, attr):
            raise ValueError("%s: optimizer %s has no %s" % (where, name, attr))
        setattr(opt, attr, value)
    for attr in dicts:
        if not hasattr(opt, attr):
            raise ValueError("%s: optimizer %s has no state %r" % (where, name, attr))
    for attr in dicts:
        prefix = "optim/%s/" % attr
        setattr(opt, attr, {key[len(prefix):]: _state_value(network.params[key[len(prefix):]],
                                                             value)
                            for key, value in arrays.items() if key.startswith(prefix)})
    return opt


def _state_value(param, value):
    """An optimizer state array from a file, in its parameter's dtype (float
    state of another precision is converted, as the parameters are)."""
    if value.ndim == 0:
        return value.item()
    return np.array(value, dtype=getattr(param, "dtype", np.float64), copy=True)


#: The values a hyperparameter read from a file may take: (low, high, whether
#: high itself is allowed).  Beyond them an update divides by zero (Adam's
#: beta1 = 1) or trains backwards (a negative lr).
HYPERPARAM_RANGES = {"lr": (0.0, math.inf, False), "momentum": (0.0, 1.0, False),
                     "beta1": (0.0, 1.0, False), "beta2": (0.0, 1.0, False),
                     "decay_rate": (0.0, 1.0, False)}


def _check_hyperparams(what, hyper):
    for key, value in hyper.items():
        low, high, high_ok = HYPERPARAM_RANGES.get(key, (-math.inf, math.inf, True))
        if not (low <= value < high or (high_ok and value == high)):
            raise ValueError("%s: %s=%r is out of range: it must be in [%g, %g%s"
                             % (what, key, value, low, high, "]" if high_ok else ")"))


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

    def copy_into(self, network, optimizer=None):
        """Put the saved weights and batch-norm statistics into ``network``, and
        the saved optimizer's state and hyperparameters into ``optimizer``:
        objects built as the saved ones (same class and settings; the backend
        may differ).  Raises ``ValueError`` and changes nothing when they do
        not fit."""
        self.prepare_copy(network, optimizer)()

    def prepare_copy(self, network, optimizer=None):
        """Check that ``network`` and ``optimizer`` fit this checkpoint (see
        :meth:`copy_into`); return the function that copies into them, which
        cannot fail.  ``network`` or ``optimizer`` may be this checkpoint's own
        (nothing to copy then)."""
        steps = []
        if network is not self.network:
            state = _network_copy(self.network, network)
            steps.append(lambda: load_network_state(network, state))
        if optimizer is not None and optimizer is not self.optimizer:
            attrs = _optimizer_copy(self.optimizer, optimizer)
            steps.append(lambda: [setattr(optimizer, k, v) for k, v in attrs.items()])

        def copy():
            for step in steps:
                step()
        return copy


def _network_copy(saved, network):
    """The state of ``saved`` to put into ``network``, checked to fit it."""
    try:
        target = network_config(network)
    except TypeError:
        raise ValueError("the checkpoint holds a %s; cannot put it into a %s"
                         % (type(saved).__name__, type(network).__name__)) from None
    mine = network_config(saved)
    if target["class"] != mine["class"]:
        raise ValueError("the checkpoint holds a %s; cannot put it into a %s"
                         % (type(saved).__name__, type(network).__name__))
    differ = ["%s=%r in the checkpoint, %r here" % (k, mine["kwargs"].get(k), v)
              for k, v in sorted(target["kwargs"].items())
              if k != "backend" and mine["kwargs"].get(k) != v]
    if differ:
        raise ValueError("the checkpoint's %s was built otherwise: %s"
                         % (type(saved).__name__, "; ".join(differ)))
    state = network_state(saved)
    problems = _state_problems(network, state)
    if problems:
        raise ValueError("the saved state does not fit the network: " + "; ".join(problems))
    return state


def _optimizer_copy(saved, optimizer):
    """``{attribute: value}`` that make ``optimizer`` continue as ``saved``:
    hyperparameters, step counter and per-parameter state (copied)."""
    if saved is None:
        raise ValueError("the checkpoint holds no optimizer state")
    if type(saved).__name__ != type(optimizer).__name__:
        raise ValueError("the checkpoint's optimizer is %s; cannot continue it with %s"
                         % (type(saved).__name__, type(optimizer).__name__))
    attrs = dict(_optimizer_hyperparams(saved))
    for name in _STATE_SCALARS:
        if hasattr(saved, name):
            attrs[name] = getattr(saved, name)
    for name in _STATE_DICTS:
        if hasattr(saved, name):
            store = getattr(saved, name)
            attrs[name] = None if store is None else {
                key: np.array(value, copy=True) if isinstance(value, np.ndarray) else value
                for key, value in store.items()}
    return attrs


def _read_archive(path):
    """Every array of the checkpoint at ``path`` (see :func:`._fileio.read_npz`)."""
    try:
        return read_npz(path)
    except ValueError as exc:
        raise ValueError("%s is not a complete fastnn checkpoint (%s)" % (path, exc)) from None


def _read_meta(arrays, where):
    meta = arrays.pop("__meta__", None)
    if meta is None or meta.ndim != 0 or meta.dtype.kind != "U":
        raise ValueError("%s is not a fastnn network file (no __meta__)" % where)
    try:
        meta = json.loads(str(meta))
    except (ValueError, RecursionError):
        raise ValueError("%s is not a complete fastnn checkpoint (damaged __meta__)"
                         % where) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError("%s is not a fastnn network file" % where)
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError("%s has format version %r; this fastnn reads up to %d"
                         % (where, version, FORMAT_VERSION))
    return meta


def _rng_state(meta, arrays, where):
    r = meta.get("rng")
    keys = arrays.get("rng/keys")
    if r is None:
        if keys is not None:
            raise ValueError("%s: extra rng/keys without an rng entry" % where)
        return None
    state = None
    if isinstance(r, dict) and keys is not None and keys.dtype.kind in "iu":
        state = mt19937_state(r.get("kind"), keys.tolist(), r.get("pos"), r.get("has_gauss"),
                              r.get("cached_gaussian"))
    if state is None:
        raise ValueError("%s: the saved np.random state is damaged" % where)
    return state


def mt19937_state(kind, keys, pos, has_gauss, cached_gaussian):
    """The ``np.random`` state tuple made of these saved parts (``keys`` a list
    of ints), or None when they are not a sound MT19937 state."""
    ok = (kind == "MT19937" and isinstance(keys, list) and len(keys) == 624
          and all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < 2 ** 32
                  for k in keys)
          and isinstance(pos, int) and not isinstance(pos, bool) and 0 <= pos <= 624
          and has_gauss in (0, 1) and _is_number(cached_gaussian))
    if not ok:
        return None
    return ("MT19937", np.array(keys, dtype=np.uint32), pos, int(has_gauss),
            float(cached_gaussian))


def load_checkpoint(path, *, backend=None, restore_rng=False):
    """Read a file written by :func:`save_network`: a :class:`Checkpoint`.

    ``backend`` overrides the saved backend ('fast' / 'reference');
    ``restore_rng=True`` also restores the saved global ``np.random`` state.
    Everything in the file is checked before anything is built or restored.
    """
    where = os.fspath(path)
    arrays = _read_archive(path)
    meta = _read_meta(arrays, where)
    groups = {"param": {}, "bn": {}, "optim": {}, "rng": {}}
    for key, value in arrays.items():
        prefix = key.partition("/")[0]
        if prefix not in groups:
            raise ValueError("%s: extra array %r (not a parameter, batch-norm statistic, "
                             "optimizer state or rng state)" % (where, key))
        groups[prefix][key] = value
    rng_state = _rng_state(meta, groups["rng"], where)
    if meta.get("optimizer") is None and groups["optim"]:
        raise ValueError("%s: extra optimizer arrays without an optimizer entry: %s"
                         % (where, ", ".join(sorted(groups["optim"]))))
    network = _build_network(meta.get("network"), backend, where, groups["param"])
    state = dict(groups["param"], **groups["bn"])
    problems = _state_problems(network, state)
    if problems:
        raise ValueError("%s: the saved state does not fit its network: %s"
                         % (where, "; ".join(problems)))
    optimizer = None
    if meta.get("optimizer") is not None:
        optimizer = _build_optimizer(meta["optimizer"], groups["optim"], network, where)
    load_network_state(network, state)
    extra = meta.get("extra", {})
    ckpt = Checkpoint(network, optimizer, extra if isinstance(extra, dict) else {},
                      meta, rng_state)
    if restore_rng:
        ckpt.restore_rng()
    return ckpt


def load_network(path, *, backend=None):
    """The network saved in ``path`` (see :func:`load_checkpoint` for the optimizer too)."""
    return load_checkpoint(path, backend=backend).network
