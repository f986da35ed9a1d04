"""``fastnn search`` at the command line: every argument checked before any work starts.

A bad argument ends with exit status 2 and one line naming it (argparse's
``fastnn search: error: ...``), never a traceback; a search in which every trial fails
exits nonzero.
"""
import sys

import pytest

from fastnn.cli import main
from fastnn.search import optuna_available, random_search, loguniform
from fastnn.search.synthetic import LogPeak

needs_optuna = pytest.mark.skipif(not optuna_available(),
                                  reason="Optuna is not installed (pip install optuna)")

TINY = ["search", "--dataset", "sample", "--train-size", "100", "--epochs", "1", "--hidden",
        "5", "--trials", "2", "--rounds", "1", "--workers", "1", "--no-plot", "--live", "lines"]


def _run(argv, capsys):
    """(exit status, stderr) of ``fastnn ARGV``, whether argparse exits or main returns."""
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    return rc, capsys.readouterr().err


def _storage_cases():
    """(id, argv tail, fragment of the message, setup(tmp_path, monkeypatch) -> argv tail)."""
    def journal_dir(tmp, mp):
        return ["--storage", str(tmp)]

    def not_journal(tmp, mp):
        f = tmp / "notes.txt"
        f.write_text("hello\n")
        return ["--storage", str(f)]

    def not_sqlite(tmp, mp):
        f = tmp / "results.db"
        f.write_text("not a database\n")
        return ["--storage", "sqlite:///%s" % f]

    def parent_is_file(tmp, mp):
        f = tmp / "a-file"
        f.write_text("x")
        return ["--storage", str(f / "study.journal")]

    def no_psycopg2(tmp, mp):
        mp.setitem(sys.modules, "psycopg2", None)     # import psycopg2 -> ImportError
        return ["--storage", "postgresql+psycopg2://user:secret@127.0.0.1:1/db"]

    def no_mysqldb(tmp, mp):
        mp.setitem(sys.modules, "MySQLdb", None)
        return ["--storage", "mysql://user@127.0.0.1:1/db"]

    return [
        ("sqlite-memory-2-workers", lambda t, m: ["--storage", "sqlite://", "--workers", "2"],
         "in-memory SQLite"),
        ("journal-file-of-another-kind", not_journal, "not an Optuna journal file"),
        ("journal-with-no-path", lambda t, m: ["--storage", "journal:"], "names no file"),
        ("directory", journal_dir, "is a directory"),
        ("parent-is-a-file", parent_is_file, "is a file, not a folder"),
        ("sqlite-file-of-another-kind", not_sqlite, "not an SQLite database"),
        ("postgresql-without-driver", no_psycopg2, "psycopg2"),
        ("mysql-without-driver", no_mysqldb, "MySQLdb"),
        ("unknown-scheme", lambda t, m: ["--storage", "http://example.org/x"], "not supported"),
        ("unknown-dialect", lambda t, m: ["--storage", "postgresql+nosuch://u@h/db"],
         "not a database URL"),
    ]


