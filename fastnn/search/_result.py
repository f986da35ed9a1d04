"""The outcome of a search: one record per trial, the best one, the rounds."""
import csv
import io
import json
import math

from .._fileio import atomic_write

__all__ = ["TrialRecord", "SearchResult"]

STATES = ("complete", "pruned", "failed")


class TrialRecord:
    """A finished trial.

    ``params`` (dict), ``value`` (the score; for a pruned trial its last
    reported value), ``curve`` (the per-epoch reported values), ``state``
    ('complete' | 'pruned' | 'failed'), ``number`` (index in the result),
    ``slot`` (index within its round), ``round`` (1-based), ``steps`` (the
    epochs of ``curve``), ``duration`` (seconds), ``worker`` ('host:pid'),
    ``user_attrs``, ``error`` (for a failed trial), ``seed``.
    """

    def __init__(self, slot, params, value, curve, state, *, steps=None, round_index=1,
                 duration=None, worker=None, user_attrs=None, error=None, seed=None,
                 number=None, study_trial=None):
        if state not in STATES:
            raise ValueError("state must be one of %s, got %r" % (STATES, state))
        self.slot = int(slot)
        self.number = self.slot if number is None else int(number)
        self.params = dict(params)
        self.value = None if value is None or _isnan(value) else float(value)
        self.curve = [math.nan if v is None else float(v) for v in curve]
        self.steps = (list(range(1, len(self.curve) + 1)) if steps is None
                      else [int(s) for s in steps])
        self.state = state
        self.round = int(round_index)
        self.duration = duration
        self.worker = worker
        self.user_attrs = dict(user_attrs or {})
        self.error = error
        self.seed = seed
        self.study_trial = study_trial   # the Optuna trial number, when there is a study

    def to_dict(self):
        return {"number": self.number, "round": self.round, "slot": self.slot,
                "state": self.state, "value": self.value, "params": self.params,
                "curve": [None if _isnan(v) else v for v in self.curve],   # JSON has no NaN
                "steps": self.steps, "duration": self.duration,
                "worker": self.worker, "seed": self.seed, "study_trial": self.study_trial,
                "user_attrs": self.user_attrs, "error": self.error}

    @classmethod
    def from_dict(cls, d):
        return cls(d["slot"], d["params"], d["value"], d["curve"], d["state"],
                   steps=d.get("steps"), round_index=d.get("round", 1),
                   duration=d.get("duration"), worker=d.get("worker"),
                   user_attrs=d.get("user_attrs"), error=d.get("error"), seed=d.get("seed"),
                   number=d.get("number"), study_trial=d.get("study_trial"))

    def __repr__(self):
        v = "None" if self.value is None else "%.4f" % self.value
        return "TrialRecord(#%d round %d %s value=%s params=%s)" % (
            self.number, self.round, self.state, v,
            {k: _fmt(x) for k, x in self.params.items()})


def _isnan(v):
    try:
        return math.isnan(v)
    except TypeError:
        return False


def _fmt(x):
    if isinstance(x, float):
        return float("%.4g" % x)
    return x


