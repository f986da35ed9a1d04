"""Figure 7-24 and the chapter-7 result: SimpleConvNet's first-layer filters
before and after training, and its test accuracy.

The book's network (conv 30x5x5 - ReLU - pool 2x2 - affine 100 - ReLU -
affine 10, weights N(0, 0.01²)) is trained with Adam, batch 100, as in
``ch07/train_convnet.py``; the filters start as noise and turn into edge
and blob detectors.  The book trains 20 epochs at lr 0.001; this runs one
epoch at lr 0.005 (on the bundled sample: test accuracy 0.75, against 0.63
at lr 0.001 and 0.685 for ``fastnn train``'s network after one epoch).
"""
import numpy as np

from .._text import plural

NAME = "convnet"
TITLE = "SimpleConvNet: first-layer filters before and after training (Figure 7-24)"
BOOK_FIGURES = ["7-24"]
USES_DATASET = True

DEFAULTS = {
    "epochs": 1,
    "batch_size": 100,
    "lr": 0.005,
    "filter_num": 30,
    "filter_size": 5,
    "hidden": 100,
    "weight_init_std": 0.01,
    "train_size": None,         # None: the whole training set
    "test_size": None,
}
QUICK = {"train_size": 1000, "test_size": 200}


def train(ctx):
    """Train the network; returns (network, filters before, trainer)."""
    from ..simple_convnet import SimpleConvNet
    from ..trainer import Trainer
    p = ctx.p
    (x, t), (xt, tt) = ctx.load_data()
    x, xt = x.reshape(-1, 1, 28, 28), xt.reshape(-1, 1, 28, 28)
    if p["train_size"]:
        x, t = x[:p["train_size"]], t[:p["train_size"]]
    if p["test_size"]:
        xt, tt = xt[:p["test_size"]], tt[:p["test_size"]]
    np.random.seed(ctx.seed)
    net = SimpleConvNet(conv_param={'filter_num': p["filter_num"],
                                    'filter_size': p["filter_size"], 'pad': 0, 'stride': 1},
                        hidden_size=p["hidden"], weight_init_std=p["weight_init_std"],
                        backend=ctx.backend)
    before = net.params['W1'].copy()
    trainer = Trainer(net, x, t, xt, tt, epochs=p["epochs"], mini_batch_size=p["batch_size"],
                      optimizer='Adam', optimizer_param={'lr': p["lr"]}, verbose=False)
    trainer.train()
    return net, before, trainer, (xt, tt)


def run(ctx):
    net, before, trainer, (xt, tt) = train(ctx)
    acc = float(net.accuracy(xt, tt))
    ctx.note("loss_curve", [float(v) for v in trainer.train_loss_list])
    ctx.emit("test_acc", acc, "test accuracy %.4f after %s, %s"
             % (acc, plural(ctx.p["epochs"], "epoch"),
                plural(len(trainer.train_loss_list), "update")))
    after = net.params['W1']
    ctx.plot(lambda: _filters_figure(before, after), "convnet-filters.png")


def _filters_figure(before, after, nx=10):
    from ._common import new_figure
    fn = before.shape[0]
    ny = int(np.ceil(fn / nx))
    fig = new_figure(figsize=(nx * 0.6, 2 * ny * 0.6 + 0.8))
    for block, (title, w) in enumerate((("before training", before),
                                        ("after training", after))):
        for i in range(fn):
            ax = fig.add_subplot(2 * ny, nx, block * ny * nx + i + 1, xticks=[], yticks=[])
            ax.imshow(w[i, 0], cmap="gray_r", interpolation="nearest")
            if i == 0:
                ax.set_title(title, fontsize=8, loc="left")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.92, hspace=0.3, wspace=0.1)
    return fig
