"""Which implementation of the layers and optimizers a network uses.

The networks and the trainer are written once; they ask a backend for their
layer and optimizer classes.  ``'fast'`` (the default) is the compiled
kernels in :mod:`fastnn.layers` / :mod:`fastnn.optimizer`; ``'reference'`` is
the plain-NumPy oracle in :mod:`fastnn.reference`.  ``FASTNN_BACKEND`` sets
the process-wide default.
"""
import contextlib
import importlib
import os

_MODULES = {
    "fast": ("fastnn.layers", "fastnn.optimizer"),
    "reference": ("fastnn.reference.layers", "fastnn.reference.optimizer"),
}
_ALIASES = {"fast": "fast", "compiled": "fast", "cython": "fast",
            "reference": "reference", "numpy": "reference", "ref": "reference"}


class Backend:
    """A named pair of modules: ``layers`` and ``optimizer``."""

    def __init__(self, name):
        self.name = name
        layers_mod, optim_mod = _MODULES[name]
        self.layers = importlib.import_module(layers_mod)
        self.optimizer = importlib.import_module(optim_mod)

    def __repr__(self):
        return "Backend(%r)" % self.name

    def __reduce__(self):
        # Modules do not pickle: a copied or unpickled network names its
        # backend, and gets this process's one.
        return (get_backend, (self.name,))


_cache = {}


def _canonical(name):
    if not isinstance(name, str):
        raise TypeError("backend must be a str or Backend, got %s" % type(name).__name__)
    key = _ALIASES.get(name.lower())
    if key is None:
        raise ValueError("backend must be one of %s, got %r"
                         % (sorted(set(_ALIASES.values())), name))
    return key


def _from_environment():
    value = os.environ.get("FASTNN_BACKEND") or "fast"
    try:
        return _canonical(value)
    except ValueError:
        raise ValueError("FASTNN_BACKEND must be one of %s, got %r"
                         % (sorted(set(_ALIASES.values())), value)) from None


_default = _from_environment()


def get_backend(name=None):
    """The :class:`Backend` called ``name``, or the current default when None."""
    if isinstance(name, Backend):
        return name
    key = _default if name is None else _canonical(name)
    if key not in _cache:
        _cache[key] = Backend(key)
    return _cache[key]


def set_backend(name):
    """Make ``name`` the default backend for networks and trainers built from now on."""
    global _default
    _default = _canonical(name)


@contextlib.contextmanager
def use_backend(name):
    """Temporarily switch the default backend: ``with use_backend('reference'): ...``."""
    global _default
    old = _default
    _default = _canonical(name)
    try:
        yield get_backend()
    finally:
        _default = old
