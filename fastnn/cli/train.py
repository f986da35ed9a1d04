"""``fastnn train``: the book's networks, optimizers and regularizers from the command line.

Trains the book's MultiLayerNetExtend (--model mlp), SimpleConvNet (chapter 7)
or DeepConvNet (chapter 8) and prints one line per epoch.
--save PATH writes a checkpoint that --resume PATH continues exactly
(weights, optimizer state, epoch counter, random state, history); options
given with --resume (a new --lr, say) override the saved ones and are
recorded in the history; --rollback-best continues from the epoch with the
best validation accuracy instead.
"""
import argparse
import time

import numpy as np

from .._activations import ACTIVATIONS
from .._text import plural
from ._args import (HelpFormatter, UsageError, add_threads_option, check_network_fits, fraction,
                    given_options, int_range, key_values, nonnegative_float, open_fraction,
                    path, positive_float, positive_int, seed, weight_init)
from ._data import DATASETS, load as load_data
from ._outputs import check_file
from . import _resume
from ._resume import FIXED, OVERRIDABLE, best_path

MODELS = ["mlp", "simple-convnet", "deep-convnet"]
OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
SCHEDULES = ["none", "step", "exponential", "inverse-time"]
# The optimizer hyperparameters each optimizer takes (besides lr).
_OPTIMIZER_KEYS = {"momentum": ("momentum",), "nesterov": ("momentum",),
                   "rmsprop": ("decay_rate",), "adam": ("beta1", "beta2")}
# Options of the MLP alone: a convnet refuses them (--hidden N and --init map, see _model_settings).
_MLP_ONLY = ("activation", "no_batchnorm", "dropout", "dropout_inverted", "weight_decay",
             "label_smoothing")
# The convnets' book defaults of what --hidden and --init map to.
_CONVNET_DEFAULTS = {"simple-convnet": (100, "std:0.01"), "deep-convnet": (50, "he")}
# Convnets evaluate each epoch on the first 1000 images, as the book's ch07/ch08 scripts do.
_CONVNET_EVAL_SAMPLES = 1000
_AUGMENT_KEYS = {"shift": "shift", "crop": "crop_padding", "hflip": "hflip"}
# Every data set's images are 28 pixels wide: a shift or crop padding of 28 or more leaves
# nothing of the image.
_IMAGE_SIDE = 28
# The inputs of each model's first fully connected (hidden) layer.
_HIDDEN_FAN_IN = {"mlp": 784, "simple-convnet": 30 * 12 * 12, "deep-convnet": 64 * 4 * 4}


def augment_spec(text):
    """--augment: 'shift=N', 'crop=N', 'hflip', combined with commas."""
    spec = {}
    for key, value in key_values(text).items():
        if key not in _AUGMENT_KEYS:
            raise argparse.ArgumentTypeError("unknown augmentation %r; expected shift=N, "
                                             "crop=N or hflip" % key)
        if key == "hflip":
            if value is not True:
                raise argparse.ArgumentTypeError("hflip takes no value")
            spec["hflip"] = True
        else:
            if value is True:
                raise argparse.ArgumentTypeError("%s needs a value, e.g. %s=2" % (key, key))
            try:
                spec[_AUGMENT_KEYS[key]] = int_range(1, _IMAGE_SIDE - 1)(value)
            except argparse.ArgumentTypeError as exc:
                raise argparse.ArgumentTypeError("%s=N: %s (the images are %d pixels wide)"
                                                 % (key, exc, _IMAGE_SIDE)) from None
    return spec


