"""The experiments of the book's chapter 6 (and of its sequel's chapters 4 and
6-8), one module each, as ``fastnn run <name>``.

>>> from fastnn.experiments import run_experiment
>>> result = run_experiment("optimizers-2d", out="results")       # doctest: +SKIP
>>> result.numbers["AdaGrad"]["distance"]                          # doctest: +SKIP

Each experiment writes PNG figures and a JSON of its numbers under
``<out>/<name>/`` and prints one line per result.  ``quick=True`` shrinks
the work from minutes to seconds (for CI); ``overrides`` changes any of
the experiment's settings (``DEFAULTS`` in its module), e.g.
``run_experiment("optimizers", overrides={"iterations": 500})``.
:func:`run_all` runs every experiment, times each with both backends and
writes one self-contained HTML report.
"""
import importlib
import time

__all__ = ["EXPERIMENTS", "names", "get", "run_experiment", "run_all"]

# name -> module (in the order of the chapter)
EXPERIMENTS = {
    "optimizers-2d": "optimizers_2d",
    "optimizers": "optimizers",
    "init-histograms": "init_histograms",
    "init": "weight_init",
    "batchnorm": "batchnorm",
    "overfit": "overfit",
    "hyperparams": "hyperparams",
    "babysit": "babysit",
    "convnet": "convnet",
    # the sequel ("Deep Learning from Scratch 2")
    "word2vec": "word2vec",
    "rnnlm": "rnnlm",
    "seq2seq": "seq2seq",
    "attention": "attention",
}


def names():
    """The experiment names, in the chapter's order."""
    return list(EXPERIMENTS)


def get(name):
    """The module of experiment ``name`` (``NAME``, ``TITLE``, ``DEFAULTS``, ``QUICK``, ``run``)."""
    if name not in EXPERIMENTS:
        raise ValueError("unknown experiment %r; choose one of %s or 'all'"
                         % (name, ", ".join(EXPERIMENTS)))
    return importlib.import_module("." + EXPERIMENTS[name], __name__)


def run_experiment(name, *, dataset="sample", backend="fast", seed=0, quick=False,
                   out="fastnn-results", overrides=None, figures=True, write=True,
                   stream=None):
    """Run one experiment and return its :class:`~fastnn.experiments._common.Result`.

    ``figures=False`` skips drawing; ``write=False`` writes no files at all
    (used to time the second backend); ``stream`` receives the result lines
    (stdout by default).
    """
    import numpy as np
    from ._common import Context
    module = get(name)
    ctx = Context(module, dataset=dataset, backend=backend, seed=seed, quick=quick, out=out,
                  overrides=overrides, figures=figures and write, write=write, stream=stream)
    state = np.random.get_state()
    t0 = time.perf_counter()
    try:
        module.run(ctx)
    finally:
        np.random.set_state(state)
    wall = time.perf_counter() - t0
    ctx.result.wall_time = wall
    ctx.result.compute_time = wall - ctx.figure_time - ctx.io_time
    if write:
        ctx.save_json()
    return ctx.result


def run_all(*, dataset="sample", backend="fast", seed=0, quick=False, out="fastnn-results",
            compare=True, only=None, overrides=None, stream=None):
    """Run every experiment, then write ``<out>/report.html`` and ``<out>/all.json``.

    With ``compare`` (the default) each experiment is run a second time with
    the other backend, without figures or files, to time the same work;
    the report shows both times and the speedup.  Returns the report's
    summary dict (``experiments``, ``timings``, ``report``).  ``only`` picks
    experiments; ``overrides`` maps an experiment's name to its settings.
    """
    from .report import run_all as _run_all
    return _run_all(dataset=dataset, backend=backend, seed=seed, quick=quick, out=out,
                    compare=compare, only=only, overrides=overrides, stream=stream)
