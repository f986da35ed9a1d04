"""Synthetic objectives with a known best: for tests, examples and sampler comparisons.

They train nothing; their "learning curves" rise towards a score that
peaks at a known point of a log-scale space.  They are module-level classes,
so they pickle into worker processes.
"""
import math
import os
import time

__all__ = ["LogPeak"]


class LogPeak:
    """Score ``exp(-d² / (2·width²))`` where ``d`` is the distance, in decades, from
    ``params`` to ``optimum`` (1.0 exactly at the optimum).

    Each of ``epochs`` epochs reports ``score · (1 - 0.5**epoch)`` (a rising curve, ordered
    like the final scores, so a median rule prunes the bad trials), sleeping ``sleep``
    seconds first.  ``log_path``: every call appends ``"<slot> <pid>"`` to that file when it
    starts and ``"<slot> <pid> end"`` when it returns or is pruned, to count how often each
    trial ran.
    """

    def __init__(self, optimum=None, width=1.0, epochs=5, sleep=0.0, log_path=None,
                 fail_slots=()):
        self.optimum = dict(optimum or {"lr": 10 ** -3.5, "weight_decay": 1e-6})
        self.width = float(width)
        self.epochs = int(epochs)
        self.sleep = float(sleep)
        self.log_path = log_path
        self.fail_slots = tuple(fail_slots)

    def score(self, params):
        d2 = sum((math.log10(params[k]) - math.log10(v)) ** 2 for k, v in self.optimum.items())
        return math.exp(-d2 / (2 * self.width ** 2))

    def _log(self, line):
        if self.log_path:
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)

    def __call__(self, params, trial):
        self._log("%d %d" % (trial.number, os.getpid()))
        if trial.number in self.fail_slots:
            raise RuntimeError("synthetic failure in trial %d" % trial.number)
        s = self.score(params)
        value = 0.0
        for epoch in range(1, self.epochs + 1):
            if self.sleep:
                time.sleep(self.sleep)
            value = s * (1 - 0.5 ** epoch)
            trial.report(value, epoch)
            if trial.should_prune():
                self._log("%d %d end" % (trial.number, os.getpid()))
                trial.prune()
        self._log("%d %d end" % (trial.number, os.getpid()))
        return value
