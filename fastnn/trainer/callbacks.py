"""Keras-style callbacks for :class:`~fastnn.trainer.Trainer` (``callbacks=[...]``).

A callback is any object with some of these methods (a missing one is
skipped); :class:`Callback` provides them all as no-ops:

``set_trainer(trainer)``
    called once by the Trainer's constructor (check options here: errors
    come before any training);
``on_train_begin(logs)``
    before the first step of :meth:`Trainer.train` (or of the first
    ``train_step``);
``on_batch_end(iteration, logs)``
    after each training step (``iteration`` steps done, ``logs`` is
    ``{'loss': ...}``); not in :class:`Callback`, so that only a callback
    that has it is called every step (:class:`~fastnn.trainer.progress.StepProgress`);
``on_epoch_end(epoch, logs)``
    after each evaluation; ``epoch`` is the epoch number of the
    :class:`History` (1, 2, ... for evaluations at the end of each epoch;
    with the book's ``evaluate_at='start'``, the epochs completed before it:
    0 for the first, after a single step), ``logs`` its latest values
    (``train_loss``, ``val_acc``, ``lr``, ...).  Returning True, or setting
    ``trainer.stop_training = True``, stops training after this epoch;
``on_train_end(logs)``
    when :meth:`Trainer.train` ends, before the final test accuracy.
"""
import csv
import io
import math
import os

from .._fileio import atomic_write, check_writable
from .history import METRICS

__all__ = ["Callback", "EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint", "CSVLogger"]


class Callback:
    """Base class: every hook is a no-op; ``self.trainer`` is set by the Trainer."""

    trainer = None

    def set_trainer(self, trainer):
        self.trainer = trainer

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


class _Monitor(Callback):
    """Watches one metric of the History: losses are minimised, accuracies maximised."""

    def __init__(self, monitor, min_delta, mode):
        if mode not in ("auto", "min", "max"):
            raise ValueError("mode must be 'auto', 'min' or 'max', got %r" % (mode,))
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.minimise = monitor.endswith("loss") if mode == "auto" else mode == "min"
        self.best = None

    def set_trainer(self, trainer):
        super().set_trainer(trainer)
        if self.monitor not in METRICS:
            raise ValueError("monitor must be one of %s, got %r" % (METRICS, self.monitor))
        if self.monitor.startswith("val_") and trainer.x_val is None:
            raise ValueError("%s on %r needs validation_split or validation_data"
                             % (type(self).__name__, self.monitor))

    def _value(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return float(value)

    def _improved(self, value):
        if self.best is None:
            return True
        if self.minimise:
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs (Keras' ``EarlyStopping``).  With
    ``restore_best_weights`` the parameters and batch-norm statistics of the
    best epoch are put back when training ends.  Sets the History's
    ``best_epoch``, ``best_value`` and ``stopped_epoch``.  A resumed run
    (whose History already has a ``best_epoch``) counts patience from there.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0,
                 restore_best_weights=True, mode="auto"):
        super().__init__(monitor, min_delta, mode)
        if patience < 1:
            raise ValueError("patience must be >= 1, got %r" % (patience,))
        self.patience = patience
        self.restore_best_weights = restore_best_weights
        self.wait = 0
        self.best_state = None
        self.restored = False

    def set_trainer(self, trainer):
        super().set_trainer(trainer)
        trainer.history.monitor = self.monitor

    def on_train_begin(self, logs=None):
        h = self.trainer.history
        h.stopped_epoch = None
        if h.monitor == self.monitor and h.best_value is not None \
                and h.best_epoch is not None and h.epoch:
            self.best = h.best_value          # a resumed run: patience counts from its best
            self.wait = h.epoch[-1] - h.best_epoch
        h.monitor = self.monitor

    def on_epoch_end(self, epoch, logs=None):
        value = self._value(logs)
        if value is None:
            return False
        h = self.trainer.history
        if self._improved(value):
            self.best = h.best_value = value
            h.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                from ..serialization import network_state
                self.best_state = network_state(self.trainer.network)
            return False
        self.wait += 1
        if self.wait >= self.patience:
            h.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, logs=None):
        # ``restored``: whether the best weights were put back (a best epoch from an
        # earlier session of a resumed run is not in memory).
        self.restored = False
        if self.restore_best_weights and self.best_state is not None:
            from ..serialization import load_network_state
            load_network_state(self.trainer.network, self.best_state)
            self.restored = True


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs, then wait ``cooldown`` epochs; never below ``min_lr``
    (Keras' ``ReduceLROnPlateau``).  With an ``lr_schedule`` the schedule's base
    rate is cut.  Each cut is recorded as a History event of kind 'lr'."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, min_delta=1e-4,
                 cooldown=0, min_lr=0.0, mode="auto"):
        super().__init__(monitor, min_delta, mode)
        if not 0 < factor < 1:
            raise ValueError("factor must be in (0, 1), got %r" % (factor,))
        if patience < 1:
            raise ValueError("patience must be >= 1, got %r" % (patience,))
        if cooldown < 0 or min_lr < 0:
            raise ValueError("cooldown and min_lr must be >= 0")
        self.factor = factor
        self.patience = patience
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.wait = 0
        self.cooldown_left = 0

    def set_trainer(self, trainer):
        super().set_trainer(trainer)
        if getattr(trainer.optimizer, "lr", None) is None:
            raise ValueError("ReduceLROnPlateau needs an optimizer with an 'lr' attribute")

    def on_epoch_end(self, epoch, logs=None):
        value = self._value(logs)
        if value is None:
            return False
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.wait = 0
        if self._improved(value):
            self.best = value
            self.wait = 0
            return False
        if self.cooldown_left > 0:
            return False
        self.wait += 1
        if self.wait >= self.patience:
            tr = self.trainer
            old = tr.base_lr if tr.lr_schedule is not None else tr.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if new < old:
                tr.set_lr(new)
                tr.history.add_event("lr", lr=new, previous=old, by="ReduceLROnPlateau")
            self.cooldown_left = self.cooldown
            self.wait = 0
        return False


