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
"""
import contextlib
import hashlib
import multiprocessing
import os
import pickle
import secrets
import shutil
import socket
import tempfile
import threading
import time
import traceback
import warnings

import numpy as np

from ._pruners import make_pruner
from ._result import SearchResult, TrialRecord
from ._space import check_space, sample_space, space_to_spec
from ._trial import Trial, clean_value, is_pruned_exception, optuna_or_none

__all__ = ["random_search", "storage_spec", "check_storage", "load_result"]

A_SLOT = "fastnn:slot"
A_SEED = "fastnn:seed"
A_ROUND = "fastnn:round"
A_OWNER = "fastnn:owner"         # {"host", "pid", "pstart", "worker"}: who runs the trial
A_BEAT = "fastnn:beat"
A_DISCARD = "fastnn:discarded"     # 'stale' | 'duplicate': a FAIL that does not count
A_ERROR = "fastnn:error"
S_CONFIG = "fastnn:config"
S_READY = "fastnn:ready"

SAMPLERS = ("random", "tpe")


class SearchError(RuntimeError):
    """A worker of a parallel search failed."""


# -- identity of this process, to recognise dead workers on this machine --------------------
def _read(path):
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _host_id():
    boot = _read("/proc/sys/kernel/random/boot_id")[:8]
    try:
        ns = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        ns = ""
    return "%s|%s|%s" % (socket.gethostname(), boot, ns)


def _proc_start(pid):
    """The start time of process ``pid`` (clock ticks after boot), '' when unknown, None when
    there is no such process."""
    stat = _read("/proc/%d/stat" % pid)
    if stat:
        try:
            fields = stat.rsplit(")", 1)[1].split()
        except IndexError:
            return ""
        if fields and fields[0] in ("Z", "X"):   # a zombie: dead, not yet reaped
            return None
        return fields[19] if len(fields) > 19 else ""
    if os.path.isdir("/proc/self"):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass
    return ""


def _pid_alive(pid, start):
    now = _proc_start(pid)
    if now is None:
        return False
    return not (start and now and now != start)


def _derive(*ints):
    """A 32-bit seed from integers (NumPy's SeedSequence)."""
    return int(np.random.SeedSequence([int(i) & 0xFFFFFFFF for i in ints]).generate_state(1)[0])


def _slot_seed(seed, round_index, slot):
    return _derive(seed, round_index, slot, 0x5EED)


def _params_seed(seed, round_index):
    return int(seed) if round_index == 1 else _derive(seed, round_index, 0x9A4A)


def make_slots(config, space):
    """(params, seed) for every slot of a search described by ``config``."""
    n, seed, r = config["n_trials"], config["seed"], config["round"]
    drawn = sample_space(space, n, _params_seed(seed, r))
    if config["sampler"] == "tpe":
        k = config["tpe_startup"]
        drawn = drawn[:k] + [{} for _ in range(n - k)] if n > k else drawn
    return [(p, _slot_seed(seed, r, i)) for i, p in enumerate(drawn)]


# -- storages ---------------------------------------------------------------------------------
_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "oracle", "mssql", "mariadb")


def _importable(module):
    import importlib.util
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _postgres_driver(url):
    """'postgres://' is SQLAlchemy's 'postgresql://', whose default driver is psycopg (3) in
    SQLAlchemy 2.1 and psycopg2 before: a plain URL uses psycopg2 when only it is installed
    (the ``[postgres]`` extra's psycopg2-binary)."""
    scheme, rest = url.split("://", 1)
    if scheme.lower() == "postgres":
        scheme = "postgresql"
    if scheme.lower() == "postgresql" and not _importable("psycopg") and _importable("psycopg2"):
        scheme = "postgresql+psycopg2"
    return scheme + "://" + rest


