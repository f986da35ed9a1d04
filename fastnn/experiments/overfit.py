"""Figures 6-20, 6-21 and 6-23: overfitting, weight decay and dropout.

A 7-layer network (784-100×6-10, ReLU, He) is trained by SGD on only 300
samples; train and test accuracy are measured every epoch.  Without help
it overfits: train accuracy reaches 1.0 while test accuracy stays far
below.  Weight decay (λ = 0.1) and dropout (ratio 0.2) shrink the gap
between the two while test accuracy holds.
"""
import numpy as np

from .._text import plural

NAME = "overfit"
TITLE = "Overfitting, weight decay and dropout (Figures 6-20, 6-21, 6-23)"
BOOK_FIGURES = ["6-20", "6-21", "6-23"]
USES_DATASET = True

DEFAULTS = {
    "train_size": 300,
    "test_size": None,          # None: the whole test set
    "hidden": [100, 100, 100, 100, 100, 100],
    "batch_size": 100,
    "lr": 0.01,
    "epochs": 201,
    "dropout_epochs": 301,
    "weight_decay": 0.1,
    "dropout_ratio": 0.2,
    "tail": 10,                 # the gap is averaged over the last epochs
}
# Quick mode keeps the story with a fifth of the updates: a larger lr, and a
# weight decay that suits the shorter run (λ = 0.1 keeps 150 epochs far from
# fitting, lowering test accuracy with train accuracy).  On the bundled sample,
# seed 0: the baseline ends at train 0.98 / test 0.75; weight decay and dropout
# cut the gap by a fifth and by a third, test accuracy -0.01 and +0.01.
QUICK = {"epochs": 150, "dropout_epochs": 250, "lr": 0.05, "weight_decay": 0.02,
         "test_size": 2000, "tail": 10}


def run(ctx):
    from ..multi_layer_net_extend import MultiLayerNetExtend
    from ..trainer import Trainer
    p = ctx.p
    (x_train, t_train), (x_test, t_test) = ctx.load_data()
    x, t = x_train[:p["train_size"]], t_train[:p["train_size"]]
    if p["test_size"]:
        x_test, t_test = x_test[:p["test_size"]], t_test[:p["test_size"]]
    variants = {
        "baseline": ({}, p["epochs"]),
        "weight decay": ({"weight_decay_lambda": p["weight_decay"]}, p["epochs"]),
        "dropout": ({"use_dropout": True, "dropout_ration": p["dropout_ratio"]},
                    p["dropout_epochs"]),
    }
    curves = {}
    for name, (kw, epochs) in variants.items():
        np.random.seed(ctx.seed)
        net = MultiLayerNetExtend(x.shape[1], p["hidden"], 10, backend=ctx.backend, **kw)
        trainer = Trainer(net, x, t, x_test, t_test, epochs=epochs,
                          mini_batch_size=p["batch_size"], optimizer="sgd",
                          optimizer_param={"lr": p["lr"]}, verbose=False)
        h = trainer.train()
        tail = min(p["tail"], len(h.train_acc))
        train_end = float(np.mean(h.train_acc[-tail:]))
        test_end = float(np.mean(h.test_acc[-tail:]))
        curves[name] = {"train": h.train_acc, "test": h.test_acc}
        ctx.emit(name, {"train_acc": train_end, "test_acc": test_end,
                        "gap": train_end - test_end, "epochs": epochs},
                 "%-12s after %s: train acc %.3f, test acc %.3f, gap %.3f "
                 "(mean of the last %s)"
                 % (name, plural(epochs, "epoch"), train_end, test_end, train_end - test_end,
                    plural(tail, "epoch")))
    ctx.note("curves", curves)
    figs = {"baseline": "overfit-baseline.png", "weight decay": "overfit-weight-decay.png",
            "dropout": "overfit-dropout.png"}
    for name, filename in figs.items():
        ctx.plot(lambda name=name: _figure(name, curves[name], p, ctx.dataset), filename)
    ctx.plot(lambda: _gap_figure(curves, p), "overfit-gap.png")


def _figure(name, curve, p, dataset):
    from ._common import new_figure
    fig = new_figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    ep = np.arange(len(curve["train"]))
    every = max(len(ep) // 20, 1)
    ax.plot(ep, curve["train"], marker="o", markevery=every, markersize=4, label="train")
    ax.plot(ep, curve["test"], marker="s", markevery=every, markersize=4, label="test")
    ax.set_xlabel("epochs")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.0)
    what = {"baseline": "no regularisation",
            "weight decay": "weight decay λ = %g" % p["weight_decay"],
            "dropout": "dropout ratio %g" % p["dropout_ratio"]}[name]
    ax.set_title("%d samples, 7-layer net, %s (%s)" % (p["train_size"], what, dataset),
                 fontsize=10)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _gap_figure(curves, p):
    from ._common import new_figure
    fig = new_figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for name, c in curves.items():
        gap = np.asarray(c["train"]) - np.asarray(c["test"])
        ax.plot(np.arange(len(gap)), gap, label=name)
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.set_xlabel("epochs")
    ax.set_ylabel("train acc - test acc")
    ax.set_title("The train-test gap (%d samples)" % p["train_size"], fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)
    fig.tight_layout()
    return fig
