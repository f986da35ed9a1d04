"""Progress output of :class:`~fastnn.trainer.Trainer` (``progress=``): a tqdm bar or lines."""
import sys

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
