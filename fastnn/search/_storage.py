"""Where a study lives: storage URLs and paths, their checks, and opening them.

``storage_spec`` normalises what a user writes (a journal file path,
``sqlite:///PATH``, ``postgresql://...``); ``check_storage`` refuses, with
one line, a storage that cannot work before any work starts;
``open_storage`` opens it as an Optuna storage (the journal file with the
``flock`` lock of ``_liveness``).
"""
import contextlib
import os
import time
import warnings

import numpy as np

from ._liveness import _journal_lock
from ._slots import SearchError
from ._trial import optuna_or_none

__all__ = ["storage_spec", "check_storage", "display_storage", "open_storage"]

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
    if scheme.split("+", 1)[0].lower() == "postgres":
        scheme = "postgresql" + scheme[len("postgres"):]
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
    load = getattr(dialect, "import_dbapi", None) or dialect.dbapi
    try:
        load()
    except ImportError as exc:
        name = exc.name or str(exc)
        hint = _DRIVER_HINTS.get(url.get_backend_name(), "install the driver %s" % name)
        raise ImportError("storage %s needs the database driver %s, which is not installed: %s"
                          % (shown, name, hint)) from None


def file_in_the_way(folder):
    """The file that stops ``folder`` from being made (itself or its nearest existing
    ancestor), or None."""
    folder = os.path.abspath(folder)
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return None if os.path.isdir(folder) else folder


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
    parent = file_in_the_way(os.path.dirname(path))
    if parent is not None:
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
