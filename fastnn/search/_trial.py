"""What an objective sees: ``objective(params, trial)``, with or without Optuna."""
import math

from .._checks import as_float

__all__ = ["TrialPruned", "Trial", "optuna_or_none"]


def optuna_or_none():
    """The ``optuna`` module, or None when it is not installed (or blocked)."""
    try:
        import optuna
    except ImportError:
        return None
    return optuna


_optuna = optuna_or_none()

if _optuna is not None:
    class TrialPruned(_optuna.TrialPruned):
        """Raise it from an objective to stop a hopeless trial (it is Optuna's TrialPruned)."""
    _PRUNED_TYPES = (_optuna.TrialPruned,)
else:
    class TrialPruned(Exception):
        """Raise it from an objective to stop a hopeless trial."""
    _PRUNED_TYPES = (TrialPruned,)


class Trial:
    """One trial, as passed to ``objective(params, trial)``.

    ``number`` is the trial's index in its search (stable across workers and
    restarts), ``params`` its hyperparameters, ``seed`` an integer to seed
    the trial's own randomness (weight init, mini-batches) so that a trial
    gives the same result whichever worker runs it.  Call
    ``report(value, epoch)`` once per epoch and ``should_prune()`` after it;
    ``prune()`` raises :class:`TrialPruned`.  Once ``should_prune()`` has returned True
    the trial is recorded as pruned, whether the objective then raises
    :class:`TrialPruned` or returns.  ``optuna_trial`` is the
    underlying :class:`optuna.trial.Trial` (None without Optuna).
    """

    def __init__(self, number, params, seed, round_index, backend, handle):
        self.number = number
        self.params = dict(params)
        self.seed = seed
        self.round = round_index
        self.curve = []
        self.user_attrs = {}
        self.pruned = False
        self._backend = backend
        self._handle = handle

    @property
    def optuna_trial(self):
        return getattr(self._handle, "optuna_trial", None)

    def report(self, value, step):
        """Record the validation score after ``step`` (an epoch number, increasing)."""
        value = float(value)
        step = int(step)
        if self.curve and step <= self.curve[-1][0]:
            raise ValueError("trial.report: steps must increase, got %d after %d"
                             % (step, self.curve[-1][0]))
        self.curve.append((step, value))
        self._backend.report(self._handle, value, step)

    def should_prune(self):
        """True when the pruner judges this trial hopeless at its last reported step."""
        if not self.curve:
            return False
        if self._backend.should_prune(self._handle):
            # The trial is recorded as pruned even if the objective returns a value now.
            self.pruned = True
        return self.pruned

    def prune(self):
        raise TrialPruned("trial %d pruned at step %d" % (self.number, self.curve[-1][0]
                                                          if self.curve else -1))

    def set_user_attr(self, key, value):
        """Store a JSON-able value with the trial (e.g. per-fold scores)."""
        self.user_attrs[key] = value
        self._backend.set_user_attr(self._handle, key, value)

    def __repr__(self):
        return "Trial(number=%d, params=%r)" % (self.number, self.params)


def is_pruned_exception(exc):
    return isinstance(exc, _PRUNED_TYPES)


def clean_value(value):
    """The objective's return value as a float, or raise a clear TypeError."""
    value = as_float(value, "the objective must return a number (validation accuracy)")
    if math.isnan(value):
        raise ValueError("the objective returned NaN")
    return value
