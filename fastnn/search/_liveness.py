"""Is a worker alive?  This process's identity, other processes' liveness, and a lock that
dies with its holder.

A trial records who runs it (host, pid and the process's start time, so a
recycled pid is not taken for the original); on the same machine the OS then
says at once whether that worker is gone (see ``OptunaStore.check_stale``).
On other machines only time tells: a running trial's heartbeat stops
changing.  The journal file's lock is an ``flock``, which the kernel drops
when its holder dies.
"""
import os
import socket
import threading

from ._slots import A_BEAT


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


class _Heartbeat(threading.Thread):
    """Writes a counter into a running trial every ``interval`` seconds: workers on other
    machines take the trial for dead when it stops changing."""

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