def add_command(sub):
    p = sub.add_parser("train", formatter_class=HelpFormatter,
                       help="train the book's MLP or convnets and print per-epoch accuracy",
                       description=__doc__.split("\n\n", 1)[1])
    g = p.add_argument_group("data and network")
    g.add_argument("--model", default="mlp", choices=MODELS,
                   help="mlp: MultiLayerNetExtend; simple-convnet / deep-convnet: the book's "
                        "SimpleConvNet / DeepConvNet on 4-D images (they take --hidden N, "
                        "simple-convnet --init std:S, and none of the MLP's regularizers)")
    g.add_argument("--dataset", default="sample", choices=DATASETS,
                   help="'sample' is bundled with the package (no download)")
    g.add_argument("--backend", default="fast", choices=["fast", "reference"],
                   help="compiled kernels or the book's NumPy code")
    g.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                   help="network dtype")
    g.add_argument("--hidden", type=positive_int, nargs="+", default=[100] * 5,
                   help="hidden layer sizes")
    g.add_argument("--activation", default="relu", choices=list(ACTIVATIONS),
                   help="hidden-layer activation")
    g.add_argument("--init", type=weight_init, default="he", metavar="he|xavier|std:S",
                   help="weight init: He (sqrt(2/n)), Xavier (sqrt(1/n)) or a fixed std")
    g.add_argument("--no-batchnorm", action="store_true", help="no batch normalization")
    g.add_argument("--dropout", type=fraction, default=0.2, help="dropout ratio; 0 turns it off")
    g.add_argument("--dropout-inverted", action="store_true",
                   help="inverted dropout (the course's): divide the kept units by 1 - ratio "
                        "in training instead of scaling by it at test time (the book's)")
    g.add_argument("--weight-decay", type=nonnegative_float, default=0.0,
                   help="L2 weight decay lambda")
    g.add_argument("--label-smoothing", type=fraction, default=0.0,
                   help="label smoothing epsilon")
    g.add_argument("--seed", type=seed, default=0,
                   help="seed of the weights, mini-batches, dropout and validation split")

    g = p.add_argument_group("optimizer")
    g.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, help="update rule")
    g.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default: the optimizer's own, as in the book's "
                        "common/optimizer.py: 0.001 for adam, 0.01 for the others)")
    g.add_argument("--momentum", type=open_fraction, default=0.9,
                   help="momentum / nesterov: the velocity's beta")
    g.add_argument("--beta1", type=open_fraction, default=0.9, help="adam: first-moment beta")
    g.add_argument("--beta2", type=open_fraction, default=0.999,
                   help="adam: second-moment beta")
    g.add_argument("--decay-rate", type=open_fraction, default=0.99,
                   help="rmsprop: decay rate of the squared-gradient average")

    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=positive_int, default=5,
                   help="epochs to train (with --resume: epochs more)")
    g.add_argument("--batch-size", type=positive_int, default=100, help="mini-batch size")
    g.add_argument("--val-split", type=fraction, default=0.0,
                   help="fraction of the training set held out for validation")
    g.add_argument("--early-stopping", type=positive_int, default=None, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without improvement of --monitor and "
                        "restore the best weights (needs --val-split; default: off)")
    g.add_argument("--monitor", default="val_loss", choices=["val_loss", "val_acc"],
                   help="what --early-stopping watches")
    g.add_argument("--augment", type=augment_spec, default=None, metavar="SPEC",
                   help="augment training batches: shift=N, crop=N (pad and crop), hflip, "
                        "comma-separated, e.g. shift=2,hflip (default: none)")
    g.add_argument("--lr-schedule", default="none", choices=SCHEDULES,
                   help="step: lr*gamma^(epoch//step); exponential: lr*gamma^epoch; "
                        "inverse-time: lr/(1+decay*epoch)")
    g.add_argument("--lr-step", type=positive_int, default=10,
                   help="step schedule: epochs per step")
    g.add_argument("--lr-gamma", type=positive_float, default=None,
                   help="step/exponential factor (default: 0.1 for step, 0.95 for exponential)")
    g.add_argument("--lr-decay", type=nonnegative_float, default=1.0,
                   help="inverse-time decay rate")

    g = p.add_argument_group("files and babysitting")
    g.add_argument("--save", metavar="PATH", type=path, default=None,
                   help="write a checkpoint there at the end (atomically); with --val-split "
                        "also PATH's .best.npz at each new best validation accuracy "
                        "(default: none; with --resume: the resumed file)")
    g.add_argument("--save-every", type=positive_int, default=None, metavar="N",
                   help="also write --save every N epochs (default: only at the end)")
    g.add_argument("--history", metavar="PATH", type=path, default=None,
                   help="write the per-epoch history there as JSON (default: none)")
    g.add_argument("--resume", metavar="PATH", type=path, default=None,
                   help="continue the run saved in PATH exactly; options given now override "
                        "the saved ones (default: a new run)")
    g.add_argument("--rollback-best", action="store_true",
                   help="with --resume: continue from the best-validation checkpoint "
                        "(PATH's .best.npz) instead of the latest")
    add_threads_option(p)
    p.set_defaults(func=run_train, parser=p)

    c = sub.add_parser("config", formatter_class=HelpFormatter,
                       help="print version, compiled kernels, BLAS and threads")
    c.set_defaults(func=lambda args: __import__("fastnn").show_config())


def _given(args):
    argv = getattr(args, "argv", None) or []
    if "train" not in argv:
        return set()
    return given_options(args.parser, argv[argv.index("train") + 1:])


def default_lr(optimizer):
    """The learning rate of the book's class for ``optimizer`` ('sgd', 'adam', ...) when
    none is given: Adam's 0.001, 0.01 for the others."""
    import inspect
    from ..reference import optimizer as book
    from ..trainer.loop import _OPTIMIZER_NAMES
    cls = getattr(book, _OPTIMIZER_NAMES[optimizer])
    return inspect.signature(cls).parameters["lr"].default


def _settings(args):
    s = {k: getattr(args, k) for k in FIXED + OVERRIDABLE}
    s["epochs"] = args.epochs
    if s["lr"] is None:
        s["lr"] = default_lr(s["optimizer"])
    return s


