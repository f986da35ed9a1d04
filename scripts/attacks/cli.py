"""cli: every ``fastnn`` subcommand with hostile option values.

A hostile value must be refused with exit status 2 and one line on stderr
(beside argparse's usage block), no traceback, and before any work starts:
the commands run in the case's process with their work entry points
(loading a data set, running an experiment, building a search objective,
reading a checkpoint for ``evaluate``) replaced by a tripwire.  A few
commands run for real, in a subprocess with tiny budgets, where a value is
odd but legal.
"""
import contextlib
import io
import os

from ._common import Crash, Registry, Wrong, error_lines, judge_refusal, one_line, run_fastnn
from ._files import Paths

REGISTRY = Registry("cli")


class WorkStarted(Exception):
    """A command reached its work with a value it should have refused."""


def _tripwire(what):
    def wire(*args, **kwargs):
        raise WorkStarted(what)
    return wire


@contextlib.contextmanager
def tripwires(read_checkpoints=True):
    """Replace the first piece of work of every command by a :class:`WorkStarted`:
    loading a data set, an experiment's run(), a search's objective and, unless
    ``read_checkpoints`` is false, evaluate's reading of its checkpoint."""
    import fastnn.cli.evaluate
    import fastnn.datasets
    import fastnn.experiments
    import fastnn.search
    # An experiment checks its settings when its context is made: the work is its run().
    wires = [(fastnn.experiments.get(name), "run") for name in fastnn.experiments.names()]
    wires += [(fastnn.datasets, "load_dataset"), (fastnn.search, "DatasetMLPObjective")]
    if read_checkpoints:
        wires.append((fastnn.cli.evaluate, "read_checkpoint"))
    saved = [(mod, name, getattr(mod, name)) for mod, name in wires]
    for mod, name, _ in saved:
        setattr(mod, name, _tripwire("%s.%s" % (mod.__name__, name)))
    try:
        yield
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)


def run_main(argv, read_checkpoints=True):
    """``fastnn ARGV`` in this process: (status, stdout, stderr, what work started or None)."""
    from fastnn.cli import main
    out, err = io.StringIO(), io.StringIO()
    started = None
    with tripwires(read_checkpoints), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        try:
            rc = main(list(argv))
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except WorkStarted as exc:
            rc, started = None, str(exc)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a traceback the user would see
            import traceback
            err.write("".join(traceback.format_exception(exc)))
            rc = 1
    return rc, out.getvalue(), err.getvalue(), started


def refused(argv, accept=False, read_checkpoints=True):
    """A case: ``fastnn ARGV`` (``{name}`` placeholders are paths of
    :class:`._files.Paths`) must be refused before work.  ``accept``: the value
    is odd but legal, so work may start."""
    def run(ctx):
        paths = Paths(ctx.tmp)
        args = [paths.format(a) for a in argv]
        os.chdir(ctx.tmp)
        rc, out, err, started = run_main(args, read_checkpoints)
        if started is not None:
            if accept:
                return "accepted (work started: %s)" % started.rsplit(".", 1)[-1]
            raise Wrong("accepted: work started (%s) with %s" % (started, " ".join(argv)))
        if "Traceback" not in err and rc == 0:
            if accept:
                return "accepted"
        judge_refusal(rc, out, err, " ".join(argv))
    return run


def real_run(argv, timeout=120):
    """A case: ``python -m fastnn ARGV`` for real; exit 0, or exit 2 with one line."""
    def run(ctx):
        paths = Paths(ctx.tmp)
        args = [paths.format(a) for a in argv]
        rc, out, err = run_fastnn(args, timeout=timeout, cwd=ctx.tmp)
        lines = error_lines(err)
        if lines and "MemoryError" in lines[-1]:
            raise Crash("MemoryError: %s" % one_line(lines[-1]))
        if rc == 0 and "Traceback" not in err:
            last = [line for line in out.splitlines() if line.strip()][-1:]
            nan = " (NaN losses)" if " nan " in out.lower() else ""
            return one_line(last[0] if last else "", 120) + nan
        judge_refusal(rc, out, err, " ".join(argv))
    return run