class ModelCheckpoint(_Monitor):
    """Save the network, the optimizer state, ``np.random``'s state and the
    Trainer's progress (epoch, History, its own generator) to ``path`` with
    :func:`fastnn.serialization.save_network` (atomic), so that
    :meth:`Trainer.restore` continues the run exactly.

    ``path`` may contain ``{epoch}`` or a metric (``{val_acc:.3f}``).  Every
    ``every`` epochs; with ``save_best_only`` only when ``monitor`` improved
    (losses minimised, accuracies maximised).  ``extra`` (a JSON-able dict)
    is stored with each file.  ``last_path`` is the latest file written.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, every=1,
                 min_delta=0.0, mode="auto", extra=None):
        super().__init__(monitor, min_delta, mode)
        if int(every) < 1:
            raise ValueError("every must be >= 1, got %r" % (every,))
        self.path = str(path)
        self.save_best_only = save_best_only
        self.every = int(every)
        self.extra = dict(extra or {})
        self.last_path = None

    def set_trainer(self, trainer):
        if self.save_best_only:
            super().set_trainer(trainer)
        else:
            Callback.set_trainer(self, trainer)

    def on_train_begin(self, logs=None):
        """Refuse (OSError) a path no checkpoint can be written to before the first
        step, not at the first epoch's end; with placeholders, check its folder."""
        fixed, braces, _ = self.path.partition("{")
        check_writable(self.path, os.path.dirname(fixed) or os.curdir if braces else None)

    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.every:
            return False
        if self.save_best_only:
            value = self._value(logs)
            if value is None or not self._improved(value):
                return False
            self.best = value
        path = self.path.format(**dict(logs or {}, epoch=epoch))
        self.trainer.save_checkpoint(path, extra=self.extra)
        self.last_path = path
        return False


class CSVLogger(Callback):
    """Write one CSV row per epoch (``epoch`` and the History's metrics) to ``path``.

    The whole file is rewritten atomically after each epoch, so it is never
    half-written; ``append=True`` keeps the rows already in the file.
    """

    def __init__(self, path, separator=",", append=False):
        self.path = str(path)
        self.separator = separator
        self.append = append
        self.rows = []
        self.keys = None

    def on_train_begin(self, logs=None):
        check_writable(self.path)       # before the first step, not at the first epoch's end
        self.rows = []
        if self.append:
            try:
                with open(self.path, newline="") as fh:
                    rows = list(csv.reader(fh, delimiter=self.separator))
            except FileNotFoundError:
                rows = []
            if rows:
                self.keys, self.rows = rows[0], rows[1:]

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        logs["epoch"] = epoch
        if self.keys is None:
            self.keys = ["epoch"] + [k for k in logs if k not in ("epoch", "iteration")]
        self.rows.append(["" if logs.get(k) is None else logs.get(k) for k in self.keys])
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=self.separator, lineterminator="\n")
        writer.writerow(self.keys)
        writer.writerows(self.rows)
        with atomic_write(self.path, "w") as fh:
            fh.write(buf.getvalue())
        return False