def storage_spec(storage):
    """Normalise ``storage``: None (in memory), an Optuna storage object, an RDB URL
    ('sqlite:///x.db', 'postgresql+psycopg2://...'; a plain 'postgresql://' uses whichever
    of psycopg and psycopg2 is installed), or a journal file ('journal:PATH', or a plain
    path; '.db'/'.sqlite' paths become SQLite URLs)."""
    if storage is None or not isinstance(storage, (str, os.PathLike)):
        return storage
    s = os.fspath(storage)
    if "://" in s:
        scheme = s.split("://", 1)[0].split("+", 1)[0].lower()
        if scheme in ("postgresql", "postgres"):
            return _postgres_driver(s)
        if scheme in _RDB_SCHEMES:
            return s
        if scheme in ("journal", "file"):
            path = s.split("://", 1)[1]
            return "journal:" + (os.path.abspath(path) if path else "")
        raise ValueError("storage URL scheme %r is not supported; use a journal file path, "
                         "sqlite:///PATH, postgresql://... or mysql://..." % scheme)
    if s.startswith("journal:"):
        path = s[len("journal:"):]
        return "journal:" + (os.path.abspath(path) if path else "")
    if s.endswith((".db", ".sqlite", ".sqlite3")):
        return "sqlite:///" + os.path.abspath(s)
    return "journal:" + os.path.abspath(s)


def display_storage(spec):
    """``spec`` as text for messages, with any password in a URL hidden."""
    if not isinstance(spec, str) or "://" not in spec or "@" not in spec:
        return spec if isinstance(spec, str) or spec is None else repr(spec)
    try:
        from sqlalchemy.engine.url import make_url
        return make_url(spec).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL: hide everything before the host
        scheme, rest = spec.split("://", 1)
        return "%s://***@%s" % (scheme, rest.rsplit("@", 1)[1])


_DRIVER_HINTS = {"postgresql": "pip install 'fastnn-scratch[postgres]' (psycopg2-binary) "
                               "and write postgresql+psycopg2:// or postgresql://",
                 "mysql": "pip install mysqlclient, or use mysql+pymysql:// with PyMySQL",
                 "mariadb": "pip install mysqlclient, or use mariadb+pymysql:// with PyMySQL"}


def _check_rdb_url(spec, workers):
    shown = display_storage(spec)
    if spec.split("://", 1)[0].split("+", 1)[0].lower() == "sqlite":
        db = spec.split("://", 1)[1].lstrip("/")
        if db in ("", ":memory:") or "mode=memory" in spec:
            if workers > 1:
                raise ValueError("storage %r is an in-memory SQLite database, which %d worker "
                                 "processes cannot share: give a file (sqlite:///PATH) or a "
                                 "journal file" % (spec, workers))
            return
        _check_file_storage(spec.split("://", 1)[1][1:].split("?", 1)[0], "sqlite")
    try:
        from sqlalchemy.engine.url import make_url
    except ImportError:
        raise ImportError("storage %s needs SQLAlchemy: pip install 'fastnn-scratch[search]'"
                          % shown) from None
    try:
        url = make_url(spec)
        dialect = url.get_dialect()
    except Exception as exc:  # noqa: BLE001 - ArgumentError, NoSuchModuleError, ValueError
        raise ValueError("storage %s is not a database URL SQLAlchemy can use: %s"
                         % (shown, str(exc).splitlines()[0] if str(exc) else
                            type(exc).__name__)) from None
    load = getattr(dialect, "import_dbapi", None) or getattr(dialect, "dbapi")
    try:
        load()
    except ImportError as exc:
        name = exc.name or str(exc)
        hint = _DRIVER_HINTS.get(url.get_backend_name(), "install the driver %s" % name)
        raise ImportError("storage %s needs the database driver %s, which is not installed: %s"
                          % (shown, name, hint)) from None


def _check_file_storage(path, kind):
    """A journal or SQLite file: its folder can be made, and if it exists it is one."""
    if not path:
        raise ValueError("storage %r names no file: give journal:PATH, a file path or "
                         "sqlite:///PATH" % ("journal:" if kind == "journal" else "sqlite:///"))
    path = os.path.abspath(path)
    if os.path.isdir(path):
        raise ValueError("storage %s is a directory: give a file in it, e.g. %s"
                         % (path, os.path.join(path, "study.journal" if kind == "journal"
                                               else "study.db")))
    parent = os.path.dirname(path)
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)    # the nearest existing ancestor
    if not os.path.isdir(parent):
        raise ValueError("storage %s: %s is a file, not a folder" % (path, parent))
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if kind == "sqlite":
        if not head.startswith(b"SQLite format 3\0"):
            raise ValueError("storage %s is not an SQLite database" % path)
        return
    import json
    try:
        first = json.loads(head.split(b"\n", 1)[0])
    except ValueError:
        first = None
    if not (isinstance(first, dict) and "op_code" in first):
        raise ValueError("storage %s is not an Optuna journal file (its first line is not a "
                         "journal record); give a new file name, or sqlite:///PATH for an "
                         "SQLite database" % path)


