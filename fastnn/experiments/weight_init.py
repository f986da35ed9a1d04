"""Figure 6-15: std 0.01 vs Xavier vs He initial weights, training loss.

A 5-layer ReLU network trained by SGD (lr 0.01, batch 128).  The book's
finding: with std 0.01 the signals vanish and the network does not learn at
all (the loss stays at ln 10 ≈ 2.30); He learns fastest, Xavier follows.
"""
import numpy as np

NAME = "init"
TITLE = "Weight initialisation and learning (Figure 6-15)"
BOOK_FIGURES = ["6-15"]
USES_DATASET = True

DEFAULTS = {
    "iterations": 2000,
    "batch_size": 128,
    "lr": 0.01,
    "hidden": [100, 100, 100, 100],
    "inits": {"std=0.01": 0.01, "Xavier": "sigmoid", "He": "relu"},
    "tail": 100,
}
QUICK = {"iterations": 250, "tail": 50}


def run(ctx):
    from .._backend import get_backend
    from ..multi_layer_net import MultiLayerNet
    from ._common import emit_loss_summaries, train_together
    p = ctx.p
    (x_train, t_train), _ = ctx.load_data()
    optim = get_backend(ctx.backend).optimizer
    nets, opts = {}, {}
    for label, init in p["inits"].items():
        np.random.seed(ctx.seed)
        nets[label] = MultiLayerNet(x_train.shape[1], p["hidden"], 10, weight_init_std=init,
                                    backend=ctx.backend)
        opts[label] = optim.SGD(lr=p["lr"])
    losses = train_together(nets, opts, x_train, t_train, p["iterations"],
                            p["batch_size"], ctx.seed)
    emit_loss_summaries(ctx, losses, p["tail"], 9, lambda label: {"init": p["inits"][label]})
    ctx.note("losses", losses)
    ctx.plot(lambda: _figure(losses, p, ctx.dataset), "init.png")


def _figure(losses, p, dataset):
    from ._common import new_figure, smooth_curve
    fig = new_figure(figsize=(7, 4.8))
    ax = fig.add_subplot(1, 1, 1)
    markers = {"std=0.01": "o", "Xavier": "s", "He": "D"}
    for label, curve in losses.items():
        every = max(len(curve) // 10, 1)
        ax.plot(np.arange(len(curve)), smooth_curve(curve), marker=markers.get(label, "."),
                markevery=every, markersize=5, label=label)
    ax.set_xlabel("iterations")
    ax.set_ylabel("loss")
    ax.set_ylim(0, 2.5)
    ax.set_title("Initial weights, 5-layer ReLU net, SGD lr %g (%s)" % (p["lr"], dataset))
    ax.legend()
    fig.tight_layout()
    return fig
