"""Running trials: the worker loop, and worker processes on this machine.

``run_worker`` claims and runs trials from a store until every slot is
settled; ``run_parallel`` starts ``workers`` such loops as 'spawn' processes,
each limited to ``threads`` threads (BLAS and fastnn's pool), and watches them.
"""
import contextlib
import multiprocessing
import os
import pickle
import time
import traceback
import warnings

from ._slots import SearchError
from ._trial import Trial, clean_value, is_pruned_exception


def run_one(store, objective, space, h, catch, round_index):
    params = store.suggest(h, space)
    trial = Trial(h.slot, params, h.seed, round_index, store, h)
    try:
        value = clean_value(objective(dict(params), trial))
    except Exception as exc:  # noqa: BLE001 - sorted below
        if is_pruned_exception(exc):
            store.finish(h, "pruned")
            return "pruned"
        if type(exc).__name__ == "UpdateFinishedTrialError":
            # Taken for dead by another worker, which requeued its slot (see check_stale).
            if getattr(h, "beat", None) is not None:
                h.beat.stop()
            warnings.warn("trial %d was taken over by another worker while it ran"
                          % h.number, RuntimeWarning, stacklevel=2)
            return "lost"
        store.finish(h, "failed", error="".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__)))
        if catch and isinstance(exc, tuple(catch)):
            return "failed"
        raise
    except BaseException:
        # KeyboardInterrupt / SystemExit: the slot goes back to the queue, so a resumed
        # search runs it (a killed process's trial is found stale instead).
        with contextlib.suppress(Exception):
            store.abandon(h, space)
        raise
    if trial.pruned:
        # should_prune() said so and the objective returned instead of raising.
        store.finish(h, "pruned")
        return "pruned"
    store.finish(h, "complete", value)
    return "complete"


def run_worker(store, objective, space, *, catch=(), poll=0.5, on_trial=None, before_trial=None):
    """Claim and run trials until every slot of the study is settled."""
    round_index = store.config["round"]
    store.check_stale(space)
    while True:
        h = store.claim()
        if h is None:
            done, total = store.status()
            if done >= total:
                return
            store.check_stale(space)
            time.sleep(poll)
            continue
        if before_trial is not None:
            before_trial()
        run_one(store, objective, space, h, catch, round_index)
        if on_trial is not None:
            on_trial()


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _worker_main(payload):
    """Entry point of a worker process (multiprocessing 'spawn')."""
    job = pickle.loads(payload)
    store = job["store"]
    store.open()
    with _ThreadLimit(job["threads"]) as limit:
        run_worker(store, job["objective"], job["space"], catch=job["catch"], poll=job["poll"],
                   before_trial=limit.reapply if job["threads"] else None)


@contextlib.contextmanager
def _env(values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _Watcher:
    """Calls ``progress(new, finished, total)`` for trials that finished since the last call."""

    def __init__(self, store, progress):
        self.store = store
        self.progress = progress
        self.seen = set()

    def __call__(self):
        if self.progress is None:
            return
        recs = self.store.records()
        new = [r for r in recs if (r.slot, r.study_trial) not in self.seen]
        if new:
            self.seen.update((r.slot, r.study_trial) for r in new)
            self.progress(new, recs, self.store.config["n_trials"])


def _default_workers():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


class _ThreadLimit:
    """Limit BLAS threads and fastnn's pool to ``threads`` in this process, for the libraries
    loaded now and -- through :meth:`reapply`, called before every trial -- for those loaded
    later (a limit set before a library loads misses it, and two workers then run 2 x 2
    threads on 2 cores)."""

    def __init__(self, threads):
        self.threads = threads
        self._limits = []

    def __enter__(self):
        if self.threads:
            for mod in ("fastnn.layers",):     # fastnn's pool and its BLAS (no SciPy)
                with contextlib.suppress(Exception):
                    __import__(mod)
            self.reapply()
        return self

    def reapply(self):
        if self.threads:
            from threadpoolctl import threadpool_limits
            self._limits.append(threadpool_limits(self.threads))

    def __exit__(self, *exc):
        for lim in reversed(self._limits):
            with contextlib.suppress(Exception):
                lim.restore_original_limits()
        self._limits = []
        return False


def run_parallel(store, objective, space, workers, catch, poll, threads, watcher):
    job = {"store": store, "objective": objective, "space": space, "catch": catch,
           "poll": poll, "threads": threads}
    try:
        payload = pickle.dumps(job)
    except Exception as exc:
        raise TypeError("with workers > 1 the objective must be picklable (a module-level "
                        "function or an object of a module-level class): %s" % exc) from None
    ctx = multiprocessing.get_context("spawn")
    procs = []
    try:
        with _env({k: str(threads) for k in _THREAD_VARS}):
            for _ in range(workers):
                p = ctx.Process(target=_worker_main, args=(payload,))
                p.start()
                procs.append(p)
        while any(p.is_alive() for p in procs):
            watcher()
            for p in procs:
                p.join(timeout=poll / len(procs))
        failed = [p for p in procs if p.exitcode != 0]
        done, total = store.status()
        if done < total:
            hint = ""
            if done == 0:
                hint = (" (their errors are printed above; workers are started with 'spawn', "
                        "so a script that starts a parallel search needs the "
                        "`if __name__ == '__main__':` guard)")
            raise SearchError("%d of %d worker processes failed (exit codes %s)%s; %d of %d "
                              "trials settled -- run the search again with the same storage and "
                              "study name to resume" % (len(failed), len(procs),
                                                        [p.exitcode for p in failed], hint,
                                                        done, total))
        raised = [p for p in failed if p.exitcode > 0]
        if raised:
            # An objective raised an exception that ``catch`` does not cover.
            errors = [r.error for r in store.records() if r.error]
            raise SearchError("a worker process failed (exit codes %s)%s"
                              % ([p.exitcode for p in raised],
                                 ":\n" + errors[-1] if errors else ""))
        if failed:
            # Killed by a signal; the others reran its trial.
            warnings.warn("%d worker process(es) were killed (exit codes %s); their trials were "
                          "run again by the others" % (len(failed), [p.exitcode for p in failed]),
                          RuntimeWarning, stacklevel=2)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join()