def _add(name, argv, quick=False, **kw):
    REGISTRY.add(name, refused(argv, **kw), quick=quick)


TRAIN = ["train", "--epochs", "1"]
# option -> hostile values, each to be refused
TRAIN_VALUES = {
    "--epochs": ["0", "-1", "abc", "1.5", "", "1e3"],
    "--batch-size": ["0", "-5", "abc", "2.5"],
    "--hidden": ["0", "-1", "abc", "1000000000000", "1e3", "nan"],
    "--lr": ["nan", "inf", "-inf", "-1", "0", "abc", "1e400", "", "0x10"],
    "--dropout": ["1", "-0.1", "nan", "1.5", "inf"],
    "--weight-decay": ["-1", "inf", "nan", "abc"],
    "--label-smoothing": ["1", "-0.5", "nan"],
    "--seed": ["-1", "4294967296", "abc", "1e3", "99999999999999999999999"],
    "--init": ["xavie", "std:abc", "std:-1", "std:nan", "std:", "std:inf", "std:1e400",
               "std", ""],
    "--val-split": ["1", "-0.1", "nan", "1.5"],
    "--monitor": ["val_accuracy", ""],
    "--augment": ["shift=-1", "crop=abc", "foo", "", "shift", "shift=2.5", "crop=-3",
                  "hflip=3", ",", "shift=99999999999999999999"],
    "--save-every": ["0", "-1", "abc"],
    "--model": ["foo", ""],
    "--dataset": ["foo", "../../etc"],
    "--dtype": ["float16", "int64", "object"],
    "--backend": ["foo", "numpy"],
    "--activation": ["tanh", ""],
    "--optimizer": ["sgdd", "Adam2", ""],
    "--threads": ["0", "-1", "2147483648", "1e9", "abc", "", "2.5", "0x2", "9", "nan",
                  "99999999999999999999"],
}
QUICK_VALUES = {("--epochs", "0"), ("--lr", "nan"), ("--seed", "-1"), ("--init", "xavie"),
                ("--augment", "shift=-1"), ("--threads", "0"), ("--hidden", "1000000000000")}

for _opt, _values in TRAIN_VALUES.items():
    for _v in _values:
        _add("train%s=%r" % (_opt, _v), TRAIN + [_opt, _v], quick=(_opt, _v) in QUICK_VALUES)

for _opt, _opt_args, _values in (
        ("--momentum", ["--optimizer", "momentum"], ["1", "1.5", "-0.1", "nan", "0"]),
        ("--beta1", ["--optimizer", "adam"], ["1", "1.5", "nan", "-0.1"]),
        ("--beta2", ["--optimizer", "adam"], ["1", "nan", "2"]),
        ("--decay-rate", ["--optimizer", "rmsprop"], ["1", "-1", "nan"]),
        ("--beta1", ["--optimizer", "sgd"], ["0.9"]),
        ("--momentum", ["--optimizer", "adam"], ["0.9"]),
        ("--early-stopping", ["--val-split", "0.2"], ["0", "-1", "abc"]),
        ("--early-stopping", [], ["3"]),
        ("--lr-step", ["--lr-schedule", "step"], ["0", "-1", "abc"]),
        ("--lr-gamma", ["--lr-schedule", "step"], ["-1", "0", "nan", "inf"]),
        ("--lr-gamma", ["--lr-schedule", "exponential"], ["-0.5", "nan"]),
        ("--lr-decay", ["--lr-schedule", "inverse-time"], ["-1", "nan", "inf"]),
        ("--lr-step", [], ["5"]),
        ("--save-every", [], ["2"]),
        ("--dropout-inverted", ["--dropout", "0"], [None]),
        ("--rollback-best", [], [None]),
        ("--dropout", ["--model", "simple-convnet"], ["0.5"]),
        ("--init", ["--model", "deep-convnet"], ["std:0.1"]),
        ("--hidden", ["--model", "simple-convnet"], ["10 20"]),
        ("--weight-decay", ["--model", "simple-convnet"], ["0.1"])):
    for _v in _values:
        _tail = [] if _v is None else _v.split()
        _add("train%s=%r%s" % (_opt, _v, "".join("," + a for a in _opt_args)),
             TRAIN + _opt_args + [_opt] + _tail)