def check_storage(spec, workers=1):
    """Refuse, with one clear line, a storage the search cannot use (before any work starts):
    an in-memory SQLite database for several workers, a journal path that is empty, a folder
    or a file of another kind, a database URL whose driver is not installed.  ``spec`` is
    :func:`storage_spec`'s result.  ValueError, or ImportError for a missing driver."""
    if not isinstance(spec, str):
        return spec
    if spec.startswith("journal:"):
        _check_file_storage(spec[len("journal:"):], "journal")
    else:
        _check_rdb_url(spec, workers)
    return spec


def _journal_backend_cls(optuna):
    try:
        from optuna.storages.journal import JournalFileBackend
        return JournalFileBackend
    except ImportError:  # Optuna 3.x
        return optuna.storages.JournalFileStorage


class _FlockLock:
    """A lock for Optuna's journal file held with ``flock``: the kernel releases it when its
    process dies, so a killed worker never leaves the file locked.  (Optuna's default lock
    files are only broken after a 30-second grace period.)"""

    def __init__(self, path):
        self._path = path + ".flock"
        self._fd = None
        self._thread_lock = threading.Lock()

    def acquire(self):
        import fcntl
        self._thread_lock.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        return True

    def release(self):
        import fcntl
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def __getstate__(self):
        return {"_path": self._path}

    def __setstate__(self, d):
        self.__init__(d["_path"][:-len(".flock")])


def _journal_lock(path):
    try:
        import fcntl
        del fcntl     # POSIX only
    except ImportError:   # pragma: no cover - Windows: Optuna's own lock
        return None
    return _FlockLock(path)


def open_storage(spec):
    optuna = optuna_or_none()
    if spec is None:
        return optuna.storages.InMemoryStorage()
    if not isinstance(spec, str):
        return spec
    if spec.startswith("journal:"):
        path = spec[len("journal:"):]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        lock = _journal_lock(path)
        backend_cls = _journal_backend_cls(optuna)
        backend = backend_cls(path) if lock is None else backend_cls(path, lock_obj=lock)
        return optuna.storages.JournalStorage(backend)
    if spec.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(spec[len("sqlite:///"):]) or ".", exist_ok=True)
    # Processes that open a fresh database at the same moment race to create Optuna's
    # tables (e.g. PostgreSQL's "duplicate key ... studydirection"): the loser retries and
    # finds them made.
    for attempt in range(8):
        try:
            return optuna.storages.get_storage(spec)
        except Exception as exc:  # noqa: BLE001 - only schema-creation races are retried
            if type(exc).__module__.split(".")[0] != "sqlalchemy":
                raise
            if attempt == 7:
                lines = [ln.strip() for ln in str(getattr(exc, "orig", None) or exc).splitlines()
                         if ln.strip()]
                raise SearchError("cannot open storage %s: %s" % (
                    display_storage(spec), lines[0] if lines else type(exc).__name__)) from exc
            time.sleep(0.2 + 0.3 * np.random.random_sample())


def _quiet_optuna(optuna):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with contextlib.suppress(Exception):
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


# -- the Optuna-backed store ----------------------------------------------------------------
class _Handle:
    def __init__(self, trial_id, number, slot, seed, params, optuna_trial):
        self.trial_id = trial_id
        self.number = number
        self.slot = slot
        self.seed = seed
        self.params = params
        self.optuna_trial = optuna_trial
        self.beat = None


class _Heartbeat(threading.Thread):
    def __init__(self, storage, trial_id, interval):
        super().__init__(daemon=True)
        self._storage = storage
        self._trial_id = trial_id
        self._interval = interval
        self._stop_event = threading.Event()

    def run(self):
        n = 0
        while not self._stop_event.wait(self._interval):
            n += 1
            try:
                self._storage.set_trial_user_attr(self._trial_id, A_BEAT, n)
            except Exception:   # the trial was finished (or taken over): stop beating
                return

    def stop(self):
        self._stop_event.set()
        self.join()


