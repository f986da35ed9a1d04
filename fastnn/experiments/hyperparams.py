"""Figure 6-24: random search of learning rate and weight decay on log scales.

As in the book's section 6.5: 500 training samples, 20% of them held out
for validation (shuffled, seeded); each trial draws lr from 10^U(-6, -2)
and the weight-decay λ from 10^U(-8, -4), trains a 7-layer network
(784-100×6-10) by SGD and is scored by its final validation accuracy.  The
figure shows the best ``top_k`` trials' validation (solid) and training
(dashed) accuracy per epoch, and the text lists the same trials.  The
book's finding: learning goes well only for lr of
about 1e-3 to 1e-2 (and λ of about 1e-8 to 1e-6): the next search would
narrow the ranges there.

The search is :func:`fastnn.search.random_search` (no pruning, one
process): the same seed gives the same trials.
"""
import numpy as np

from .._text import plural

NAME = "hyperparams"
TITLE = "Hyperparameter random search (Figure 6-24)"
BOOK_FIGURES = ["6-24"]
USES_DATASET = True

DEFAULTS = {
    "samples": 500,
    "validation_split": 0.2,
    "trials": 100,
    "epochs": 50,
    "batch_size": 100,
    "hidden": [100, 100, 100, 100, 100, 100],
    "lr_range": (1e-6, 1e-2),
    "weight_decay_range": (1e-8, 1e-4),
    "top_k": 20,
}
# Quick mode: a fifth of the trials, a third of the epochs; mini-batches of 25
# give each epoch four times the updates at about the same cost, so that (on
# the bundled sample, seed 0) 5 of the top 8 trials learn, all with lr > 1e-3.
QUICK = {"trials": 20, "epochs": 15, "batch_size": 25, "top_k": 8}


def split(x, t, fraction, seed):
    """Shuffle (seeded) and hold out ``fraction`` for validation: (train, validation)."""
    perm = np.random.RandomState(seed).permutation(len(x))
    n_val = int(round(len(x) * fraction))
    val, train = perm[:n_val], perm[n_val:]
    return (x[train], t[train]), (x[val], t[val])


def make_objective(x_tr, t_tr, x_val, t_val, p, backend, train_curves):
    """``objective(params, trial)``: train with ``params``, report the validation
    accuracy every epoch, return the last one; training accuracies go to
    ``train_curves[trial.number]``."""
    from ..multi_layer_net import MultiLayerNet
    from ..trainer import Trainer

    def objective(params, trial):
        np.random.seed(trial.seed % 2 ** 32)
        net = MultiLayerNet(x_tr.shape[1], p["hidden"], 10,
                            weight_decay_lambda=float(params["weight_decay"]), backend=backend)
        trainer = Trainer(net, x_tr, t_tr, x_val, t_val, epochs=p["epochs"],
                          mini_batch_size=p["batch_size"], optimizer="sgd",
                          optimizer_param={"lr": float(params["lr"])}, verbose=False)
        history = trainer.history
        seen = 0
        with np.errstate(all="ignore"):
            while trainer.current_iter < trainer.max_iter:
                trainer.train_step()
                if len(history) > seen:
                    seen = len(history)
                    trial.report(history.test_acc[-1], seen)
                    if trial.should_prune():
                        break
        train_curves[trial.number] = list(history.train_acc)
        return history.test_acc[-1]

    return objective


