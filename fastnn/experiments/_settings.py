"""What each experiment setting accepts (``--set key=value``, ``overrides=``).

A setting's kind comes from its name (the few listed in ``_KIND_BY_NAME``) or
else from its default: an int is a count (>= 1), None an optional count, a
float a number > 0, a list of ints a list of counts, a list of floats a list
of numbers > 0, a dict of floats an optimizer -> lr table.  A value of
another kind is refused before any work starts, with what was expected.
"""
import inspect
import math
import numbers
import os

from .._activations import ACTIVATIONS

__all__ = ["check_setting", "kind_of", "resolve"]

_INIT_NAMES = ("he", "relu", "xavier", "sigmoid")
_ACTIVATIONS = tuple(ACTIVATIONS)


def _int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _number(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _count(v):
    return _int(v) and v >= 1


def _positive(v):
    return _number(v) and v > 0


def _pair(v):
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(_number(x) for x in v)


def _nonempty_list(v, item):
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(item(x) for x in v)


def _weight_std(v):
    return _positive(v) or (isinstance(v, str) and v.lower() in _INIT_NAMES)


def _optimizer_class(name):
    from .. import optimizer
    cls = getattr(optimizer, name, None) if isinstance(name, str) else None
    return cls if inspect.isclass(cls) and hasattr(cls, "update") else None


def _table(v, key, value):
    return isinstance(v, dict) and len(v) > 0 and all(key(k) and value(k, x)
                                                      for k, x in v.items())


def _optimizer_kwargs(name, kwargs):
    params = inspect.signature(_optimizer_class(name)).parameters
    return _table(kwargs, lambda k: k in params, lambda k, x: _positive(x)) or kwargs == {}


def _init_case(v):
    return (isinstance(v, (list, tuple)) and len(v) == 4 and isinstance(v[0], str)
            and v[1] in _ACTIVATIONS and isinstance(v[2], str) and _weight_std(v[3]))


_OPTIMIZERS = "SGD, Momentum, Nesterov, AdaGrad, RMSprop or Adam"
_WEIGHT_STD = "a weight std > 0 or one of 'he', 'xavier' (or the book's 'relu', 'sigmoid')"

# kind -> (what it accepts, in words; the test)
KINDS = {
    "count": ("a positive integer", _count),
    "optional count": ("None or a positive integer", lambda v: v is None or _count(v)),
    "positive": ("a number > 0", _positive),
    "nonnegative": ("a number >= 0", lambda v: _number(v) and v >= 0),
    "fraction": ("a number in [0, 1)", lambda v: _number(v) and 0 <= v < 1),
    "open fraction": ("a number in (0, 1)", lambda v: _number(v) and 0 < v < 1),
    "point": ("two numbers (x, y)", _pair),
    "range": ("two numbers (low, high) with 0 < low < high",
              lambda v: _pair(v) and 0 < v[0] < v[1]),
    "counts": ("a non-empty list of positive integers, e.g. [100, 100]",
               lambda v: _nonempty_list(v, _count)),
    "numbers": ("a non-empty list of numbers > 0", lambda v: _nonempty_list(v, _positive)),
    "weight std": (_WEIGHT_STD, _weight_std),
    "weight stds": ("a non-empty dict of label: " + _WEIGHT_STD,
                    lambda v: _table(v, lambda k: isinstance(k, str),
                                     lambda k, x: _weight_std(x))),
    "optimizer lrs": ("a non-empty dict of optimizer (%s): lr > 0" % _OPTIMIZERS,
                      lambda v: _table(v, _optimizer_class, lambda k, x: _positive(x))),
    "optimizer kwargs": ("a non-empty dict of optimizer (%s): {its keyword: number > 0}"
                         % _OPTIMIZERS,
                         lambda v: _table(v, _optimizer_class, _optimizer_kwargs)),
    "count or zero": ("an integer >= 0", lambda v: _int(v) and v >= 0),
    "optional file": ("None or the path of an existing text file",
                      lambda v: v is None or (isinstance(v, str) and os.path.isfile(v))),
    "words": ("a non-empty list of words (strings)",
              lambda v: _nonempty_list(v, lambda w: isinstance(w, str) and w.strip() != "")),
    "init cases": ("a non-empty list of [figure, activation (%s), label, %s]"
                   % (", ".join(_ACTIVATIONS), _WEIGHT_STD),
                   lambda v: _nonempty_list(v, _init_case)),
}

_KIND_BY_NAME = {
    "weight_decay": "nonnegative",
    "dropout_ratio": "fraction",
    "val_split": "open fraction",
    "validation_split": "open fraction",
    "start": "point",
    "lr_range": "range",
    "weight_decay_range": "range",
    "speed_init": "weight std",
    "inits": "weight stds",
    "optimizers": "optimizer kwargs",
    "cases": "init cases",
    "reference": "count or zero",
    "corpus": "optional file",
    "queries": "words",
}


def kind_of(name, default):
    """The kind of setting ``name`` whose default is ``default`` (a key of ``KINDS``)."""
    if name in _KIND_BY_NAME:
        return _KIND_BY_NAME[name]
    if default is None:
        return "optional count"
    if isinstance(default, list) and default and all(isinstance(v, str) for v in default):
        return "words"
    if _int(default):
        return "count"
    if _number(default):
        return "positive"
    if isinstance(default, list) and default:
        return "counts" if all(_int(v) for v in default) else "numbers"
    if isinstance(default, dict):
        return "optimizer lrs"
    raise TypeError("setting %r: no kind for a default of %r" % (name, default))


def check_setting(name, value, default):
    """``value`` if it is of the kind of setting ``name`` (default ``default``); else
    ValueError "setting 'NAME': expected WHAT, got VALUE"."""
    what, ok = KINDS[kind_of(name, default)]
    try:
        good = ok(value)
    except (TypeError, ValueError):
        good = False
    if not good:
        raise ValueError("setting %r: expected %s, got %r" % (name, what, value))
    return value


def resolve(module, quick=False, overrides=None):
    """The settings of experiment ``module``: its ``DEFAULTS``, then its ``QUICK`` ones
    with ``quick``, then ``overrides``, each checked (ValueError names the one at fault)."""
    params = dict(module.DEFAULTS)
    if quick:
        params.update(getattr(module, "QUICK", {}))
    for key, value in (overrides or {}).items():
        if key not in params:
            raise ValueError("experiment %r has no setting %r; its settings: %s"
                             % (module.NAME, key, ", ".join(sorted(params))))
        params[key] = check_setting(key, value, module.DEFAULTS[key])
    return params
