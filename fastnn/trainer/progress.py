"""Progress output of :class:`~fastnn.trainer.Trainer`: ``progress=`` (a tqdm bar or
per-epoch lines) and :class:`StepProgress`, a callback showing the steps of the
current epoch on a terminal."""
import math
import sys
import time

import numpy as np

from .history import METRICS


def _tqdm_or_none():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


def _fmt(v):
    return "%.4f" % v if isinstance(v, (float, np.floating)) else str(v)


def epoch_line(history, epochs):
    """'epoch 3/10  train loss 0.4312  ...  1.20s' for the History's latest epoch."""
    parts = ["epoch %d/%d" % (history.epoch[-1], epochs)]
    for name in METRICS:
        values = getattr(history, name)
        if values and values[-1] is not None:
            parts.append("%s %s" % (name.replace("_", " "), _fmt(values[-1])))
    parts.append("%.2fs" % history.epoch_time[-1])
    return "  ".join(parts)


class Progress:
    """``mode``: False (nothing), True/'auto' (a bar on a terminal when tqdm is installed,
    lines otherwise), 'bar' or 'lines'."""

    def __init__(self, mode, total):
        self.mode = mode
        self.bar = None
        if not mode:
            return
        tqdm = _tqdm_or_none() if mode in (True, "auto", "bar") else None
        isatty = getattr(sys.stderr, "isatty", lambda: False)()
        if tqdm is not None and (mode == "bar" or isatty):
            self.bar = tqdm(total=total, unit="step", leave=False)

    def step(self, history, iteration, last_loss):
        if self.bar is None:
            return
        self.bar.update(1)
        if history.epoch and history.iteration[-1] == iteration:
            self.bar.set_postfix(epoch=history.epoch[-1], loss="%.4f" % last_loss)

    def epoch(self, history, epochs):
        line = epoch_line(history, epochs)
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def on_terminal():
    """Whether both stdout and stderr are terminals (else progress would only litter a log)."""
    return all(getattr(stream, "isatty", lambda: False)() for stream in (sys.stdout, sys.stderr))


class StepProgress:
    """A callback showing progress within each epoch on stderr: a tqdm bar when tqdm is
    installed (``pip install 'fastnn-scratch[progress]'``), else one line rewritten in
    place (carriage return) at most every ``interval`` seconds (``INTERVAL``, 1 s).  The bar or
    line is removed before the epoch's own output.  Use it on a terminal only (:func:`on_terminal`).

    ``bar=False`` forces the plain line; ``stream`` and ``clock`` are for tests.
    """

    INTERVAL = 1.0      # seconds between two redraws of the plain line, by default

    def __init__(self, interval=None, bar=None, stream=None, clock=time.monotonic):
        self.interval = self.INTERVAL if interval is None else interval
        self.tqdm = None if bar is False else _tqdm_or_none()
        self.stream = stream
        self.clock = clock
        self.trainer = None
        self._bar = None
        self._bar_epoch = None
        self._shown = 0          # width of the line on screen (plain mode)
        self._t0 = self._last = None

    def set_trainer(self, trainer):
        self.trainer = trainer

    def _out(self):
        return sys.stderr if self.stream is None else self.stream

    def on_train_begin(self, logs=None):
        self._t0 = self._last = self.clock()

    def on_batch_end(self, iteration, logs):
        ipe = self.trainer.iter_per_epoch
        epoch = int((iteration - 1) // ipe) + 1            # 1-based epoch of this step
        step, total = int(iteration - (epoch - 1) * ipe), max(int(math.ceil(ipe)), 1)
        if self.tqdm is not None:
            if self._bar_epoch != epoch:
                self.clear()
                self._bar = self.tqdm(total=total, desc="epoch %d" % epoch, unit="step",
                                      leave=False, file=self._out(), mininterval=self.interval)
                self._bar_epoch = epoch
            self._bar.set_postfix(loss="%.4f" % logs["loss"], refresh=False)
            self._bar.update(step - self._bar.n)
            return
        now = self.clock()
        if now - self._last < self.interval:
            return
        self._last = now
        line = "epoch %d: step %d/%d  loss %.4f  %.0fs" % (epoch, step, total, logs["loss"],
                                                           now - self._t0)
        self._out().write("\r" + line.ljust(self._shown))
        self._out().flush()
        self._shown = len(line)

    def clear(self):
        """Remove the bar or line from the screen."""
        if self._bar is not None:
            self._bar.close()
            self._bar = self._bar_epoch = None
        if self._shown:
            self._out().write("\r" + " " * self._shown + "\r")
            self._out().flush()
            self._shown = 0

    def on_epoch_end(self, epoch, logs=None):
        self.clear()
        self._t0 = self._last = self.clock()

    def on_train_end(self, logs=None):
        self.clear()