def run(ctx):
    from ..search import loguniform, random_search
    p = ctx.p
    (x_train, t_train), _ = ctx.load_data()
    x, t = x_train[:p["samples"]], t_train[:p["samples"]]
    (x_tr, t_tr), (x_val, t_val) = split(x, t, p["validation_split"], ctx.seed)
    space = {"lr": loguniform(*p["lr_range"]),
             "weight_decay": loguniform(*p["weight_decay_range"])}
    train_curves = {}
    objective = make_objective(x_tr, t_tr, x_val, t_val, p, ctx.backend, train_curves)
    result = random_search(objective, space, p["trials"], seed=ctx.seed, pruner=None)
    done = sorted([tr for tr in result.trials if tr.value is not None],
                  key=lambda tr: (-tr.value, tr.number))
    top = done[:p["top_k"]]
    trials = [{"number": tr.number, "lr": float(tr.params["lr"]),
               "weight_decay": float(tr.params["weight_decay"]), "val_acc": tr.value,
               "val_curve": list(tr.curve), "train_curve": train_curves.get(tr.number, [])}
              for tr in done]
    ctx.note("trials", trials)
    for rank, tr in enumerate(top, 1):
        ctx.emit("best_%d" % rank, {"lr": float(tr.params["lr"]),
                                    "weight_decay": float(tr.params["weight_decay"]),
                                    "val_acc": tr.value},
                 "Best-%d val acc %.3f: lr %.3g, weight decay %.3g"
                 % (rank, tr.value, tr.params["lr"], tr.params["weight_decay"]))
    k = len(top)
    lrs = [float(tr.params["lr"]) for tr in done[:k]]
    wds = [float(tr.params["weight_decay"]) for tr in done[:k]]
    ctx.emit("top_ranges", {"lr": [min(lrs), max(lrs)], "weight_decay": [min(wds), max(wds)],
                            "k": k, "median_val_acc": float(np.median([tr.value
                                                                       for tr in done]))},
             "the best %s have lr in [%.2g, %.2g] and weight decay in [%.2g, %.2g] "
             "(median val acc of all %s %.3f)"
             % (plural(k, "trial"), min(lrs), max(lrs), min(wds), max(wds),
                plural(len(done), "trial"),
                np.median([tr.value for tr in done])))
    ctx.plot(lambda: _top_figure(trials[:p["top_k"]], p, ctx.dataset), "hyperparams-top.png")
    ctx.plot(lambda: _scatter_figure(trials, p, k), "hyperparams-scatter.png")


def _top_figure(trials, p, dataset):
    from ._common import new_figure
    n = max(len(trials), 1)
    ncols = 5 if n > 8 else 4
    nrows = int(np.ceil(n / ncols))
    fig = new_figure(figsize=(2.8 * ncols, 2.4 * nrows + 0.8))
    for i, tr in enumerate(trials):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ep = np.arange(len(tr["val_curve"]))
        ax.plot(ep, tr["val_curve"], "-", color="tab:blue")
        ax.plot(np.arange(len(tr["train_curve"])), tr["train_curve"], "--",
                color="tab:orange")
        ax.set_ylim(0.0, 1.0)
        ax.set_title("Best-%d (val acc: %.3f)" % (i + 1, tr["val_acc"]), fontsize=9)
        ax.text(0.03, 0.97, "lr %.2g\nλ %.2g" % (tr["lr"], tr["weight_decay"]),
                transform=ax.transAxes, fontsize=8, va="top")
        ax.set_yticks([0, 0.5, 1])
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(labelsize=8)
        if i % ncols:
            ax.set_yticklabels([])
        if i < n - ncols:
            ax.set_xticklabels([])
        else:
            ax.set_xlabel("epochs", fontsize=8)
    fig.suptitle("Top %d of %d trials: validation (solid) and train (dashed) accuracy per "
                 "epoch (%s)" % (len(trials), p["trials"], dataset), fontsize=10)
    fig.tight_layout()
    return fig


def _scatter_figure(trials, p, k):
    from ._common import new_figure
    fig = new_figure(figsize=(6.5, 5))
    ax = fig.add_subplot(1, 1, 1)
    lr = [tr["lr"] for tr in trials]
    wd = [tr["weight_decay"] for tr in trials]
    acc = [tr["val_acc"] for tr in trials]
    sc = ax.scatter(lr, wd, c=acc, cmap="viridis", vmin=0, vmax=max(acc + [0.1]),
                    s=30, edgecolors="k", linewidths=0.3)
    best = trials[:k]
    ax.scatter([tr["lr"] for tr in best], [tr["weight_decay"] for tr in best], s=120,
               facecolors="none", edgecolors="red", linewidths=1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*p["lr_range"])
    ax.set_ylim(*p["weight_decay_range"])
    ax.set_xlabel("learning rate")
    ax.set_ylabel("weight decay λ")
    # the rings are named in the title: a legend inside the axes would cover trials
    ax.set_title("Validation accuracy of every trial (red rings: the best %d)" % k,
                 fontsize=10)
    fig.colorbar(sc, ax=ax, label="validation accuracy")
    fig.tight_layout()
    return fig