class SearchResult:
    """All trials of a search (``trials``), the best (``best``) and, for a coarse-to-fine
    search, the rounds (``rounds``: each round's space, trial count and best)."""

    def __init__(self, trials, *, rounds=None, info=None):
        self.trials = list(trials)
        self.rounds = list(rounds or [])
        self.info = dict(info or {})

    @property
    def best(self):
        """The complete trial with the highest value (None if no trial completed)."""
        done = [t for t in self.trials if t.state == "complete" and t.value is not None]
        if not done:
            return None
        return max(done, key=lambda t: (t.value, -t.number))

    @property
    def best_value(self):
        b = self.best
        return None if b is None else b.value

    @property
    def best_params(self):
        b = self.best
        return None if b is None else dict(b.params)

    def top(self, k=5, states=("complete",)):
        """The ``k`` best trials among ``states``, best first."""
        pool = [t for t in self.trials if t.state in states and t.value is not None]
        return sorted(pool, key=lambda t: (-t.value, t.number))[:k]

    def count(self, state):
        return sum(1 for t in self.trials if t.state == state)

    def best_so_far(self):
        """Best complete value after each trial, in trial order (None before the first)."""
        out, best = [], None
        for t in sorted(self.trials, key=lambda t: t.number):
            if t.state == "complete" and t.value is not None:
                best = t.value if best is None else max(best, t.value)
            out.append(best)
        return out

    def epochs_trained(self):
        return sum(len(t.curve) for t in self.trials)

    # -- output ---------------------------------------------------------------
    def to_dict(self):
        best = self.best
        return {"info": self.info, "rounds": self.rounds,
                "best": None if best is None else best.to_dict(),
                "counts": {s: self.count(s) for s in STATES},
                "trials": [t.to_dict() for t in self.trials]}

    @classmethod
    def from_dict(cls, d):
        return cls([TrialRecord.from_dict(t) for t in d["trials"]], rounds=d.get("rounds"),
                   info=d.get("info"))

    def to_json(self, path):
        with atomic_write(path, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1, default=_json_default)
            fh.write("\n")

    @classmethod
    def from_json(cls, path):
        with open(path) as fh:
            return cls.from_dict(json.load(fh))

    def to_csv(self, path):
        """One row per trial: number, round, state, value, each parameter, epochs, duration."""
        names = []
        for t in self.trials:
            for k in t.params:
                if k not in names:
                    names.append(k)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["number", "round", "slot", "state", "value"] + names
                   + ["epochs", "duration_s", "worker"])
        for t in sorted(self.trials, key=lambda t: t.number):
            w.writerow([t.number, t.round, t.slot, t.state,
                        "" if t.value is None else repr(t.value)]
                       + [repr(t.params[k]) if isinstance(t.params.get(k), float)
                          else t.params.get(k, "") for k in names]
                       + [len(t.curve), "" if t.duration is None else "%.3f" % t.duration,
                          t.worker or ""])
        with atomic_write(path, "w") as fh:
            fh.write(buf.getvalue())

    def table(self, k=10):
        """The ``k`` best trials as a text table."""
        return format_table(self.top(k), list(self._param_names()))

    def _param_names(self):
        seen = []
        for t in self.trials:
            for n in t.params:
                if n not in seen:
                    seen.append(n)
        return seen

    def summary(self):
        lines = []
        n = len(self.trials)
        lines.append("%d trials: %d complete, %d pruned, %d failed; %d epochs trained"
                     % (n, self.count("complete"), self.count("pruned"), self.count("failed"),
                        self.epochs_trained()))
        for r in self.rounds:
            rng = ", ".join("%s in [%s, %s]" % (name, _g(s.get("low")), _g(s.get("high")))
                            if "low" in s else "%s in %s" % (name, s.get("options"))
                            for name, s in r["space"])
            bv = r.get("best_value")
            lines.append("round %d: %d trials, %s; best %s"
                         % (r["round"], r["n_trials"], rng, "-" if bv is None else "%.4f" % bv))
        b = self.best
        if b is not None:
            lines.append("best: %.4f  %s  (trial %d, round %d)"
                         % (b.value, "  ".join("%s=%s" % (k, _g(v)) for k, v in b.params.items()),
                            b.number, b.round))
        return "\n".join(lines)

    def __repr__(self):
        return "SearchResult(%d trials, best=%r)" % (len(self.trials), self.best)


def _g(v):
    """A parameter value in a few characters: 3 significant digits, and for a coefficient
    just below 1 (a beta) 3 significant digits of 1 - v (0.9999, not 1)."""
    if not isinstance(v, float):
        return str(v)
    if 0.5 < v < 1.0:
        return ("%.*f" % (max(3, 2 - math.floor(math.log10(1.0 - v))), v)).rstrip("0")
    return "%.3g" % v


def format_table(records, names):
    head = "%4s %3s %-8s %7s  %s %6s" % ("#", "rnd", "state", "value",
                                         " ".join("%11s" % n[:11] for n in names), "epochs")
    lines = [head]
    for t in records:
        vals = " ".join("%11s" % _g(t.params.get(n)) for n in names)
        lines.append("%4d %3d %-8s %7s  %s %6d" % (
            t.number, t.round, t.state, "-" if t.value is None else "%.4f" % t.value, vals,
            len(t.curve)))
    return "\n".join(lines)


def _json_default(o):
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError("not JSON serializable: %r" % (o,))