# where a command writes: every such location must be refused before work
for _opt in ("--save", "--history"):
    for _where in ("fifo", "devnull", "devfull", "dir", "unwritable", "under-file",
                   "link-devnull", "link-fifo", "long"):
        _add("train%s=%s" % (_opt, _where), TRAIN + [_opt, "{%s}" % _where],
             quick=_where in ("fifo", "devnull"))
    _add("train%s=''" % _opt, TRAIN + [_opt, ""])
for _argv in (["run", "optimizers-2d", "--quick", "--out", ""],
              ["evaluate", "{ckpt}", "--out", ""],
              ["train", "--epochs", "1", "--resume", ""]):
    _add("%s%s=''" % (_argv[0], _argv[-2]), _argv)
_add("train--init='HE '", TRAIN + ["--init", "HE "], accept=True)
_add("train--save=fifo-with-val-split", TRAIN + ["--val-split", "0.2", "--save", "{fifo}"])
for _where in ("fifo", "devnull", "devzero", "dir", "empty", "garbage", "text", "zipgarbage",
               "truncated", "link-dangling", "link-loop", "link-fifo", "new", "long"):
    _add("train--resume=%s" % _where, TRAIN + ["--resume", "{%s}" % _where],
         quick=_where in ("fifo", "truncated"))
_add("train--resume-ckpt--batch-size", TRAIN + ["--resume", "{ckpt}", "--batch-size", "7"])
_add("train--resume-ckpt--rollback-best-without-best", TRAIN + ["--resume", "{ckpt}",
                                                                "--rollback-best"])
_add("train--resume-ckpt--lr=nan", TRAIN + ["--resume", "{ckpt}", "--lr", "nan"])
_add("train--resume-ckpt--model", TRAIN + ["--resume", "{ckpt}", "--model", "simple-convnet"])
_add("train--unknown-option", TRAIN + ["--foo"])
_add("train-positional", TRAIN + ["extra"])

for _where in ("fifo", "devnull", "devzero", "dir", "empty", "garbage", "text", "zipgarbage",
               "truncated", "link-dangling", "link-loop", "new", "long"):
    REGISTRY.add("evaluate-PATH=%s" % _where,
                 refused(["evaluate", "{%s}" % _where, "--no-figures"], read_checkpoints=False),
                 quick=_where in ("fifo", "dir"))
for _opt, _values in (("--misclassified", ["-1", "abc", "1.5"]),
                      ("--out", ["{fifo}", "{devnull}", "{unwritable}", "{under-file}",
                                 "{garbage}"]),
                      ("--dataset", ["foo"]), ("--backend", ["foo"]),
                      ("--threads", ["0", "abc"])):
    for _v in _values:
        _add("evaluate%s=%r" % (_opt, _v), ["evaluate", "{ckpt}", _opt, _v])

RUN = ["run", "optimizers-2d", "--quick"]       # its settings: lr, start, steps
RUN_VALUES = {
    "--set": ["bogus=1", "steps=abc", "steps=-5", "steps=0", "steps=1.5", "steps", "=5",
              "lr=nan", "lr=-1", "start=abc"],
    "--seed": ["-1", "4294967296", "abc"],
    "--blas-threads": ["-1", "abc"],
    "--threads": ["0"],
    "--out": ["{fifo}", "{garbage}", "{devnull}", "{unwritable}", "{under-file}"],
    "--dataset": ["foo"], "--backend": ["foo"],
}
for _opt, _values in RUN_VALUES.items():
    for _v in _values:
        _add("run%s=%r" % (_opt, _v),
             RUN + [_opt, _v] + ([] if _opt == "--out" else ["--out", "{new}"]),
             quick=_v in ("steps=-5", "{fifo}"))
