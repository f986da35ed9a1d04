"""Babysitting one model (the course's "panda"): watch, nudge the learning rate, roll back.

Not a figure of the book: the course this project follows (Coursera
"Improving Deep Neural Networks", week 3) contrasts babysitting one model
with training many in parallel ("caviar", ``fastnn search``).  This runs a
babysitting session with the ``fastnn train`` command itself, one command
per stage (each a child process, as typed at a shell: the experiments sit
below the command line and never import it), each continuing the saved run
exactly:

1. train with a learning rate that is too high for late epochs;
2. ``--resume`` with a lower ``--lr``;
3. ``--resume`` with the rate raised again (validation accuracy drops);
4. ``--resume --rollback-best`` with a low rate: back to the best epoch.

The figure shows the validation accuracy across the four commands, the
learning-rate changes recorded in the history, and the epochs the rollback
discarded.
"""
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np

from .._text import plural

NAME = "babysit"
TITLE = "Babysitting one model: resume, learning-rate changes, rollback"
BOOK_FIGURES = []           # the course's "panda", not a figure of the book
USES_DATASET = True

DEFAULTS = {
    "hidden": [100, 100, 100, 100, 100],
    "batch_size": 100,
    "val_split": 0.2,
    "lrs": [0.01, 0.002, 0.02, 0.0005],      # one per stage
    "epochs": [4, 3, 3, 3],                   # one per stage
}
QUICK = {"hidden": [50, 50], "batch_size": 200, "epochs": [3, 2, 2, 2]}


def commands(p, dataset, backend, seed, path="run.npz"):
    """The session's four ``fastnn train`` command lines (lists of arguments)."""
    first = ["train", "--dataset", dataset, "--backend", backend, "--seed", str(seed),
             "--hidden"] + [str(h) for h in p["hidden"]] + [
             "--batch-size", str(p["batch_size"]), "--val-split", str(p["val_split"]),
             "--lr", str(p["lrs"][0]), "--epochs", str(p["epochs"][0]), "--save", path]
    out = [first]
    for stage, (lr, epochs) in enumerate(zip(p["lrs"][1:], p["epochs"][1:]), start=1):
        argv = ["train", "--resume", path]
        if stage == len(p["lrs"]) - 1:
            argv.append("--rollback-best")
        out.append(argv + ["--lr", str(lr), "--epochs", str(epochs)])
    return out


# The child's program: fastnn's CLI with the working directory ('' that -c
# puts first) taken off sys.path, so PYTHONPATH's fastnn is the one imported.
_CHILD = ("import sys\nif sys.path[:1] == ['']: del sys.path[0]\nsys.argv[0] = 'fastnn'\n"
          "from fastnn.cli import main\nsys.exit(main())")


def _fastnn(argv):
    """Run ``fastnn ARGV`` in a child process with this process's fastnn package, thread
    count and working directory (a relative FASTNN_DATA means the same folder); raise
    RuntimeError with the end of its error output when it fails."""
    from .. import get_num_threads
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, FASTNN_NUM_THREADS=str(get_num_threads()))
    env["PYTHONPATH"] = os.pathsep.join(
        [package_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    # Not ``python -m fastnn``: that puts the working directory first on
    # sys.path, and from a clone's root (where the README's command runs) the
    # child would import the unbuilt source tree instead of the installed package.
    proc = subprocess.run([sys.executable, "-c", _CHILD] + argv, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError("fastnn %s failed (exit %d):\n%s"
                           % (" ".join(argv), proc.returncode, tail))


def run(ctx):
    from ..serialization import load_checkpoint
    p = ctx.p
    if len(p["lrs"]) != len(p["epochs"]) or len(p["lrs"]) < 2:
        raise ValueError("lrs and epochs need one entry per stage (at least 2)")
    ctx.load_data()        # a missing data set fails here, with the loader's message
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.npz")
        for argv in commands(p, ctx.dataset, ctx.backend, ctx.seed, path):
            _fastnn(argv)
        history = load_checkpoint(path).extra["trainer"]["history"]
    shown = commands(p, ctx.dataset, ctx.backend, ctx.seed)
    ctx.emit("commands", [" ".join(["fastnn"] + a) for a in shown],
             "the session: " + " ; ".join(shlex.join(["fastnn"] + a) for a in shown))
    events = history["events"]
    rollback = next((e for e in events if e["kind"] == "rollback"), None)
    best = int(np.argmax(history["val_acc"])) + 1
    ctx.emit("final", {"epochs": len(history["epoch"]), "val_acc": history["val_acc"][-1],
                       "test_acc": history["final_test_acc"], "best_epoch": best},
             "after %s: val acc %.4f, test acc %.4f (best val epoch %d)"
             % (plural(len(history["epoch"]), "epoch"), history["val_acc"][-1],
                history["final_test_acc"], best))
    if rollback is not None:
        ctx.emit("rollback", {"to_epoch": rollback["epoch"],
                              "from_epoch": rollback["from_epoch"],
                              "discarded_val_acc": rollback["discarded"]["val_acc"]},
                 "rollback from epoch %d to epoch %d (discarded val acc %s)"
                 % (rollback["from_epoch"], rollback["epoch"],
                    " ".join("%.4f" % v for v in rollback["discarded"]["val_acc"])))
    ctx.note("history", history)
    ctx.plot(lambda: _figure(history), "babysit.png")


def _figure(h):
    from ._common import new_figure
    fig = new_figure(figsize=(7.5, 4.8))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(h["epoch"], h["val_acc"], marker="o", color="C0", label="validation accuracy")
    ax.plot(h["epoch"], h["train_acc"], marker=".", color="C0", alpha=0.35, lw=1,
            label="train accuracy")
    lows = list(h["val_acc"])
    for e in h["events"]:
        if e["kind"] == "rollback":
            d = e["discarded"]
            start = e["epoch"]
            xs = [start] + d["epoch"]
            ys = [h["val_acc"][start - 1]] + d["val_acc"]
            lows += d["val_acc"]
            lr = d["lr"][0] if d["lr"] else None
            ax.plot(xs, ys, ls="--", marker="x", color="C3",
                    label="discarded by --rollback-best" + ("" if lr is None
                                                           else " (lr %g)" % lr))
            ax.annotate("rollback", xy=(start, ys[0]), xytext=(start + 0.3, ys[0] + 0.01),
                        color="C3", fontsize=8)
    top = max(max(lows), max(h["train_acc"]))
    bottom = min(lows)
    span = max(top - bottom, 0.02)
    at = {}                   # resumes after the same epoch: labels side by side
    for e in h["events"]:
        if e["kind"] != "resume":
            continue
        k = at[e["epoch"]] = at.get(e["epoch"], -1) + 1
        ax.axvline(e["epoch"] + 0.5, color="0.6", lw=1, ls=":")
        change = e.get("changes", {}).get("lr")
        text = "resume" if not change else "lr %g → %g" % tuple(change)
        ax.text(e["epoch"] + 0.45 + 0.15 * k, bottom - 0.05 * span, text, fontsize=8,
                color="0.3", rotation=90, va="bottom", ha="right" if k == 0 else "left")
    ax.set_ylim(bottom - 0.08 * span, top + 0.1 * span)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_xticks(range(1, max(h["epoch"] + [0] + [x for e in h["events"]
                                                  if e["kind"] == "rollback"
                                                  for x in e["discarded"]["epoch"]]) + 1))
    ax.set_title("one model across resumes (dotted lines: fastnn train --resume)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