@pytest.mark.parametrize("argv, fragment", [
    (["--train-size", "-5"], "argument --train-size: must be an integer >= 0"),
    (["--hidden", "0"], "argument --hidden: must be a positive integer"),
    (["--hidden", "100", "-3"], "argument --hidden: must be a positive integer"),
    (["--margin", "-1"], "argument --margin: must be a number >= 0"),
    (["--threads", "0"], "argument --threads: must be a whole number from 1 to"),
    (["--threads", "-1"], "argument --threads: must be a whole number from 1 to"),
    (["--prune-rounds", "-1"], "argument --prune-rounds: must be an integer >= 0"),
    (["--cv", "0"], "argument --cv: must be an integer >= 2"),
    (["--cv", "1"], "argument --cv: must be an integer >= 2"),
    (["--cv", "-1"], "argument --cv: must be an integer >= 2"),
    (["--epochs", "0"], "argument --epochs"),
    (["--batch-size", "0"], "argument --batch-size"),
    (["--trials", "0"], "argument --trials"),
    (["--rounds", "0"], "argument --rounds"),
    (["--top-k", "0"], "argument --top-k"),
    (["--top", "0"], "argument --top"),
    (["--workers", "-2"], "argument --workers"),
    (["--warmup", "-1"], "argument --warmup"),
    (["--startup", "-1"], "argument --startup"),
    (["--val-ratio", "1"], "argument --val-ratio: must be in (0, 1)"),
    (["--val-ratio", "0"], "argument --val-ratio"),
    (["--lr", "0", "1e-2"], "argument --lr: must be a number > 0"),
    (["--lr", "1e-2", "1e-6"], "low < high"),
    (["--weight-decay", "-1", "1"], "argument --weight-decay"),
    (["--lr", "nan", "1"], "argument --lr: expected a finite number"),
    (["--seed", "x"], "argument --seed: expected an integer"),
    (["--trials", "2", "--rounds", "3"], "cannot be split over --rounds"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_search_bad_argument_exits_2_with_one_line(argv, fragment, capsys):
    rc, err = _run(TINY + argv, capsys)
    assert rc == 2
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("fastnn search: error:") and fragment in last, err


@pytest.mark.parametrize("argv, fragment", [
    (["--seed", "-1"], "argument --seed: must be in [0, 2**32), got -1"),
    (["--seed", str(2 ** 32)], "argument --seed: must be in [0, 2**32)"),
    (["--split-seed", "-1"], "argument --split-seed: must be in [0, 2**32)"),
    (["--workers", "100000"], "argument --workers: must be an integer from 0 to 1024"),
    (["--tune", "layers", "--layers-range", "2", "1000000000000"],
     "argument --layers-range: must be an integer from 1 to 100"),
    (["--hidden", "1000000000000"], "argument --hidden: hidden layers of 1000000000000 units"),
    (["--tune", "hidden", "--hidden-range", "16", "1000000000000"],
     "argument --hidden-range: hidden layers of 1000000000000 units"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_search_refuses_seeds_numpy_rejects_and_sizes_no_machine_holds(argv, fragment, capsys):
    rc, err = _run(TINY + argv, capsys)
    assert rc == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("fastnn search: error: " + fragment), err


@needs_optuna
@pytest.mark.parametrize("make, fragment", [c[1:] for c in _storage_cases()],
                         ids=[c[0] for c in _storage_cases()])
def test_search_bad_storage_exits_2_with_one_line(make, fragment, tmp_path,
                                                                 monkeypatch, capsys):
    out = tmp_path / "out"
    rc, err = _run(TINY + ["--out", str(out)] + make(tmp_path, monkeypatch), capsys)
    assert rc == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("fastnn search: error: --storage:") and fragment in err, err
    assert "secret" not in err                  # a password in a URL is never shown
    assert not out.exists()                     # refused before any work started


@pytest.mark.parametrize("below", ["", "sub/dir"])
def test_search_out_that_is_a_file_exits_2(below, tmp_path, capsys):
    f = tmp_path / "out"
    f.write_text("x")
    out = f / below if below else f
    rc, err = _run(TINY + ["--out", str(out)], capsys)
    assert rc == 2
    assert err.strip() == "fastnn search: error: --out %s: %s is a file, not a folder" % (out, f)


def test_search_where_every_trial_fails_exits_nonzero(tmp_path, monkeypatch,
                                                                    capsys):
    from fastnn.search import objectives

    def broken(self, params, trial):
        raise RuntimeError("every trial breaks here")
    monkeypatch.setattr(objectives.MLPObjective, "__call__", broken)
    rc, err = _run(TINY + ["--out", str(tmp_path / "out")], capsys)
    assert rc == 1
    assert err.strip().splitlines()[-1] == ("fastnn search: error: all 2 trials failed; the "
                                            "first one with: RuntimeError: every trial breaks "
                                            "here")
    monkeypatch.undo()
    # the same search with a working objective exits 0
    rc, err = _run(TINY + ["--out", str(tmp_path / "ok")], capsys)
    assert rc == 0, err


@needs_optuna
def test_random_search_refuses_memory_sqlite_for_several_workers():
    space = {"lr": loguniform(1e-6, 1e-2), "weight_decay": loguniform(1e-8, 1e-4)}
    with pytest.raises(ValueError, match="in-memory SQLite database, which 2 worker"):
        random_search(LogPeak(epochs=1), space, 2, workers=2, storage="sqlite://")
    # one worker in one process can use it
    r = random_search(LogPeak(epochs=1), space, 2, seed=0, workers=1, storage="sqlite://")
    assert [t.state for t in r.trials] == ["complete", "complete"]


@pytest.mark.slow
@needs_optuna
def test_search_unreachable_database_is_one_line(tmp_path, capsys):
    pytest.importorskip("psycopg2")
    import socket
    with socket.socket() as s:      # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc, err = _run(TINY + ["--out", str(tmp_path / "out"), "--storage",
                           "postgresql://user:secret@127.0.0.1:%d/db" % port], capsys)
    assert rc == 1
    assert err.startswith("fastnn search: error: cannot open storage postgresql") and \
        len(err.strip().splitlines()) == 1, err
    assert "secret" not in err and "***" in err


def test_storage_urls_are_normalised(monkeypatch, tmp_path):
    from fastnn.search import _storage
    from fastnn.search._storage import display_storage, storage_spec
    monkeypatch.chdir(tmp_path)
    # a plain postgresql:// URL uses psycopg2 when only it is installed (SQLAlchemy 2.1's
    # default driver is psycopg 3), and SQLAlchemy's own choice otherwise
    monkeypatch.setattr(_storage, "_importable", lambda m: m == "psycopg2")
    assert storage_spec("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert storage_spec("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert storage_spec("postgres+pg8000://u@h/db") == "postgresql+pg8000://u@h/db"
    monkeypatch.setattr(_storage, "_importable", lambda m: True)
    assert storage_spec("postgresql://u@h/db") == "postgresql://u@h/db"
    assert storage_spec("x.db") == "sqlite:///%s" % (tmp_path / "x.db")
    assert storage_spec("runs/s.journal") == "journal:%s" % (tmp_path / "runs" / "s.journal")
    assert storage_spec("journal:") == "journal:" and storage_spec("file://") == "journal:"
    assert display_storage("postgresql://u:pw@h:5/db") == "postgresql://u:***@h:5/db"
    assert display_storage("journal:/a/b") == "journal:/a/b"