def _check(s, given):
    """Options that only make sense together."""
    check_file("--save", s["save"])
    check_file("--history", s["history"])
    if s["save"] and s["val_split"]:
        check_file("--save", best_path(s["save"]))
    if "dropout_inverted" in given and not s["dropout"]:
        raise UsageError("argument --dropout-inverted: needs --dropout > 0")
    if s["save_every"] and not s["save"]:
        raise UsageError("argument --save-every: needs --save PATH")
    if s["early_stopping"] and not s["val_split"]:
        raise UsageError("argument --early-stopping: needs --val-split (it watches %s)"
                         % s["monitor"])
    uses = _OPTIMIZER_KEYS.get(s["optimizer"], ())
    for key in ("momentum", "beta1", "beta2", "decay_rate"):
        if key in given and key not in uses:
            users = [o for o, keys in _OPTIMIZER_KEYS.items() if key in keys]
            raise UsageError("argument --%s: only with --optimizer %s (not %s)"
                             % (key.replace("_", "-"), " or ".join(users), s["optimizer"]))
    for key in ("lr_step", "lr_gamma", "lr_decay"):
        wants = {"lr_step": ("step",), "lr_gamma": ("step", "exponential"),
                 "lr_decay": ("inverse-time",)}[key]
        if key in given and s["lr_schedule"] not in wants:
            raise UsageError("argument --%s: only with --lr-schedule %s"
                             % (key.replace("_", "-"), " or ".join(wants)))


def _model_settings(s, given):
    """Check the options typed (``given``) against ``s["model"]``; for a convnet, map
    --hidden N and --init to its constructor and blank the MLP's own settings."""
    model = s["model"]
    if model == "mlp":
        return s
    refused = ["--" + k.replace("_", "-") for k in _MLP_ONLY if k in given]
    if refused:
        raise UsageError("argument --model: %s does not take %s (options of --model mlp)"
                         % (model, ", ".join(refused)))
    hidden, init = _CONVNET_DEFAULTS[model]
    if "hidden" in given:
        if len(s["hidden"]) != 1:
            raise UsageError("argument --hidden: --model %s has one hidden layer; give one "
                             "size, not %d" % (model, len(s["hidden"])))
        hidden = s["hidden"][0]
    if "init" in given and s["init"] != init:
        if model != "simple-convnet" or not s["init"].startswith("std:"):
            raise UsageError("argument --init: --model %s takes %s" % (
                model, "only std:S (its weight_init_std)" if model == "simple-convnet"
                else "only he (its init is fixed)"))
        init = s["init"]
    s = dict(s, hidden=[hidden], init=init)
    s.update({k: None for k in _MLP_ONLY})
    return s


def _schedule(s):
    name = s["lr_schedule"]
    if name == "step":
        return ("step", {"step_size": s["lr_step"], "gamma": s["lr_gamma"] or 0.1})
    if name == "exponential":
        return ("exponential", {"gamma": s["lr_gamma"] or 0.95})
    if name == "inverse-time":
        return ("inverse-time", {"decay_rate": s["lr_decay"]})
    return None


def _network(s, input_shape):
    init = s["init"]
    init = float(init[4:]) if init.startswith("std:") else init
    common = dict(output_size=10, backend=s["backend"], dtype=np.dtype(s["dtype"]))
    np.random.seed(s["seed"])
    if s["model"] == "simple-convnet":
        from ..simple_convnet import SimpleConvNet
        return SimpleConvNet(input_shape, hidden_size=s["hidden"][0], weight_init_std=init,
                             **common)
    if s["model"] == "deep-convnet":
        from ..deep_convnet import DeepConvNet
        return DeepConvNet(input_shape, hidden_size=s["hidden"][0], **common)
    from ..multi_layer_net_extend import MultiLayerNetExtend
    return MultiLayerNetExtend(input_shape[0], s["hidden"], 10, activation=s["activation"],
                               weight_init_std=init, use_batchnorm=not s["no_batchnorm"],
                               use_dropout=s["dropout"] > 0, dropout_ration=s["dropout"],
                               dropout_inverted=s["dropout_inverted"],
                               weight_decay_lambda=s["weight_decay"], backend=s["backend"],
                               dtype=np.dtype(s["dtype"]), label_smoothing=s["label_smoothing"])


def _optimizer_param(s):
    param = {"lr": s["lr"]}
    for key in _OPTIMIZER_KEYS.get(s["optimizer"], ()):
        param[key] = s[key]
    return param


