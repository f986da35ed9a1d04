"""The search engine: trials as slots of a study, run by one or many workers.

A search of ``n_trials`` trials is ``n_trials`` *slots*.  Whoever creates the
study (creation is atomic in every Optuna storage) enqueues one waiting
Optuna trial per slot, and workers claim waiting trials one at a time
(Optuna's own WAITING -> RUNNING transition, which exactly one claimant
wins).  So however many workers, on however many machines, join the study,
each slot runs once; nothing here asks a trial number "is it my turn".

For the random sampler the slots carry their parameters, drawn up front from
one seeded stream (the book's ``10 ** np.random.uniform(-6, -2)``): the
search is the same with 1 or 16 workers, with or without Optuna, and a
resumed search continues the same sequence.  For TPE the first slots carry
those same random draws (its start-up trials) and the rest are filled in by
Optuna's ``TPESampler`` when a worker claims them.

A worker that dies leaves its trial RUNNING.  Any worker (or a restarted
search) recognises it as stale -- at once when it ran on the same machine
and its process is gone, otherwise when its heartbeat has not changed for
``grace_period`` seconds -- marks it failed (again exactly one claimant
wins that transition) and enqueues its slot again with the same parameters.
So a crashed search resumes where it stopped with no trial lost or run twice.

Without Optuna, :class:`LocalStore` runs the same loop in one process.

Modules, by job: ``_slots`` (slots, seeds, stored attributes), ``_storage``
(storage URLs, checks, opening), ``_liveness`` (worker identity, the journal
file's ``flock``), ``_optuna_store`` and ``_local_store`` (the two stores),
``_workers`` (the worker loop and processes) and this one, the public
:func:`random_search` and :func:`load_result`.
"""
import os
import shutil
import tempfile
import time

import numpy as np

from ._local_store import LocalStore
from ._optuna_store import OptunaStore
from ._result import SearchResult
from ._slots import S_CONFIG, SAMPLERS, SearchError
from ._space import check_space, space_to_spec
from ._storage import check_storage, display_storage, open_storage, storage_spec
from ._trial import optuna_or_none
from ._workers import _ThreadLimit, _Watcher, _default_workers, run_parallel, run_worker

__all__ = ["random_search", "load_result", "storage_spec", "check_storage", "SearchError"]