for _name, _argv in (("name-bogus", ["run", "bogus"]), ("name-empty", ["run", ""]),
                     ("name-path", ["run", "../optimizers"]),
                     ("set-hidden-abc", ["run", "overfit", "--quick", "--set", "hidden=abc"]),
                     ("set-with-all", ["run", "all", "--quick", "--set", "steps=5"])):
    _add("run-" + _name, _argv)

for _name, _argv in (("no-command", []), ("bogus-command", ["bogus"]),
                     ("bogus-option", ["--bogus"]), ("config-extra", ["config", "extra"]),
                     ("config-threads", ["config", "--threads", "0"])):
    _add("top-" + _name, _argv)


# -- odd but legal values, run for real with tiny budgets ------------------------------

SMALL = ["train", "--epochs", "1", "--hidden", "8", "--no-batchnorm", "--dropout", "0"]
REAL = [
    ("train-batch-size-10**12", SMALL + ["--batch-size", "1000000000000"]),
    ("train-batch-size-larger-than-data", SMALL + ["--batch-size", "100000"]),
    ("train-val-split-0.9999", SMALL + ["--val-split", "0.9999"]),
    ("train-seed-2**32-1", SMALL + ["--seed", "4294967295"]),
    ("train-init-std-0", SMALL + ["--init", "std:0"]),
    ("train-init-std-1e300", SMALL + ["--init", "std:1e300"]),
    ("train-lr-1e300", SMALL + ["--lr", "1e300"]),
    ("train-augment-shift-100", SMALL + ["--augment", "shift=100,crop=100,hflip"]),
    ("train-label-smoothing-0.999999", SMALL + ["--label-smoothing", "0.999999"]),
    ("train-save-through-symlink-and-resume", None),
    ("evaluate-misclassified-10**9", ["evaluate", "{ckpt}", "--misclassified", "1000000000",
                                      "--out", "{new}"]),
    ("evaluate-network-of-30-inputs", ["evaluate", "{ckpt-30-inputs}", "--no-figures"]),
    ("train-resume-network-of-30-inputs", ["train", "--resume", "{ckpt-30-inputs}",
                                           "--epochs", "1"]),
    ("train-resume-a-save_network-file", ["train", "--resume", "{ckpt}", "--epochs", "1"]),
    ("run-blas-threads-10**9", ["run", "optimizers-2d", "--quick", "--blas-threads",
                                "1000000000", "--out", "{new}"]),
    ("run-optimizers-2d-steps-1", ["run", "optimizers-2d", "--quick", "--set", "steps=1",
                                   "--out", "{new}"]),
]


def _symlink_save_resume(ctx):
    """--save through a symlink updates the link's target; --resume reads it back."""
    target = os.path.join(ctx.tmp, "real.npz")
    link = os.path.join(ctx.tmp, "link.npz")
    open(target, "wb").close()
    os.symlink(target, link)
    rc, out, err = run_fastnn(SMALL + ["--save", link], timeout=120, cwd=ctx.tmp)
    if rc != 0:
        judge_refusal(rc, out, err, "train --save LINK")
    if not os.path.islink(link) or os.path.getsize(target) == 0:
        raise Wrong("the save replaced the link or left its target empty")
    rc, out, err = run_fastnn(["train", "--resume", link, "--epochs", "1"], timeout=120,
                              cwd=ctx.tmp)
    if rc != 0:
        judge_refusal(rc, out, err, "train --resume LINK")
    return "saved through the link and resumed"


for _name, _argv in REAL:
    REGISTRY.add("real/" + _name, _symlink_save_resume if _argv is None else real_run(_argv),
                 timeout=150, quick=_name == "train-batch-size-10**12")
