"""Search spaces: the distributions hyperparameters are drawn from.

The book samples ``lr = 10 ** np.random.uniform(-6, -2)``: uniform in the
exponent, so every decade gets the same number of trials.  ``loguniform``
is exactly that; ``uniform``, ``choice`` and ``intloguniform`` complete the
set, and ``beta`` is the scale of an exponentially weighted average's
coefficient (momentum, Adam's beta1/beta2): ``1 - beta`` log-uniform, so
[0.9, 0.99] and [0.99, 0.999] get as many trials each.  Each distribution

* validates its range when it is built (a clear ``ValueError`` otherwise),
* samples from a NumPy ``RandomState`` (no Optuna needed),
* suggests itself through Optuna's API (``trial.suggest_float(..., log=True)``),
* narrows itself around a set of good values (coarse-to-fine search),
* round-trips through a JSON-able spec (stored with a study).
"""
import math
import numbers

import numpy as np

__all__ = ["Distribution", "loguniform", "uniform", "choice", "intloguniform", "beta",
           "check_space", "sample_space", "space_to_spec", "space_from_spec",
           "to_optuna_params", "from_optuna_params"]


def _real(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError("%s must be a real number, got %r" % (name, value))
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("%s must be finite, got %r" % (name, value))
    return value


class Distribution:
    """Base class of :func:`loguniform`, :func:`uniform`, :func:`choice`, :func:`intloguniform`."""

    kind = None
    log = False

    def sample(self, rng):
        raise NotImplementedError

    def suggest(self, trial, name):
        raise NotImplementedError

    def narrow(self, values, margin=0.25, min_fraction=0.05):
        raise NotImplementedError

    def to_spec(self):
        raise NotImplementedError

    def contains(self, value):
        raise NotImplementedError

    # How Optuna stores the parameter (:class:`Beta` stores 1 - beta, on a log scale).
    def optuna_name(self, name):
        return name

    def to_optuna(self, value):
        return value

    def from_optuna(self, value):
        return value

    def __eq__(self, other):
        return type(self) is type(other) and self.to_spec() == other.to_spec()

    def __hash__(self):
        return hash(repr(self.to_spec()))


class _Range(Distribution):
    """A real interval ``[low, high]``, uniform in ``value`` or in ``log(value)``."""

    def __init__(self, low, high):
        low = _real("low", low)
        high = _real("high", high)
        if not low < high:
            raise ValueError("%s needs low < high, got low=%r, high=%r"
                             % (self.kind, low, high))
        if self.log and low <= 0:
            raise ValueError("%s is a log scale: low and high must be > 0, got low=%r, high=%r"
                             % (self.kind, low, high))
        self.low = low
        self.high = high

    # the coordinates the distribution is uniform in
    def _fwd(self, x):
        return math.log10(x) if self.log else float(x)

    def _inv(self, u):
        return 10.0 ** u if self.log else float(u)

    def sample(self, rng):
        u = rng.uniform(self._fwd(self.low), self._fwd(self.high))
        # 10 ** u can round one ulp past an end: keep samples inside the range.
        return min(max(self._inv(u), self.low), self.high)

    def suggest(self, trial, name):
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def contains(self, value):
        return self.low <= value <= self.high

    def narrow(self, values, margin=0.25, min_fraction=0.05):
        """The span of ``values`` widened by ``margin`` times that span on each side (at least
        ``min_fraction`` of this range's width in all), clipped to this range; in log
        coordinates for a log scale."""
        lo_old, hi_old = self._fwd(self.low), self._fwd(self.high)
        u = [self._fwd(min(max(float(v), self.low), self.high)) for v in values]
        if not u:
            return self
        lo, hi = min(u), max(u)
        pad = margin * (hi - lo)
        width_min = min_fraction * (hi_old - lo_old)
        if (hi - lo) + 2 * pad < width_min:
            pad = (width_min - (hi - lo)) / 2
        lo, hi = lo - pad, hi + pad
        # Clip to the old range, shifting the window inward rather than shrinking it.
        if lo < lo_old:
            hi, lo = min(hi + (lo_old - lo), hi_old), lo_old
        if hi > hi_old:
            lo, hi = max(lo - (hi - hi_old), lo_old), hi_old
        low = self.low if lo <= lo_old else self._inv(lo)
        high = self.high if hi >= hi_old else self._inv(hi)
        return type(self)(low, high)

    def to_spec(self):
        return {"kind": self.kind, "low": self.low, "high": self.high}

    def __repr__(self):
        return "%s(%r, %r)" % (self.kind, self.low, self.high)


class LogUniform(_Range):
    kind = "loguniform"
    log = True


class Uniform(_Range):
    kind = "uniform"
    log = False


class Beta(_Range):
    """A coefficient ``beta`` of an exponentially weighted average in ``[low, high]`` (``0 <=
    low < high < 1``), with ``1 - beta`` log-uniform: beta = 1 - 10 ** uniform(log10(1 - high),
    log10(1 - low)).  Optuna stores it as the parameter ``'1-NAME'`` (log scale), the
    objective gets beta."""

    kind = "beta"
    log = True     # narrowed by coarse-to-fine as the log ranges are

    def __init__(self, low, high):
        low = _real("low", low)
        high = _real("high", high)
        if not 0.0 <= low < high < 1.0:
            raise ValueError("beta needs 0 <= low < high < 1, got low=%r, high=%r" % (low, high))
        self.low = low
        self.high = high

    # coordinate u = -log10(1 - beta): 0.9 -> 1, 0.99 -> 2, 0.999 -> 3
    def _fwd(self, x):
        return -math.log10(1.0 - x)

    def _inv(self, u):
        return 1.0 - 10.0 ** -u

    def suggest(self, trial, name):
        return self.from_optuna(trial.suggest_float(self.optuna_name(name), 1.0 - self.high,
                                                    1.0 - self.low, log=True))

    def optuna_name(self, name):
        return "1-" + name

    def to_optuna(self, value):
        return 1.0 - float(value)

    def from_optuna(self, value):
        return 1.0 - float(value)


class IntLogUniform(Distribution):
    """Integers in ``[low, high]`` (both included), uniform in log scale as Optuna's
    ``suggest_int(..., log=True)``: a real drawn on ``[log(low-0.5), log(high+0.5)]``, rounded."""

    kind = "intloguniform"
    log = True

    def __init__(self, low, high):
        for name, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError("intloguniform: %s must be an int, got %r" % (name, v))
        low, high = int(low), int(high)
        if not low < high:
            raise ValueError("intloguniform needs low < high, got low=%r, high=%r" % (low, high))
        if low < 1:
            raise ValueError("intloguniform is a log scale: low must be >= 1, got %r" % (low,))
        self.low = low
        self.high = high

    def sample(self, rng):
        u = rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5))
        return int(min(max(round(math.exp(u)), self.low), self.high))

    def suggest(self, trial, name):
        return trial.suggest_int(name, self.low, self.high, log=True)

    def contains(self, value):
        return self.low <= value <= self.high and int(value) == value

    def narrow(self, values, margin=0.25, min_fraction=0.05):
        span = LogUniform(self.low, self.high).narrow(values, margin, min_fraction)
        low = max(self.low, int(math.floor(span.low)))
        high = min(self.high, int(math.ceil(span.high)))
        if low >= high:  # keep a valid range of at least two integers
            if high < self.high:
                high += 1
            else:
                low -= 1
        return IntLogUniform(low, high)

    def to_spec(self):
        return {"kind": self.kind, "low": self.low, "high": self.high}

    def __repr__(self):
        return "intloguniform(%r, %r)" % (self.low, self.high)


