"""The per-epoch record of a training run (Keras' ``History``), JSON in and out."""
import json

from .._fileio import atomic_write, jsonable as _jsonable

__all__ = ["History", "METRICS"]

METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
_SCALARS = ("final_test_acc", "stopped_epoch", "best_epoch", "best_value", "monitor")


class History:
    """Per-epoch record of a training run, returned by :meth:`Trainer.train`.

    One entry per evaluation point ("epoch") in each list: ``epoch`` (the
    epoch number; with the book's ``evaluate_at='start'``, the epochs
    completed before the evaluation, so 0 for the first one, made after a
    single step), ``iteration`` (steps done), ``train_loss`` (mean mini-batch loss since
    the previous epoch), ``train_acc``, ``val_loss``/``val_acc`` (empty
    without validation data), ``test_loss``, ``test_acc``, ``lr`` and
    ``epoch_time`` (seconds).  ``final_test_acc`` is the accuracy on the
    whole test set after training (what the book's ``train()`` prints);
    ``stopped_epoch``/``best_epoch``/``best_value`` are set by early
    stopping.  ``events`` lists what happened between epochs (a resume with
    changed options, a learning-rate cut, a rollback) as dicts with at
    least ``epoch`` and ``kind``.  ``history['val_acc']`` and
    ``history.history`` give the lists Keras-style; :meth:`save` writes JSON.
    """

    _LISTS = ("epoch", "iteration") + METRICS + ("lr", "epoch_time")

    def __init__(self):
        for name in self._LISTS:
            setattr(self, name, [])
        for name in _SCALARS:
            setattr(self, name, None)
        self.total_time = 0.0
        self.events = []

    @property
    def history(self):
        """The lists as a dict (metric name -> list), as ``keras.callbacks.History.history``."""
        return {name: list(getattr(self, name)) for name in self._LISTS}

    def __getitem__(self, name):
        if name not in self._LISTS:
            raise KeyError(name)
        return getattr(self, name)

    def __len__(self):
        return len(self.epoch)

    def __repr__(self):
        last = ", ".join("%s=%.4f" % (m, getattr(self, m)[-1]) for m in METRICS
                         if getattr(self, m) and getattr(self, m)[-1] is not None)
        return "History(%d epochs%s%s)" % (len(self), ", " if last else "", last)

    def last(self):
        """The latest value of every list that has one (the ``logs`` of a callback)."""
        return {name: getattr(self, name)[-1] for name in self._LISTS if getattr(self, name)}

    def add_event(self, kind, **details):
        """Record ``kind`` (e.g. 'resume', 'lr', 'rollback') after the latest epoch."""
        event = {"epoch": self.epoch[-1] if self.epoch else 0, "kind": kind}
        event.update(details)
        self.events.append(_jsonable(event))
        return event

    def truncate(self, epoch):
        """Drop every entry after ``epoch``; return the dropped part as a dict of lists."""
        keep = sum(1 for e in self.epoch if e <= epoch)
        dropped = {}
        for name in self._LISTS:
            values = getattr(self, name)
            dropped[name] = values[keep:]
            del values[keep:]
        return dropped

    def to_dict(self):
        d = self.history
        d.update({name: getattr(self, name) for name in _SCALARS})
        d.update(total_time=self.total_time, events=list(self.events))
        return _jsonable(d)

    @classmethod
    def from_dict(cls, d):
        """The History saved as ``d`` (from :meth:`to_dict`); ``ValueError`` when
        ``d`` is not a dict of lists (and scalars) as that writes."""
        if not isinstance(d, dict):
            raise ValueError("a History is a dict of lists, got %s" % type(d).__name__)
        for name in cls._LISTS + ("events",):
            if not isinstance(d.get(name, []), list):
                raise ValueError("History %s is a %s, not a list"
                                 % (name, type(d[name]).__name__))
        for name in cls._LISTS:
            bad = [v for v in d.get(name, []) if v is not None and not _is_number(v)]
            if bad:
                raise ValueError("History %s holds %r, not a number" % (name, bad[0]))
        if not all(isinstance(e, dict) for e in d.get("events", [])):
            raise ValueError("History events must be dicts")
        total = d.get("total_time", 0.0)
        if not _is_number(total):
            raise ValueError("History total_time is %r, not a number" % (total,))
        h = cls()
        for name in cls._LISTS:
            setattr(h, name, list(d.get(name, [])))
        for name in _SCALARS:
            setattr(h, name, d.get(name))
        h.total_time = d.get("total_time", 0.0)
        h.events = list(d.get("events", []))
        return h

    def save(self, path):
        """Write the history as JSON (atomically)."""
        with atomic_write(path, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1)

    @classmethod
    def load(cls, path):
        with open(path) as fh:
            return cls.from_dict(json.load(fh))


def _is_number(value):
    # jsonable() writes an infinite value as "inf"/"-inf" and NaN as None.
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) \
        or value in ("inf", "-inf")
