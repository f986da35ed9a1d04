"""Early stopping of hopeless trials: the median rule and successive halving.

With Optuna the search uses Optuna's own ``MedianPruner`` and
``SuccessiveHalvingPruner``.  Without it, the two small classes below apply
the same rules (same defaults, same comparisons) to the in-process search,
so a search prunes the same trials whether Optuna is installed or not.
"""
import math

import numpy as np

__all__ = ["make_pruner", "LocalMedianPruner", "LocalSuccessiveHalvingPruner", "PRUNER_NAMES"]

PRUNER_NAMES = {"median": "median", "halving": "halving", "successive_halving": "halving",
                "sha": "halving", "none": None}


def _canonical(pruner):
    if pruner is None:
        return None
    if isinstance(pruner, str):
        key = pruner.lower().replace("-", "_")
        if key not in PRUNER_NAMES:
            raise ValueError("pruner must be 'median', 'halving' or None, got %r" % (pruner,))
        return PRUNER_NAMES[key]
    return pruner


def make_pruner(pruner, *, use_optuna, warmup_steps=0, startup_trials=5, reduction_factor=4,
                min_resource="auto"):
    """A pruner object from a name ('median', 'halving', None) or the object itself."""
    pruner = _canonical(pruner)
    if pruner is None:
        return None
    if not isinstance(pruner, str):
        return pruner
    if use_optuna:
        import optuna
        if pruner == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=startup_trials,
                                               n_warmup_steps=warmup_steps)
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource,
                                                      reduction_factor=reduction_factor)
    if pruner == "median":
        return LocalMedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_steps)
    return LocalSuccessiveHalvingPruner(min_resource=min_resource,
                                        reduction_factor=reduction_factor)


class LocalMedianPruner:
    """Prune when the trial's best value so far is below the median of the completed trials'
    values at the same step (after ``n_startup_trials`` completed trials and
    ``n_warmup_steps`` steps); Optuna's ``MedianPruner`` rule for a maximized score."""

    def __init__(self, n_startup_trials=5, n_warmup_steps=0, interval_steps=1, n_min_trials=1):
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps
        self.interval_steps = interval_steps
        self.n_min_trials = n_min_trials

    def prune(self, trials, trial):
        completed = [t for t in trials if t.state == "complete"]
        if not completed or len(completed) < self.n_startup_trials:
            return False
        if not trial.intermediate:
            return False
        step = max(trial.intermediate)
        if step < self.n_warmup_steps:
            return False
        nearest = (step - self.n_warmup_steps) // self.interval_steps * self.interval_steps \
            + self.n_warmup_steps
        second_last = max([s for s in trial.intermediate if s != step], default=-1)
        if not second_last < nearest:
            return False
        best = np.nanmax(np.asarray(list(trial.intermediate.values()), dtype=float))
        if math.isnan(best):
            return True
        at_step = [t.intermediate[step] for t in completed if step in t.intermediate]
        if len(at_step) < self.n_min_trials:
            return False
        p = float(np.nanpercentile(np.asarray(at_step, dtype=float), 50))
        if math.isnan(p):
            return False
        return best < p


class LocalSuccessiveHalvingPruner:
    """Asynchronous successive halving (Li et al. 2020) as Optuna's ``SuccessiveHalvingPruner``:
    at steps ``min_resource * reduction_factor**rung`` a trial goes on only if it is in the
    top ``1/reduction_factor`` of the trials that reached that rung."""

    def __init__(self, min_resource="auto", reduction_factor=4, min_early_stopping_rate=0,
                 bootstrap_count=0):
        self.min_resource = None if min_resource == "auto" else int(min_resource)
        self.reduction_factor = reduction_factor
        self.min_early_stopping_rate = min_early_stopping_rate
        self.bootstrap_count = bootstrap_count

    def prune(self, trials, trial):
        if not trial.intermediate:
            return False
        step = max(trial.intermediate)
        rung = 0
        while "completed_rung_%d" % rung in trial.system_attrs:
            rung += 1
        value = trial.intermediate[step]
        while True:
            if self.min_resource is None:
                steps = [max(t.intermediate) for t in trials
                         if t.state == "complete" and t.intermediate]
                if not steps:
                    return False
                self.min_resource = max(max(steps) // 100, 1)
            promotion = self.min_resource * (
                self.reduction_factor ** (self.min_early_stopping_rate + rung))
            if step < promotion:
                return False
            if math.isnan(value):
                return True
            key = "completed_rung_%d" % rung
            trial.system_attrs[key] = value
            competing = [t.system_attrs[key] for t in trials
                         if t is not trial and key in t.system_attrs] + [value]
            if len(competing) <= self.bootstrap_count:
                return True
            idx = len(competing) // self.reduction_factor - 1
            if idx == -1:
                idx = 0
            competing.sort()
            if not value >= competing[-(idx + 1)]:
                return True
            rung += 1