def random_search(objective, space, n_trials, *, seed=None, sampler="random", pruner="median",
                  workers=1, storage=None, study_name=None, warmup_steps=0, startup_trials=5,
                  reduction_factor=4, tpe_startup=10, catch=(), threads=None, progress=None,
                  heartbeat_interval=10.0, grace_period=60.0, round_index=1, poll=0.5):
    """Random search (the book's section 6.5) over ``space`` with ``n_trials`` trials.

    ``objective(params, trial)`` trains a model with ``params`` and returns its validation
    accuracy, calling ``trial.report(acc, epoch)`` every epoch and stopping when
    ``trial.should_prune()`` is true (raise :class:`TrialPruned` or return).

    seed: seeds the parameter draws and every trial's ``trial.seed`` (None: a random seed,
      stored with the study).  sampler: 'random' (the book's method) or 'tpe' (Optuna's
      TPESampler; its first ``tpe_startup`` trials are the random search's first draws).
    pruner: 'median' (stop a trial whose best value so far is below the median of completed
      trials at the same epoch, after ``startup_trials`` completed trials and ``warmup_steps``
      epochs), 'halving' (successive halving, ``reduction_factor``), None, or an Optuna pruner.
    workers: worker processes ('spawn'; -1 or 0: one per core); each limits BLAS to
      ``threads`` threads (default 1 when workers > 1).  storage: None (in memory; a temporary
      journal file when workers > 1), a journal file path, or any URL Optuna accepts
      ('sqlite:///s.db', 'postgresql+psycopg2://user@host/db'): with a storage, the search
      survives a crash -- run it again with the same ``study_name`` and it resumes -- and
      workers on other machines join it by study name.  A trial whose worker died is run
      again: at once when that worker ran on this machine, otherwise when its heartbeat
      (written every ``heartbeat_interval`` seconds) has not changed for ``grace_period``
      seconds.  catch: exception types recorded as
      failed trials instead of stopping the search.  progress: ``progress(new, finished,
      total)`` called as trials finish.
    """
    space = check_space(space)
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise ValueError("n_trials must be a positive int, got %r" % (n_trials,))
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)):
        raise TypeError("workers must be an int, got %r" % (workers,))
    workers = _default_workers() if workers <= 0 else int(workers)
    if sampler not in SAMPLERS:
        raise ValueError("sampler must be one of %s, got %r" % (SAMPLERS, sampler))
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError("seed must be an int or None, got %r" % (seed,))
    catch = tuple(catch) if isinstance(catch, (tuple, list)) else (catch,)
    if heartbeat_interval and not grace_period > 2 * heartbeat_interval:
        raise ValueError("grace_period must be more than twice heartbeat_interval, got %r and %r"
                         % (grace_period, heartbeat_interval))
    optuna = optuna_or_none()
    if optuna is None:
        need = [what for what, bad in (("sampler='tpe'", sampler == "tpe"),
                                       ("workers > 1", workers > 1),
                                       ("storage", storage is not None)) if bad]
        if need:
            raise ImportError("%s needs Optuna: pip install 'fastnn-scratch[search]'"
                              % ", ".join(need))
    pruner_options = {"warmup_steps": warmup_steps, "startup_trials": startup_trials,
                      "reduction_factor": reduction_factor}
    config = {"n_trials": int(n_trials), "seed": None if seed is None else int(seed),
              "sampler": sampler, "space": space_to_spec(space), "round": int(round_index),
              "tpe_startup": int(tpe_startup) if sampler == "tpe" else 0}
    tmpdir = None
    start = time.perf_counter()
    try:
        if optuna is None:
            store = LocalStore(pruner=pruner, pruner_options=pruner_options)
            spec = None
        else:
            if storage is None and workers > 1:
                tmpdir = tempfile.mkdtemp(prefix="fastnn-search-")
                storage = os.path.join(tmpdir, "study.journal")
            spec = check_storage(storage_spec(storage), workers)
            store = OptunaStore(spec, study_name, sampler=sampler, pruner=pruner,
                                pruner_options=pruner_options,
                                heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                                ownerless_grace=min(10.0, grace_period))
        config = store.setup(config, space)
        watcher = _Watcher(store, progress)
        if workers == 1:
            with _ThreadLimit(threads) as limit:
                run_worker(store, objective, space, catch=catch, poll=poll, on_trial=watcher,
                           before_trial=limit.reapply if threads else None)
        else:
            run_parallel(store, objective, space, workers, catch, poll,
                          1 if threads is None else threads, watcher)
        watcher()
        records = store.records()
        wall = time.perf_counter() - start
        info = {"seed": config["seed"], "sampler": sampler,
                "pruner": pruner if isinstance(pruner, (str, type(None))) else repr(pruner),
                "workers": workers, "n_trials": config["n_trials"], "wall_time_s": wall,
                "study_name": store.study_name,
                # where the study is, for results.json: no password, no temporary folder
                "storage": display_storage(spec) if isinstance(spec, (str, type(None)))
                and tmpdir is None else None,
                "optuna": None if optuna is None else optuna.__version__,
                "discarded": store.discarded()}
        best = max((r for r in records if r.state == "complete"), key=lambda r: r.value,
                   default=None)
        rounds = [{"round": config["round"], "space": config["space"],
                   "n_trials": config["n_trials"],
                   "best_value": None if best is None else best.value,
                   "best_params": None if best is None else best.params}]
        return SearchResult(records, rounds=rounds, info=info)
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


def load_result(storage, study_name):
    """The :class:`SearchResult` of a study in ``storage`` (finished or not)."""
    store = OptunaStore(storage_spec(storage), study_name)
    store.storage = open_storage(store.spec)
    study_id = store.storage.get_study_id_from_name(study_name)
    store.study_id = study_id
    attrs = store.storage.get_study_user_attrs(study_id)
    store.config = attrs.get(S_CONFIG) or {"n_trials": 0, "round": 1}
    recs = store.records()
    return SearchResult(recs, rounds=[{"round": store.config.get("round", 1),
                                       "space": store.config.get("space", []),
                                       "n_trials": store.config.get("n_trials"),
                                       "best_value": None, "best_params": None}],
                        info={"study_name": study_name, "seed": store.config.get("seed")})
