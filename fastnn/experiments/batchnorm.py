"""Figures 6-18 and 6-19: training with and without Batch Normalization.

A 784-100×5-10 ReLU network learns from 1000 training samples by SGD
(lr 0.01, batch 100); training accuracy is measured every epoch.
Figure 6-19 repeats this for 16 initial weight scales from 1 to 1e-4: with
BN the network learns at almost every scale, without it only in a narrow
band (elsewhere accuracy stays at chance).  Figure 6-18 is the learning
speed at one scale (Xavier initialisation by default): BN learns faster.
"""
import numpy as np

from .._text import plural

NAME = "batchnorm"
TITLE = "Batch Normalization (Figures 6-18 and 6-19)"
BOOK_FIGURES = ["6-18", "6-19"]
USES_DATASET = True

DEFAULTS = {
    "train_size": 1000,
    "epochs": 20,
    "batch_size": 100,
    "lr": 0.01,
    "hidden": [100, 100, 100, 100, 100],
    "scales": 16,               # np.logspace(0, -4, scales)
    "speed_init": "xavier",     # the initial weights of Figure 6-18
}
QUICK = {"train_size": 500, "epochs": 8}


def train_curve(x, t, weight_init_std, use_batchnorm, p, backend, seed):
    """Training accuracy per epoch of one run (the Trainer, the book's sampling)."""
    from ..multi_layer_net_extend import MultiLayerNetExtend
    from ..trainer import Trainer
    np.random.seed(seed)
    net = MultiLayerNetExtend(x.shape[1], p["hidden"], 10, weight_init_std=weight_init_std,
                              use_batchnorm=use_batchnorm, backend=backend)
    trainer = Trainer(net, x, t, x[:1], t[:1], epochs=p["epochs"],
                      mini_batch_size=p["batch_size"], optimizer="sgd",
                      optimizer_param={"lr": p["lr"]}, verbose=False)
    with np.errstate(all="ignore"):       # without BN, large scales overflow (as in the book)
        history = trainer.train()
    return [float(a) for a in history.train_acc]


def run(ctx):
    p = ctx.p
    (x_train, t_train), _ = ctx.load_data()
    x, t = x_train[:p["train_size"]], t_train[:p["train_size"]]

    # Figure 6-18: learning speed at one initialisation.
    speed = {bn: train_curve(x, t, p["speed_init"], bn, p, ctx.backend, ctx.seed)
             for bn in (True, False)}
    ctx.emit("speed", {"init": p["speed_init"], "bn": speed[True], "no_bn": speed[False]},
             "init %s: train acc after %s: BN %.3f, without BN %.3f; mean over "
             "epochs: BN %.3f, without %.3f"
             % (p["speed_init"], plural(p["epochs"], "epoch"), speed[True][-1], speed[False][-1],
                np.mean(speed[True]), np.mean(speed[False])))

    # Figure 6-19: 16 weight scales.
    scales = np.logspace(0, -4, num=p["scales"])
    sweep = []
    wins = 0
    for i, w in enumerate(scales):
        seed = (ctx.seed + i) % 2 ** 32        # any seed of np.random, as --seed takes
        bn = train_curve(x, t, float(w), True, p, ctx.backend, seed)
        plain = train_curve(x, t, float(w), False, p, ctx.backend, seed)
        win = bn[-1] > plain[-1]
        wins += win
        sweep.append({"scale": float(w), "bn": bn, "no_bn": plain})
        ctx.emit("scale_%d" % i, {"scale": float(w), "bn_final": bn[-1],
                                  "no_bn_final": plain[-1]},
                 "w = %.3g: final train acc BN %.3f, without BN %.3f%s"
                 % (w, bn[-1], plain[-1], "  (BN better)" if win else ""))
    ctx.emit("bn_wins", int(wins), "BN ends higher at %d of %d weight scales"
             % (wins, len(scales)))
    ctx.note("sweep", sweep)
    ctx.plot(lambda: _speed_figure(speed, p, ctx.dataset), "batchnorm-speed.png")
    ctx.plot(lambda: _sweep_figure(sweep, p, ctx.dataset), "batchnorm-scales.png")


def _speed_figure(speed, p, dataset):
    from ._common import new_figure
    fig = new_figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    ep = np.arange(len(speed[True]))
    ax.plot(ep, speed[True], "-", marker="o", markersize=4, label="Batch Normalization")
    ax.plot(ep, speed[False], "--", marker="s", markersize=4, label="without BN")
    ax.set_xlabel("epochs")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("train accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("Learning speed with and without BN (init %s, %d samples, %s)"
                 % (p["speed_init"], p["train_size"], dataset), fontsize=10)
    # below the axes: inside, it covers one curve or the other at some settings
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def _sweep_figure(sweep, p, dataset):
    from ._common import new_figure
    n = len(sweep)
    ncols = 4
    nrows = int(np.ceil(n / ncols))
    fig = new_figure(figsize=(11, 2.5 * nrows))
    for i, s in enumerate(sweep):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ep = np.arange(len(s["bn"]))
        ax.plot(ep, s["bn"], "-", color="tab:blue", label="Batch Normalization")
        ax.plot(ep, s["no_bn"], "--", color="tab:orange", label="Normal (without BN)")
        ax.set_ylim(0, 1)
        ax.set_title("W: %.3g" % s["scale"], fontsize=9)
        ax.tick_params(labelsize=7)
        if i % ncols:
            ax.set_yticks([])
        else:
            ax.set_ylabel("accuracy", fontsize=8)
        if i < n - ncols:
            ax.set_xticks([])
        else:
            ax.set_xlabel("epochs", fontsize=8)
        if i == n - 1:
            ax.legend(loc="lower right", fontsize=7)
    fig.suptitle("Train accuracy with BN (solid) and without (dashed) for %d weight scales "
                 "(%d samples, %s)" % (n, p["train_size"], dataset), fontsize=10)
    fig.tight_layout()
    return fig
