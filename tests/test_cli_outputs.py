"""Every command that writes checks where it will write before any work starts.

A location that cannot be used (a folder that cannot be made, a device or a
FIFO where a file goes) is one line on stderr naming the option, and exit
status 2: nothing is loaded, trained or searched first.
"""
import os
import stat

import pytest

from fastnn.cli import main

# A folder nobody can create, root included.
NOWHERE = "/proc/fastnn-nowhere"
needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")


@pytest.fixture
def no_work(monkeypatch):
    """Make every command's first piece of work fail the test."""
    import fastnn.cli.evaluate
    import fastnn.datasets
    import fastnn.experiments
    import fastnn.search

    def work(*args, **kwargs):
        raise AssertionError("work started before the output location was checked")
    monkeypatch.setattr(fastnn.datasets, "load_dataset", work)
    monkeypatch.setattr(fastnn.experiments, "run_experiment", work)
    monkeypatch.setattr(fastnn.experiments, "run_all", work)
    monkeypatch.setattr(fastnn.search, "DatasetMLPObjective", work)
    monkeypatch.setattr(fastnn.cli.evaluate, "read_checkpoint", work)


def _refused(argv, capsys, option, path):
    """Run ``fastnn ARGV``; check it refused ``path`` given to ``option`` in one line."""
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("fastnn %s: error: argument %s: cannot write %s"
                               % (argv[0], option, path)), err
    return lines[0]


def _searching(argv):
    if argv[0] == "search":
        pytest.importorskip("optuna")
    if argv[0] == "evaluate":
        pytest.importorskip("matplotlib")     # evaluate writes figures only with it


COMMANDS = [
    (["train", "--save"], "--save", "net.npz"),
    (["train", "--history"], "--history", "history.json"),
    (["train", "--val-split", "0.2", "--save"], "--save", "net.npz"),
    (["run", "optimizers-2d", "--out"], "--out", "results"),
    (["run", "all", "--out"], "--out", "results"),
    (["evaluate", "net.npz", "--out"], "--out", "figures"),
    (["search", "--dataset", "sample", "--out"], "--out", "search"),
    (["search", "--dataset", "sample", "--storage"], "--storage", "study.journal"),
]
IDS = [" ".join(argv) for argv, _, _ in COMMANDS]


@needs_proc
@pytest.mark.parametrize("argv,option,name", COMMANDS, ids=IDS)
def test_unwritable_output_folder_is_refused_before_any_work(argv, option, name, no_work,
                                                            capsys):
    _searching(argv)
    path = os.path.join(NOWHERE, "sub", name)
    line = _refused(argv + [path], capsys, option, path)
    assert "no file can be created in /proc" in line


@pytest.mark.parametrize("argv,option,name", [c for c in COMMANDS if c[0][0] == "train"],
                         ids=[i for i, c in zip(IDS, COMMANDS) if c[0][0] == "train"])
def test_output_file_under_a_file_is_refused_before_any_work(argv, option, name, no_work,
                                                            capsys, tmp_path):
    _searching(argv)
    (tmp_path / "afile").write_text("x")
    path = str(tmp_path / "afile" / "sub" / name)
    line = _refused(argv + [path], capsys, option, path)
    assert line.endswith("%s is not a directory" % (tmp_path / "afile"))


@pytest.mark.parametrize("kind", ["fifo", "chardev", "link-to-chardev"])
@pytest.mark.parametrize("argv,option", [(["train", "--save"], "--save"),
                                         (["train", "--history"], "--history")])
def test_output_file_that_is_a_device_or_fifo_is_refused(argv, option, kind, no_work, capsys,
                                                        tmp_path):
    path = tmp_path / "out"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        node = tmp_path / "null-twin"
        os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 3))      # like /dev/null
        if kind == "chardev":
            path = node
        else:
            os.symlink(node, path)
    mode = os.lstat(path).st_mode
    line = _refused(argv + [str(path)], capsys, option, path)
    assert "not a regular file" in line
    assert os.lstat(path).st_mode == mode


def test_output_checks_leave_nothing_behind(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "new" / "folder"
    assert main(["run", "optimizers-2d", "--out", str(out), "--set", "steps"]) == 2
    assert "a setting is key=value" in capsys.readouterr().err   # after the output check
    assert os.listdir(tmp_path) == []                  # no probe file, no folder made


def test_writable_outputs_still_train(tmp_path, capsys):
    save, history = tmp_path / "a" / "net.npz", tmp_path / "b" / "h.json"
    assert main(["train", "--epochs", "1", "--hidden", "8", "--save", str(save),
                 "--history", str(history)]) == 0
    assert save.is_file() and history.is_file()
    capsys.readouterr()


EMPTY_PATHS = [["train", "--save", ""], ["train", "--history", ""], ["train", "--resume", ""],
               ["run", "optimizers-2d", "--out", ""], ["evaluate", "net.npz", "--out", ""],
               ["evaluate", ""], ["search", "--dataset", "sample", "--out", ""]]


@pytest.mark.parametrize("argv", EMPTY_PATHS, ids=[" ".join(a) + "''" for a in EMPTY_PATHS])
def test_empty_path_is_refused_before_any_work(argv, no_work, capsys):
    # An empty --save once meant no save at all, found after training (scripts/attack).
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[-1].endswith("expected a path, got ''"), err


LONG = "a" * 300          # more than the 255 bytes a file name may have on Linux file systems


@pytest.mark.parametrize("argv", [["run", "optimizers-2d", "--out", LONG],
                                  ["evaluate", "net.npz", "--out", "x/" + LONG],
                                  ["search", "--dataset", "sample", "--study", LONG],
                                  ["search", "--dataset", "sample", "--out", LONG]],
                         ids=["run --out", "evaluate --out", "search --study", "search --out"])
def test_output_folder_with_a_name_too_long_is_refused_before_any_work(argv, no_work, capsys,
                                                                       tmp_path, monkeypatch):
    # The folder was made only when the results were written: a search ran all its
    # trials, then ended in a traceback (scripts/attack).
    _searching(argv)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and "--out" in lines[0] and "too long" in lines[0], err
    assert os.listdir(tmp_path) == []