class OptunaStore:
    """Slots of one Optuna study in any storage Optuna accepts."""

    uses_optuna = True

    def __init__(self, spec, study_name, *, sampler="random", pruner="median", pruner_options=None,
                 heartbeat_interval=10.0, grace_period=60.0, ownerless_grace=10.0,
                 ready_timeout=120.0):
        self.optuna = optuna_or_none()
        _quiet_optuna(self.optuna)
        self.spec = spec
        self.study_name = study_name
        self.sampler_name = sampler
        self.pruner_spec = pruner
        self.pruner_options = dict(pruner_options or {})
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.ownerless_grace = ownerless_grace
        self.ready_timeout = ready_timeout
        self.storage = None
        self.study = None
        self.config = None
        self.host = _host_id()
        self.pid = os.getpid()
        self.pstart = _proc_start(self.pid) or ""
        self.worker = "%s:%d" % (socket.gethostname(), self.pid)
        self._watch = {}

    @property
    def owner(self):
        return {"host": self.host, "pid": self.pid, "pstart": self.pstart,
                "worker": self.worker}

    def __getstate__(self):   # sent to worker processes: they reopen the storage
        d = dict(self.__dict__)
        for k in ("optuna", "storage", "study", "_watch", "_missing", "pid", "pstart", "worker"):
            d.pop(k, None)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self.optuna = optuna_or_none()
        _quiet_optuna(self.optuna)
        self.storage = None
        self.study = None
        self.pid = os.getpid()
        self.pstart = _proc_start(self.pid) or ""
        self.worker = "%s:%d" % (socket.gethostname(), self.pid)
        self._watch = {}

    # -- study creation / joining -------------------------------------------------------------
    def _make_sampler(self):
        optuna = self.optuna
        seed = self.config["seed"] if self.config else 0
        # Workers sharing a study must not share a random stream (they would propose the
        # same points); one process alone on an in-memory study stays reproducible.
        salt = 0 if self.spec is None else int(hashlib.sha1(
            ("%s|%d|%r" % (self.host, self.pid, time.time())).encode()).hexdigest()[:8], 16)
        if self.sampler_name == "tpe":
            return optuna.samplers.TPESampler(seed=_derive(seed, salt),
                                              n_startup_trials=self.config["tpe_startup"],
                                              constant_liar=True)
        return optuna.samplers.RandomSampler(seed=_derive(seed, salt))

    def _pruner(self):
        p = make_pruner(self.pruner_spec, use_optuna=True, **self.pruner_options)
        # Optuna reads pruner=None as "the default MedianPruner".
        return self.optuna.pruners.NopPruner() if p is None else p

    def open(self):
        """Open the storage and load the (already set up) study in this process."""
        if self.storage is None:
            self.storage = open_storage(self.spec)
        if self.study is None:
            self.study = self.optuna.load_study(study_name=self.study_name, storage=self.storage,
                                                sampler=self._make_sampler(),
                                                pruner=self._pruner())
            self.study_id = self.storage.get_study_id_from_name(self.study_name)
        return self

    def setup(self, config, space):
        """Create the study and its slots, or join an existing one; returns the study's config."""
        optuna = self.optuna
        self.storage = open_storage(self.spec)
        if self.study_name is None:
            self.study_name = "fastnn-search" if self.spec is not None else \
                "fastnn-search-%s" % secrets.token_hex(4)
        try:
            study = optuna.create_study(storage=self.storage, study_name=self.study_name,
                                        direction="maximize")
            created = True
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(study_name=self.study_name, storage=self.storage)
            created = False
        study_id = self.storage.get_study_id_from_name(self.study_name)
        if created:
            if config["seed"] is None:
                config = dict(config, seed=secrets.randbits(31))
            self.storage.set_study_user_attr(study_id, S_CONFIG, config)
            self.config = config
            self._enqueue(study, range(config["n_trials"]), space)
            self.storage.set_study_user_attr(study_id, S_READY, True)
        else:
            self.config = self._join(study, study_id, config, space)
        self.study = None
        self.open()
        self.study_id = study_id
        return self.config

    def _join(self, study, study_id, config, space):
        deadline = time.monotonic() + self.ready_timeout
        while True:
            attrs = self.storage.get_study_user_attrs(study_id)
            if attrs.get(S_READY) or S_CONFIG in attrs and time.monotonic() > deadline:
                break
            if time.monotonic() > deadline:
                raise SearchError("study %r exists but was never set up by fastnn (no %s after "
                                  "%.0fs); use another study name" % (self.study_name, S_CONFIG,
                                                                      self.ready_timeout))
            time.sleep(0.2)
        stored = attrs[S_CONFIG]
        for key in ("n_trials", "sampler", "space", "round", "tpe_startup"):
            if stored.get(key) != config.get(key):
                raise ValueError(
                    "study %r in this storage was set up with %s=%r, not %r: resume it with the "
                    "same settings or choose another study name"
                    % (self.study_name, key, stored.get(key), config.get(key)))
        if config.get("seed") is not None and stored.get("seed") != config["seed"]:
            raise ValueError("study %r was set up with seed=%r, not %r: resume it with the same "
                             "seed (or seed=None) or choose another study name"
                             % (self.study_name, stored.get("seed"), config["seed"]))
        if not attrs.get(S_READY):
            # Its creator died while enqueueing the slots: finish the job.
            self.config = stored
            self.study = study
            self.study_id = study_id
            self._repair(space, settle=0.0)
            self.storage.set_study_user_attr(study_id, S_READY, True)
        return stored

    def _enqueue(self, study, slots, space, params_override=None):
        optuna = self.optuna
        all_slots = make_slots(self.config, space)
        trials = []
        for i in slots:
            params, seed = all_slots[i]
            if params_override and i in params_override:
                params = params_override[i]
            trials.append(optuna.trial.create_trial(
                state=optuna.trial.TrialState.WAITING,
                system_attrs={"fixed_params": params},
                user_attrs={A_SLOT: i, A_SEED: seed, A_ROUND: self.config["round"]}))
        study.add_trials(trials)

    # -- views of the study -----------------------------------------------------------------
    def _all(self):
        return self.storage.get_all_trials(self.study_id, deepcopy=False)

    def _counts(self, ft):
        """Whether a finished trial settles its slot."""
        TS = self.optuna.trial.TrialState
        if ft.state in (TS.COMPLETE, TS.PRUNED):
            return True
        return ft.state == TS.FAIL and A_DISCARD not in ft.user_attrs

    def _by_slot(self, trials):
        slots = {}
        for ft in trials:
            if A_SLOT in ft.user_attrs:
                slots.setdefault(ft.user_attrs[A_SLOT], []).append(ft)
        return slots

    def status(self):
        """(slots settled, slots in all)."""
        slots = self._by_slot(self._all())
        done = sum(1 for fts in slots.values() if any(self._counts(f) for f in fts))
        return done, self.config["n_trials"]

    # -- claiming and running -------------------------------------------------------------
    def claim(self):
        optuna = self.optuna
        TS = optuna.trial.TrialState
        waiting = self.storage.get_all_trials(self.study_id, deepcopy=False, states=(TS.WAITING,))
        for ft in sorted(waiting, key=lambda f: f.number):
            tid = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, ft.number)
            try:
                if not self.storage.set_trial_state_values(tid, TS.RUNNING):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
            try:    # one write, right after the claim: whose trial it is
                self.storage.set_trial_user_attr(tid, A_OWNER, self.owner)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue   # taken for an ownerless stale trial meanwhile (see check_stale)
            slot = ft.user_attrs.get(A_SLOT)
            if slot is None or self._is_duplicate(slot, ft.number):
                self.storage.set_trial_user_attr(tid, A_DISCARD, "duplicate")
                self.storage.set_trial_state_values(tid, TS.FAIL)
                continue
            trial = optuna.trial.Trial(self.study, tid)
            h = _Handle(tid, ft.number, slot, ft.user_attrs.get(A_SEED), {}, trial)
            if self.heartbeat_interval:
                h.beat = _Heartbeat(self.storage, tid, self.heartbeat_interval)
                h.beat.start()
            return h
        return None

    def _is_duplicate(self, slot, number):
        TS = self.optuna.trial.TrialState
        for ft in self._by_slot(self._all()).get(slot, []):
            if ft.number == number:
                continue
            # Two copies of a slot exist only after a crash during a requeue; whichever is
            # claimed second steps back (if both are claimed at once both do, and the slot is
            # requeued once more) -- a slot never runs twice.
            if self._counts(ft) or ft.state == TS.RUNNING:
                return True
        return False

    def suggest(self, h, space):
        h.params = {name: dist.suggest(h.optuna_trial, name) for name, dist in space.items()}
        return h.params

    def report(self, h, value, step):
        h.optuna_trial.report(value, step)

    def should_prune(self, h):
        return h.optuna_trial.should_prune()

    def set_user_attr(self, h, key, value):
        h.optuna_trial.set_user_attr(key, value)

    def finish(self, h, state, value=None, error=None):
        TS = self.optuna.trial.TrialState
        if h.beat is not None:
            h.beat.stop()
        try:
            if error is not None:
                self.storage.set_trial_user_attr(h.trial_id, A_ERROR, error[-2000:])
            if state == "complete":
                self.study.tell(h.optuna_trial, value)
            elif state == "pruned":
                self.study.tell(h.optuna_trial, state=TS.PRUNED)
            else:
                self.study.tell(h.optuna_trial, state=TS.FAIL)
        except self.optuna.exceptions.UpdateFinishedTrialError:
            # Another worker took this trial for dead (no heartbeat for grace_period) and
            # requeued its slot: that copy's result is the one that counts.
            warnings.warn("trial %d was taken over by another worker while it ran; its result "
                          "is discarded" % h.number, RuntimeWarning)

    # -- dead workers -------------------------------------------------------------------------
    def check_stale(self, space):
        """Fail the RUNNING trials of dead workers and enqueue their slots again."""
        optuna = self.optuna
        TS = optuna.trial.TrialState
        now = time.monotonic()
        running = self.storage.get_all_trials(self.study_id, deepcopy=False,
                                              states=(TS.RUNNING,))
        live = set()
        for ft in running:
            live.add(ft.number)
            owner = ft.user_attrs.get(A_OWNER) or {}
            if owner.get("host") == self.host and "pid" in owner:
                # On this machine the OS knows: a live process is running it, a dead one not.
                if owner["pid"] == self.pid and owner.get("pstart", "") == self.pstart:
                    continue
                stale = not _pid_alive(int(owner["pid"]), owner.get("pstart", ""))
            else:
                # Another machine's trial goes stale when its heartbeat stops changing for
                # grace_period (as seen by this worker's clock); a trial whose claimant died
                # before saying who it is, after a shorter wait.
                key = (owner.get("worker"), ft.user_attrs.get(A_BEAT))
                seen = self._watch.get(ft.number)
                if seen is None or seen[0] != key:
                    self._watch[ft.number] = (key, now)
                    continue
                wait = self.grace_period if owner else min(self.grace_period,
                                                           self.ownerless_grace)
                stale = now - seen[1] > wait
            if stale:
                self._requeue(ft, space)
        for n in list(self._watch):
            if n not in live:
                del self._watch[n]
        self._repair(space)

    def _requeue(self, ft, space):
        optuna = self.optuna
        TS = optuna.trial.TrialState
        tid = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, ft.number)
        try:
            self.storage.set_trial_user_attr(tid, A_DISCARD, "stale")
            self.storage.set_trial_state_values(tid, TS.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            return False      # it finished meanwhile, or another worker requeued it
        slot = ft.user_attrs.get(A_SLOT)
        if slot is not None:
            params = dict(ft.params) or dict(ft.system_attrs.get("fixed_params") or {})
            self._enqueue(self.study, [slot], space, {slot: params} if params else None)
        return True

    def abandon(self, h, space):
        """Give back a trial this process will not finish (interrupted): its slot is queued
        again, so an interrupted search loses nothing when it is resumed."""
        if h.beat is not None:
            h.beat.stop()
        ft = self.storage.get_trial(h.trial_id)
        self._requeue(ft, space)

    def _repair(self, space, settle=2.0):
        """Enqueue slots that have no trial waiting, running or settled (a worker died between
        failing a stale trial and requeueing it, or the creator died while enqueueing) once
        this worker has seen them so for ``settle`` seconds (a requeue in progress elsewhere
        takes milliseconds)."""
        TS = self.optuna.trial.TrialState
        slots = self._by_slot(self._all())
        now = time.monotonic()
        missing_now = [i for i in range(self.config["n_trials"])
                       if not any(self._counts(f) or f.state in (TS.WAITING, TS.RUNNING)
                                  for f in slots.get(i, []))]
        seen = getattr(self, "_missing", {})
        self._missing = {i: seen.get(i, now) for i in missing_now}
        missing = [i for i in missing_now if now - self._missing[i] >= settle]
        if missing:
            for i in missing:
                del self._missing[i]
            override = {}
            for i in missing:
                prev = [f for f in slots.get(i, []) if f.params]
                if prev:
                    override[i] = dict(prev[-1].params)
            self._enqueue(self.study, missing, space, override)

    # -- results ------------------------------------------------------------------------------
    def records(self):
        TS = self.optuna.trial.TrialState
        out = []
        for slot, fts in sorted(self._by_slot(self._all()).items()):
            settled = [f for f in fts if self._counts(f)]
            if not settled:
                continue
            pref = {TS.COMPLETE: 0, TS.PRUNED: 1, TS.FAIL: 2}
            ft = sorted(settled, key=lambda f: (pref[f.state], f.number))[0]
            state = {TS.COMPLETE: "complete", TS.PRUNED: "pruned", TS.FAIL: "failed"}[ft.state]
            steps = sorted(ft.intermediate_values)
            duration = None
            if ft.datetime_start and ft.datetime_complete:
                duration = (ft.datetime_complete - ft.datetime_start).total_seconds()
            value = ft.value
            if value is None and steps:
                value = ft.intermediate_values[steps[-1]]
            out.append(TrialRecord(
                slot, ft.params, value, [ft.intermediate_values[s] for s in steps], state,
                steps=steps, round_index=ft.user_attrs.get(A_ROUND, 1), duration=duration,
                worker=(ft.user_attrs.get(A_OWNER) or {}).get("worker"),
                user_attrs={k: v for k, v in ft.user_attrs.items() if not k.startswith("fastnn:")},
                error=ft.user_attrs.get(A_ERROR), seed=ft.user_attrs.get(A_SEED),
                study_trial=ft.number))
        return out

    def discarded(self):
        """Study trials that do not count: (number, reason)."""
        return [(f.number, f.user_attrs[A_DISCARD]) for f in self._all()
                if A_DISCARD in f.user_attrs]


# -- the store without Optuna -----------------------------------------------------------------
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


# -- the worker loop --------------------------------------------------------------------------
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
                          % h.number, RuntimeWarning)
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
            _run_parallel(store, objective, space, workers, catch, poll,
                          1 if threads is None else threads, watcher)
        watcher()
        records = store.records()
        wall = time.perf_counter() - start
        info = {"seed": config["seed"], "sampler": sampler,
                "pruner": pruner if isinstance(pruner, (str, type(None))) else repr(pruner),
                "workers": workers, "n_trials": config["n_trials"], "wall_time_s": wall,
                "study_name": store.study_name,
                "storage": spec if isinstance(spec, (str, type(None))) and tmpdir is None
                else None,
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


class _ThreadLimit:
    """Limit BLAS/OpenMP threads to ``threads`` in this process, for the libraries loaded now
    and -- through :meth:`reapply`, called before every trial -- for those loaded later (SciPy's
    OpenBLAS and the kernels' OpenMP runtime load when the first network is built; a limit
    set before that misses them, and two workers then run 2 x 2 threads on 2 cores)."""

    def __init__(self, threads):
        self.threads = threads
        self._limits = []

    def __enter__(self):
        if self.threads:
            for mod in ("scipy.linalg", "fastnn.layers"):
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


def _run_parallel(store, objective, space, workers, catch, poll, threads, watcher):
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
                          RuntimeWarning)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join()


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


