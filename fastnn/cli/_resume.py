"""``fastnn train --resume PATH [--rollback-best]``: babysitting one model.

A checkpoint written by ``fastnn train --save`` holds, besides the network
and optimizer state, the global random state, the Trainer's state (epoch
counter, History, its own generator) and the command's settings.  Resuming
rebuilds the same Trainer from those settings, puts every state back, then
applies the options typed now: what changed is recorded in the History as a
'resume' event, and ``--rollback-best`` records a 'rollback' event with the
discarded epochs.
"""
import os

from ._args import UsageError
from ._data import read_checkpoint

# The settings of ``fastnn train`` a checkpoint holds, in two kinds (train.py reads both).
# What a checkpoint fixes: these cannot change when resuming.
FIXED = ("model", "dataset", "val_split", "seed", "hidden", "activation", "init", "no_batchnorm",
         "dropout", "dropout_inverted", "label_smoothing", "dtype", "optimizer", "batch_size")
# What --resume may change (recorded in the history when it does).
OVERRIDABLE = ("lr", "momentum", "beta1", "beta2", "decay_rate", "weight_decay", "lr_schedule",
               "lr_step", "lr_gamma", "lr_decay", "augment", "early_stopping", "monitor",
               "save", "save_every", "history", "backend")
# Where files go and which backend runs them: not training changes, so not in the History.
_NOT_RECORDED = ("save", "save_every", "history", "backend")


def best_path(path):
    """The best-validation checkpoint kept next to ``path``: run.npz -> run.best.npz."""
    root, ext = os.path.splitext(path)
    return root + ".best" + (ext or ".npz")


def _read(path, option, backend=None):
    ckpt = read_checkpoint(path, option, backend)
    extra = ckpt.extra if isinstance(ckpt.extra, dict) else {}
    if "cli" not in extra or "trainer" not in extra:
        raise UsageError("argument %s: %s was not written by fastnn train --save"
                         % (option, path))
    return ckpt


def load(args, given):
    """(checkpoint, settings, changes) for ``args.resume``; ``changes`` maps each option
    typed now that differs from the saved run to [saved, new]."""
    backend = args.backend if "backend" in given else None
    if args.rollback_best:
        source = best_path(args.resume)
        if not os.path.isfile(source):
            raise UsageError("argument --rollback-best: no best checkpoint %s (a run with "
                             "--save and --val-split writes it)" % source)
        ckpt = _read(source, "--rollback-best", backend)
    else:
        ckpt = _read(args.resume, "--resume", backend)
    saved = dict(ckpt.extra["cli"])
    saved.setdefault("model", "mlp")          # written before --model existed
    saved.setdefault("dropout_inverted", False)   # ... and before --dropout-inverted
    for key in FIXED:       # (None: not an option of the saved model, which refuses it)
        if key in given and saved.get(key) is not None \
                and _norm(getattr(args, key)) != _norm(saved.get(key)):
            raise UsageError("argument --%s: cannot change when resuming (the run was saved "
                             "%s)" % (key.replace("_", "-"), _show(key, saved.get(key))))
    s, changes = saved, {}
    for key in OVERRIDABLE:
        if key in given and _norm(getattr(args, key)) != _norm(s.get(key)):
            if key not in _NOT_RECORDED:
                changes[key] = [s.get(key), getattr(args, key)]
            s[key] = getattr(args, key)
    if "save" not in given:
        s["save"] = args.resume
    s["epochs"] = args.epochs
    return ckpt, s, changes


def _norm(value):
    return list(value) if isinstance(value, tuple) else value


def _show(key, value):
    """How the saved ``value`` of option ``key`` was given: 'with 20 20', 'without --x'."""
    if isinstance(value, bool):
        return "%s --%s" % ("with" if value else "without", key.replace("_", "-"))
    if isinstance(value, list):
        return "with " + " ".join(str(v) for v in value)
    return "with %s" % value


def _rollback_line(history, best, dropped):
    """What --rollback-best did, in one line: the epoch it went back to, the epochs it
    discarded and their validation accuracies."""
    acc = history.val_acc[-1] if history.val_acc else None
    line = "rollback: back to epoch %d%s" % (
        best, "" if acc is None else ", the best validation accuracy (%.4f)" % acc)
    epochs = dropped["epoch"]
    if not epochs:
        return line + "; it was the latest epoch: nothing discarded"
    span = ("epoch %d" % epochs[0] if len(epochs) == 1
            else "epochs %d-%d" % (epochs[0], epochs[-1]))
    return line + "; discarded %s (val acc %s)" % (
        span, " ".join("%.4f" % v for v in dropped["val_acc"]))


def continue_run(trainer, ckpt, s, changes, args):
    """Put the saved state into ``trainer`` and apply ``changes``, recording both."""
    from ..trainer import History
    latest = None
    if args.rollback_best:
        latest = _read(args.resume, "--resume").extra["trainer"]["history"]
    trainer.restore(ckpt)
    h = trainer.history
    if latest is not None:
        h = trainer.history = History.from_dict(latest)
        best = trainer.current_epoch
        last = h.epoch[-1] if h.epoch else best
        dropped = h.truncate(best)
        h.add_event("rollback", from_epoch=last,
                    discarded={k: dropped[k] for k in ("epoch", "val_acc", "lr")})
        print(_rollback_line(h, best, dropped), flush=True)
    if "lr" in changes:
        trainer.set_lr(s["lr"])
    for key in ("momentum", "beta1", "beta2", "decay_rate"):
        if key in changes:
            setattr(trainer.optimizer, key, s[key])
    if "weight_decay" in changes:
        trainer.network.weight_decay_lambda = s["weight_decay"]
    h.add_event("resume", changes=changes)
    if h.val_acc:
        for cb in trainer.callbacks:
            if getattr(cb, "save_best_only", False):
                cb.best = max(h.val_acc) if cb.monitor == "val_acc" else min(h.val_loss)
