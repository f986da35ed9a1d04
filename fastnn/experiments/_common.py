"""What every experiment shares: settings, output files, figures and timing."""
import ast
import io
import json
import os
import sys
import time

import numpy as np

from .._text import plural
from .._fileio import atomic_write, jsonable as _jsonable
from ._settings import resolve

__all__ = ["Context", "Result", "smooth_curve", "new_figure", "parse_setting",
           "NoMatplotlib"]

_DATA_CACHE = {}


def smooth_curve(x):
    """The book's smoothing of loss curves (:func:`fastnn.util.smooth_curve`)."""
    from ..util import smooth_curve as _smooth
    return _smooth(x)


class NoMatplotlib(ImportError):
    """matplotlib is not installed: the figures are skipped, the numbers are kept."""


def new_figure(*args, **kwargs):
    """A matplotlib ``Figure`` drawn by the Agg canvas, without pyplot.

    No global backend is switched, so this works with or without a display
    and leaves an interactive session's pyplot alone.  matplotlib is an
    optional dependency (``pip install fastnn-scratch[plot]``).
    """
    try:
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:  # pragma: no cover - depends on the environment
        raise NoMatplotlib("the experiments' figures need matplotlib: "
                           "pip install 'fastnn-scratch[plot]'") from None
    fig = Figure(*args, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def parse_setting(text):
    """'key=value' -> (key, value), the value read as a Python literal when it is one."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError("a setting is key=value, got %r" % (text,))
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        parsed = value.strip()
    return key.strip().replace("-", "_"), parsed


class Result:
    """The outcome of one experiment: ``numbers`` (a JSON-able dict),
    ``figures`` (PNG paths), ``lines`` (what was printed), ``settings`` and
    timings (``wall_time``; ``compute_time`` leaves out drawing and saving
    figures).  ``figures_skipped`` says why there are no figures when
    matplotlib is missing (None otherwise)."""

    def __init__(self, name, title, settings):
        self.name = name
        self.title = title
        self.settings = settings
        self.numbers = {}
        self.figures = []
        self.figures_skipped = None
        self.lines = []
        self.wall_time = None
        self.compute_time = None
        self.json_path = None

    def to_dict(self):
        return _jsonable({"name": self.name, "title": self.title, "settings": self.settings,
                          "numbers": self.numbers,
                          "figures": [os.path.basename(f) for f in self.figures],
                          "figures_skipped": self.figures_skipped,
                          "lines": self.lines, "wall_time": self.wall_time,
                          "compute_time": self.compute_time})

    def __repr__(self):
        return "Result(%r, %d figures, %.2fs)" % (self.name, len(self.figures),
                                                 self.wall_time or 0.0)


class Context:
    """Settings and output of one experiment run.

    ``p`` holds the experiment's parameters (its defaults, the ``--quick``
    overrides, then the user's ``overrides``).  ``emit`` records a number
    and prints its line; ``savefig`` writes a PNG atomically.
    """

    def __init__(self, module, *, dataset="sample", backend="fast", seed=0, quick=False,
                 out="fastnn-results", overrides=None, figures=True, write=True,
                 stream=None):
        self.name = module.NAME
        self.title = module.TITLE
        self.dataset = dataset
        self.backend = backend
        self.seed = int(seed)
        self.quick = bool(quick)
        self.out_dir = os.path.join(os.fspath(out), self.name)
        self.figures_on = figures
        self.write = write
        self.stream = sys.stdout if stream is None else stream
        params = resolve(module, quick, overrides)
        self.p = params
        self.result = Result(self.name, self.title, {
            "dataset": dataset if getattr(module, "USES_DATASET", True) else None,
            "backend": backend, "seed": self.seed, "quick": self.quick, "params": params})
        self.figure_time = 0.0
        self.io_time = 0.0

    # -- data ---------------------------------------------------------------------
    def load_data(self):
        """The data set as ``(x_train, t_train), (x_test, t_test)``, float64 images.

        Loaded once per process and data set, and shared read-only.
        """
        if self.dataset not in _DATA_CACHE:
            t0 = time.perf_counter()
            from ..datasets import load_dataset
            (x, t), (xt, tt) = load_dataset(self.dataset)
            arrays = (x.astype(np.float64), t, xt.astype(np.float64), tt)
            for a in arrays:
                a.setflags(write=False)
            _DATA_CACHE[self.dataset] = arrays
            self.io_time += time.perf_counter() - t0
        x, t, xt, tt = _DATA_CACHE[self.dataset]
        return (x, t), (xt, tt)

    # -- output -------------------------------------------------------------------
    def emit(self, key, value, text):
        """Record ``numbers[key] = value`` and print ``name: text``."""
        self.result.numbers[key] = value
        line = "%s: %s" % (self.name, text)
        self.result.lines.append(line)
        print(line, file=self.stream, flush=True)

    def note(self, key, value):
        """Record a number without printing it (curves, per-layer tables)."""
        self.result.numbers[key] = value

    def savefig(self, fig, filename):
        """Save ``fig`` as ``out/<experiment>/<filename>`` (PNG, atomically)."""
        t0 = time.perf_counter()
        path = os.path.join(self.out_dir, filename)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        with atomic_write(path, "wb") as fh:
            fh.write(buf.getvalue())
        self.result.figures.append(path)
        self.figure_time += time.perf_counter() - t0
        return path

    def plot(self, draw, filename):
        """Call ``draw()`` (which returns a Figure) and save it, unless figures are off.

        Without matplotlib, figures are turned off for the rest of the run and
        ``result.figures_skipped`` says why; the numbers are kept."""
        if not self.figures_on:
            return None
        t0 = time.perf_counter()
        try:
            fig = draw()
        except NoMatplotlib as exc:
            self.figures_on = False
            self.result.figures_skipped = str(exc)
            return None
        finally:
            self.figure_time += time.perf_counter() - t0
        return self.savefig(fig, filename)

    def save_json(self):
        path = os.path.join(self.out_dir, self.name + ".json")
        with atomic_write(path, "w") as fh:
            json.dump(self.result.to_dict(), fh, indent=1)
        self.result.json_path = path
        return path


def limit_blas_threads(n):
    """A context manager that limits every BLAS library to ``n`` threads (threadpoolctl).

    Both backends are imported first: threadpoolctl only sees the libraries
    already loaded, and the compiled kernels bring fastnn's own OpenBLAS
    (kept at one thread inside fastnn's pool whatever the limit says).
    """
    from threadpoolctl import threadpool_limits
    from .._backend import get_backend
    for name in ("fast", "reference"):
        get_backend(name)
    return threadpool_limits(limits=n, user_api="blas")


def train_together(nets, opts, x_train, t_train, iterations, batch_size, seed):
    """Train several networks side by side on the same mini-batches, drawn with
    replacement as the book does; return {name: [loss after each update]}."""
    from ..trainer.loop import random_batches, train_step
    losses = {name: [] for name in nets}
    np.random.seed(seed)
    for xb, tb in random_batches(x_train, t_train, batch_size, iterations):
        for name, net in nets.items():
            losses[name].append(float(train_step(net, opts[name], xb, tb)))
    return losses


def emit_loss_summaries(ctx, losses, tail, width, extra=None):
    """One result line per curve: mean loss of the first 10 and the last ``tail`` updates."""
    tail = min(tail, min(len(c) for c in losses.values()))
    for name, curve in losses.items():
        first = float(np.mean(curve[:10]))
        last = float(np.mean(curve[-tail:]))
        numbers = dict(extra(name) if extra else {}, first_loss=first, final_loss=last)
        ctx.emit(name, numbers, "%-*s loss %.4f -> %.4f (mean of the last %s)"
                 % (width, name, first, last, plural(tail, "iteration")))