def run_train(args):
    given = _given(args)
    if args.rollback_best and not args.resume:
        raise UsageError("argument --rollback-best: needs --resume PATH")
    ckpt = None
    if args.resume:
        ckpt, s, changes = _resume.load(args, given)
    else:
        s, changes = _settings(args), {}
    s = _model_settings(s, given)
    _check(s, given)
    check_network_fits("--hidden", s["hidden"], _HIDDEN_FAN_IN[s["model"]],
                       itemsize=np.dtype(s["dtype"]).itemsize)

    (x_train, t_train), (x_test, t_test) = load_data(s["dataset"], flatten=s["model"] == "mlp")
    dtype = np.dtype(s["dtype"])
    x_train, x_test = x_train.astype(dtype), x_test.astype(dtype)
    if ckpt is None:
        network, optimizer = _network(s, x_train.shape[1:]), s["optimizer"]
    else:
        network, optimizer = ckpt.network, ckpt.optimizer
    trainer = _trainer(s, network, optimizer, (x_train, t_train, x_test, t_test))
    if ckpt is not None:
        _resume.continue_run(trainer, ckpt, s, changes, args)

    print("fastnn train: %s on %s (%d train / %d val / %d test), backend %s, %s, %s lr %g, "
          "%s of %s%s"
          % (s["model"], s["dataset"], trainer.train_size,
             0 if trainer.x_val is None else len(trainer.x_val), len(x_test), s["backend"],
             dtype.name, s["optimizer"], trainer.base_lr,
             plural(s["epochs"], "epoch"), plural(trainer.iter_per_epoch, "step"),
             "" if ckpt is None else ", from epoch %d" % trainer.current_epoch), flush=True)
    start = time.perf_counter()
    history = trainer.train()
    elapsed = time.perf_counter() - start
    if s["save"]:
        trainer.save_checkpoint(s["save"], extra={"cli": _jsonable_settings(s)})
    if s["history"]:
        history.save(s["history"])
    note = ""
    if history.stopped_epoch is not None:
        note = " (early stop at epoch %d, best epoch %d %s)" % (
            history.stopped_epoch, history.best_epoch,
            "restored" if trainer.early_stopping.restored else
            "not restored: it is from an earlier session, see --rollback-best")
    print("done: test accuracy %.4f, %.2fs training%s" % (history.final_test_acc, elapsed, note))
    if s["save"]:
        print("saved %s" % s["save"])
    return 0


def _jsonable_settings(s):
    from .._fileio import jsonable
    return jsonable(dict(s))


def _trainer(s, network, optimizer, data):
    from ..trainer import ModelCheckpoint, Trainer
    from ..trainer.progress import StepProgress, on_terminal
    x_train, t_train, x_test, t_test = data
    # on a terminal, the steps of the running epoch (cleared before its line is printed)
    callbacks = ([StepProgress()] if on_terminal() else []) + [EpochPrinter()]
    extra = {"cli": _jsonable_settings(s)}
    if s["save"] and s["save_every"]:
        callbacks.append(ModelCheckpoint(s["save"], every=s["save_every"], extra=extra))
    if s["save"] and s["val_split"]:
        callbacks.append(ModelCheckpoint(best_path(s["save"]), monitor="val_acc",
                                         save_best_only=True, extra=extra))
    try:
        return Trainer(network, x_train, t_train, x_test, t_test, epochs=s["epochs"],
                       mini_batch_size=s["batch_size"], optimizer=optimizer,
                       optimizer_param=_optimizer_param(s), verbose=False,
                       sampling="epoch", seed=s["seed"], validation_split=s["val_split"],
                       evaluate_sample_num_per_epoch=(
                           None if s["model"] == "mlp" else _CONVNET_EVAL_SAMPLES),
                       early_stopping=bool(s["early_stopping"]), monitor=s["monitor"],
                       patience=s["early_stopping"] or 5, augment=s["augment"],
                       lr_schedule=_schedule(s), callbacks=callbacks)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


class EpochPrinter:
    """One line per epoch: loss, accuracies, learning rate and time."""

    def set_trainer(self, trainer):
        self.trainer = trainer

    def _subset(self, x):
        """' (first N)' when the epoch's accuracy on ``x`` is measured on its first N
        samples only (the convnets, as the book's scripts), else ''."""
        n = self.trainer.evaluate_sample_num_per_epoch
        return " (first %d)" % n if n is not None and n < len(x) else ""

    def on_epoch_end(self, epoch, logs):
        tr = self.trainer
        parts = ["epoch %2d" % epoch, "loss %.4f" % logs["train_loss"],
                 "train acc%s %.4f" % (self._subset(tr.x_train), logs["train_acc"])]
        if logs.get("val_acc") is not None:
            parts.append("val acc %.4f" % logs["val_acc"])
        parts += ["test acc%s %.4f" % (self._subset(tr.x_test), logs["test_acc"]),
                  "lr %.3g" % logs["lr"], "%.2fs" % logs["epoch_time"]]
        print("  ".join(parts), flush=True)