class Choice(Distribution):
    """One of a fixed list of options, each equally likely."""

    kind = "choice"

    def __init__(self, options):
        if isinstance(options, (str, bytes)) or not hasattr(options, "__iter__"):
            raise TypeError("choice needs a list of options, got %r" % (options,))
        options = list(options)
        if not options:
            raise ValueError("choice needs at least one option")
        for o in options:
            if o is not None and not isinstance(o, (bool, int, float, str)):
                raise TypeError("choice options must be None, bool, int, float or str "
                                "(what Optuna stores), got %r" % (o,))
        if len(set(map(repr, options))) != len(options):
            raise ValueError("choice options must be distinct, got %r" % (options,))
        self.options = options

    def sample(self, rng):
        return self.options[int(rng.randint(len(self.options)))]

    def suggest(self, trial, name):
        return trial.suggest_categorical(name, self.options)

    def contains(self, value):
        return value in self.options

    def narrow(self, values, margin=0.25, min_fraction=0.05):
        kept = [o for o in self.options if o in list(values)]
        return Choice(kept) if kept else self

    def to_spec(self):
        return {"kind": self.kind, "options": list(self.options)}

    def __repr__(self):
        return "choice(%r)" % (self.options,)


def loguniform(low, high):
    """Reals in ``[low, high]`` uniform in log scale: ``10 ** uniform(log10 low, log10 high)``."""
    return LogUniform(low, high)


