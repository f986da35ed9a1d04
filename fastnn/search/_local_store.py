"""The slots of a search in one process, without Optuna (random sampler, one worker)."""
import os
import secrets
import socket
import time

from ._pruners import make_pruner
from ._result import TrialRecord
from ._slots import make_slots


class _LocalTrial:
    def __init__(self, slot, params, seed):
        self.slot = slot
        self.number = slot
        self.params = params
        self.seed = seed
        self.intermediate = {}
        self.system_attrs = {}
        self.user_attrs = {}
        self.state = "running"
        self.value = None
        self.error = None
        self.t0 = time.time()
        self.t1 = None


class LocalStore:
    """The same slots in one process, without Optuna (random sampler, one worker)."""

    uses_optuna = False

    def __init__(self, *, pruner="median", pruner_options=None):
        self.pruner = make_pruner(pruner, use_optuna=False, **dict(pruner_options or {}))
        self.trials = []
        self.config = None
        self.study_name = None
        self.spec = None

    def setup(self, config, space):
        if config["seed"] is None:
            config = dict(config, seed=secrets.randbits(31))
        self.config = config
        self._queue = list(enumerate(make_slots(config, space)))
        return config

    def open(self):
        return self

    def claim(self):
        if not self._queue:
            return None
        slot, (params, seed) = self._queue.pop(0)
        t = _LocalTrial(slot, params, seed)
        self.trials.append(t)
        return t

    def suggest(self, h, space):
        return h.params

    def report(self, h, value, step):
        h.intermediate[step] = value

    def should_prune(self, h):
        return bool(self.pruner is not None and self.pruner.prune(self.trials, h))

    def set_user_attr(self, h, key, value):
        h.user_attrs[key] = value

    def finish(self, h, state, value=None, error=None):
        h.state = state
        h.value = value
        h.error = error
        h.t1 = time.time()

    def status(self):
        return sum(1 for t in self.trials if t.state != "running"), self.config["n_trials"]

    def check_stale(self, space):
        pass

    def abandon(self, h, space):
        self.trials.remove(h)
        self._queue.insert(0, (h.slot, (h.params, h.seed)))

    def records(self):
        out = []
        for t in sorted(self.trials, key=lambda t: t.slot):
            if t.state == "running":
                continue
            steps = sorted(t.intermediate)
            value = t.value
            if value is None and steps:
                value = t.intermediate[steps[-1]]
            out.append(TrialRecord(t.slot, t.params, value, [t.intermediate[s] for s in steps],
                                   t.state, steps=steps, round_index=self.config["round"],
                                   duration=t.t1 - t.t0, worker="%s:%d" % (socket.gethostname(),
                                                                           os.getpid()),
                                   user_attrs=t.user_attrs, error=t.error, seed=t.seed))
        return out

    def discarded(self):
        return []
