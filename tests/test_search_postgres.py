"""Two processes share one search through a real PostgreSQL server.

The fixture starts a throwaway cluster (Debian's ``postgresql`` package:
``initdb``/``pg_ctl`` from ``/usr/lib/postgresql/*/bin``) in a temporary
folder, listening only on 127.0.0.1 on a free port with trust
authentication, as the ``postgres`` user when the tests run as root.  If
anything is missing or the server does not start, the test is skipped and
says why; nothing is faked.
"""
import collections
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap

import pytest

import fastnn

optuna = pytest.importorskip("optuna")

pytestmark = pytest.mark.e2e       # a PostgreSQL server and fastnn search processes

# subprocesses import the same fastnn as the tests (the source tree or the installed one)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: [int(x) if x.isdigit() else 0 for x in p.split("/")[4].split(".")])
    return os.path.dirname(found[-1]) if found else None


@pytest.fixture(scope="module")
def postgres_url():
    try:
        import psycopg2
    except ImportError:
        pytest.skip("psycopg2 is not installed (pip install psycopg2-binary)")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin "
                    "(apt-get install postgresql)")
    as_user = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root and runuser is missing: cannot start postgres as "
                        "an unprivileged user")
        try:
            import pwd
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        as_user = [runuser, "-u", "postgres", "--"]
    base = tempfile.mkdtemp(prefix="fastnn-pg-")
    data = os.path.join(base, "data")
    log = os.path.join(base, "server.log")
    if as_user:
        os.chown(base, pw.pw_uid, pw.pw_gid)
    port = _free_port()

    def run(cmd, **kw):
        return subprocess.run(as_user + cmd, capture_output=True, text=True, timeout=120,
                              cwd=base, **kw)
    started = False
    try:
        r = run([os.path.join(bindir, "initdb"), "-D", data, "-A", "trust", "-U", "fastnn",
                 "-E", "UTF8", "--no-sync"])
        if r.returncode != 0:
            pytest.skip("initdb failed: %s" % (r.stderr or r.stdout)[-800:])
        opts = "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off" % (port, base)
        r = run([os.path.join(bindir, "pg_ctl"), "-D", data, "-l", log, "-o", opts, "-w",
                 "-t", "60", "start"])
        if r.returncode != 0:
            tail = open(log).read()[-800:] if os.path.exists(log) else ""
            pytest.skip("the PostgreSQL server did not start: %s %s"
                        % ((r.stderr or r.stdout)[-400:], tail))
        started = True
        try:
            conn = psycopg2.connect(host="127.0.0.1", port=port, user="fastnn",
                                    dbname="postgres", connect_timeout=10)
            conn.autocommit = True
            conn.cursor().execute("CREATE DATABASE search")
            conn.close()
        except Exception as exc:  # noqa: BLE001 - reported in the skip
            pytest.skip("cannot create a database on the test server: %s" % exc)
        yield "postgresql+psycopg2://fastnn@127.0.0.1:%d/search" % port
    finally:
        if started:
            run([os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


_JOIN = textwrap.dedent("""
    import sys
    from fastnn.search import random_search, loguniform
    from fastnn.search.synthetic import LogPeak
    if __name__ == "__main__":
        url, log, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
        space = {"lr": loguniform(1e-6, 1e-2), "weight_decay": loguniform(1e-8, 1e-4)}
        r = random_search(LogPeak(epochs=3, sleep=0.02, log_path=log), space, 16, seed=4,
                          workers=workers, storage=url, study_name="pg-shared", pruner="median")
        print("DONE", len(r.trials), sorted(t.slot for t in r.trials) == list(range(16)))
""")


def test_two_workers_share_a_study_through_postgresql(postgres_url, tmp_path):
    script = tmp_path / "join.py"
    script.write_text(_JOIN)
    log = str(tmp_path / "exec.log")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    # two independent processes (as on two machines) join one study by its URL
    procs = [subprocess.Popen([sys.executable, str(script), postgres_url, log, "1"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert out.strip() == "DONE 16 True"
    starts, ends = collections.Counter(), collections.Counter()
    pids = set()
    for line in open(log):
        parts = line.split()
        pids.add(parts[1])
        (ends if parts[-1] == "end" else starts)[int(parts[0])] += 1
    assert sorted(starts) == list(range(16)) and max(starts.values()) == 1   # none twice
    assert sorted(ends) == list(range(16)) and max(ends.values()) == 1       # none lost
    assert len(pids) == 2                                                    # both worked
    study = optuna.load_study(study_name="pg-shared", storage=postgres_url)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 16
    assert sorted(t.user_attrs["fastnn:slot"] for t in trials) == list(range(16))
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)


def test_two_fastnn_search_commands_join_one_study_through_postgresql(postgres_url, tmp_path):
    """The README's multi-machine recipe, as written: the same ``fastnn search`` command with
    a plain ``postgresql://`` URL, run twice at once in separate processes (as on two
    machines, each with its own output folder), runs every trial of every round once and
    gives both the whole result."""
    # (the server trusts 127.0.0.1, so the password is ignored there; it must not be shown)
    url = postgres_url.replace("postgresql+psycopg2://fastnn@", "postgresql://fastnn:secret@")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    # trials of about half a second each, so that both commands get some
    argv = [sys.executable, "-m", "fastnn", "search", "--dataset", "sample", "--train-size",
            "4000", "--epochs", "6", "--hidden", "100", "--trials", "16", "--rounds", "2",
            "--pruner", "none", "--workers", "1", "--no-plot", "--live", "lines", "--seed", "3",
            "--storage", url, "--study", "pg-cli"]
    procs = [subprocess.Popen(argv + ["--out", str(tmp_path / ("machine%d" % i))], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert "study 'pg-cli' in postgresql://fastnn:***@127.0.0.1" in out
        assert "secret" not in out + err
    results = [json.loads((tmp_path / ("machine%d" % i) / "results.json").read_text())
               for i in range(2)]
    for i, r in enumerate(results):
        assert "secret" not in (tmp_path / ("machine%d" % i) / "results.json").read_text()
        assert len(r["trials"]) == 16 and {t["state"] for t in r["trials"]} == {"complete"}
    # both machines report the same study, trial for trial
    key = [[(t["round"], t["slot"], t["value"], t["params"]) for t in r["trials"]]
           for r in results]
    assert key[0] == key[1]
    workers = set()
    for rnd in (1, 2):
        trials = optuna.load_study(study_name="pg-cli-round%d" % rnd,
                                   storage=postgres_url).get_trials(deepcopy=False)
        assert sorted(t.user_attrs["fastnn:slot"] for t in trials) == list(range(8))  # once each
        assert all(t.state.name == "COMPLETE" for t in trials)
        workers |= {t.user_attrs["fastnn:owner"]["worker"] for t in trials}
    assert len(workers) == 2, workers            # both commands ran trials