def uniform(low, high):
    """Reals uniform in ``[low, high]``."""
    return Uniform(low, high)


def intloguniform(low, high):
    """Integers in ``[low, high]`` uniform in log scale (layer widths, batch sizes)."""
    return IntLogUniform(low, high)


def beta(low, high):
    """A momentum-like coefficient in ``[low, high]`` with ``1 - beta`` uniform in log scale
    (momentum, Adam's beta1 and beta2, RMSprop's decay rate): 0.9 -> 0.99 and 0.99 -> 0.999
    are equally likely, as they matter equally (an average over about 10, 100, 1000 steps)."""
    return Beta(low, high)


def choice(options):
    """One of ``options`` (None, bool, int, float or str), each equally likely."""
    return Choice(options)


_KINDS = {"loguniform": LogUniform, "uniform": Uniform, "intloguniform": IntLogUniform,
          "beta": Beta}


def check_space(space):
    """``space`` as a dict of name -> :class:`Distribution`, or a clear error."""
    if not isinstance(space, dict) or not space:
        raise TypeError("space must be a non-empty dict of name -> distribution, got %r"
                        % (space,))
    for name, dist in space.items():
        if not isinstance(name, str) or not name:
            raise TypeError("space keys must be non-empty strings, got %r" % (name,))
        if not isinstance(dist, Distribution):
            raise TypeError("space[%r] must be loguniform(...), uniform(...), choice(...), "
                            "intloguniform(...) or beta(...), got %r" % (name, dist))
    return dict(space)


def sample_space(space, n, seed):
    """``n`` parameter dicts drawn from one ``RandomState(seed)``, parameter by parameter in
    the order of ``space``; trial ``i`` gets the same draw whatever ``n`` is."""
    rng = np.random.RandomState(seed)
    return [{name: dist.sample(rng) for name, dist in space.items()} for _ in range(n)]


def space_to_spec(space):
    return [[name, dist.to_spec()] for name, dist in space.items()]


def space_from_spec(spec):
    space = {}
    for name, d in spec:
        d = dict(d)
        kind = d.pop("kind")
        space[name] = (Choice(d["options"]) if kind == "choice"
                       else _KINDS[kind](d["low"], d["high"]))
    return space


def to_optuna_params(space, params):
    """``params`` as Optuna stores them (a beta as ``'1-NAME'``: 1 - beta)."""
    out = {}
    for name, value in params.items():
        dist = space.get(name)
        out[name if dist is None else dist.optuna_name(name)] = (
            value if dist is None else dist.to_optuna(value))
    return out


def from_optuna_params(space, params):
    """The inverse of :func:`to_optuna_params` (names not in ``space`` pass unchanged)."""
    back = {dist.optuna_name(name): (name, dist) for name, dist in space.items()}
    out = {}
    for key, value in params.items():
        name, dist = back.get(key, (key, None))
        out[name] = value if dist is None else dist.from_optuna(value)
    return out
