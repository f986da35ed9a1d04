"""Figure 6-9: the optimizers training a 5-layer ReLU network on MNIST-like data.

Every optimizer trains its own copy of the same initial network on the same
mini-batches (784-100-100-100-100-10, He init, batch 128); the loss after
each update is recorded and smoothed.  The book's finding: SGD is the
slowest; Momentum, AdaGrad and Adam (and Nesterov, RMSprop) drop faster.
"""
import numpy as np

NAME = "optimizers"
TITLE = "Optimizers on a 5-layer ReLU network (Figure 6-9)"
BOOK_FIGURES = ["6-9"]
USES_DATASET = True

# The book constructs each optimizer with its defaults.
DEFAULTS = {
    "iterations": 2000,
    "batch_size": 128,
    "hidden": [100, 100, 100, 100],
    "optimizers": {"SGD": {}, "Momentum": {}, "Nesterov": {}, "AdaGrad": {},
                   "RMSprop": {}, "Adam": {}},
    "tail": 100,
}
QUICK = {"iterations": 200, "tail": 40}


def run(ctx):
    from .._backend import get_backend
    from ..multi_layer_net import MultiLayerNet
    from ._common import emit_loss_summaries, train_together
    p = ctx.p
    (x_train, t_train), _ = ctx.load_data()
    optim = get_backend(ctx.backend).optimizer
    nets, opts = {}, {}
    for name, kw in p["optimizers"].items():
        np.random.seed(ctx.seed)
        nets[name] = MultiLayerNet(x_train.shape[1], p["hidden"], 10, backend=ctx.backend)
        opts[name] = getattr(optim, name)(**kw)
    losses = train_together(nets, opts, x_train, t_train, p["iterations"],
                            p["batch_size"], ctx.seed)
    emit_loss_summaries(ctx, losses, p["tail"], 8)
    ctx.note("losses", losses)
    ctx.plot(lambda: _figure(losses, p, ctx.dataset), "optimizers.png")


def _figure(losses, p, dataset):
    from ._common import new_figure, smooth_curve
    fig = new_figure(figsize=(7, 4.8))
    ax = fig.add_subplot(1, 1, 1)
    markers = {"SGD": "o", "Momentum": "x", "Nesterov": "v", "AdaGrad": "s",
               "RMSprop": "^", "Adam": "D"}
    for name, curve in losses.items():
        x = np.arange(len(curve))
        every = max(len(curve) // 10, 1)
        ax.plot(x, smooth_curve(curve), marker=markers.get(name, "."), markevery=every,
                markersize=5, label=name)
    ax.set_xlabel("iterations")
    ax.set_ylabel("loss")
    ax.set_ylim(0, 1.5)
    ax.set_title("Optimizers, 784-%s-10 ReLU net, batch %d (%s)"
                 % ("-".join(str(h) for h in p["hidden"]), p["batch_size"], dataset))
    ax.legend()
    fig.tight_layout()
    return fig
