"""``fastnn evaluate PATH``: test accuracy, confusion matrix and per-class accuracy of a
saved network; with matplotlib, PNGs of the confusion matrix and of misclassified images."""
import io
import os

import numpy as np

from .._text import plural
from ._args import (HelpFormatter, UsageError, add_threads_option, check_output_dir,
                    nonnegative_int, path)
from ._data import DATASETS, load as load_data, read_checkpoint
from ._outputs import check_folder

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
DIGITS = tuple(str(d) for d in range(10))


def add_command(sub):
    p = sub.add_parser("evaluate", formatter_class=HelpFormatter,
                       help="test accuracy, confusion matrix and per-class accuracy of a "
                            "saved network", description=__doc__)
    p.add_argument("path", metavar="PATH", type=path, help="a file written by fastnn train --save "
                                                "(or save_network)")
    p.add_argument("--dataset", default=None, choices=DATASETS,
                   help="test set to use (default: the one the network was trained on, "
                        "else sample)")
    p.add_argument("--backend", default=None, choices=["fast", "reference"],
                   help="backend to run it on (default: the saved one)")
    p.add_argument("--out", default="fastnn-results/evaluate", metavar="DIR", type=path,
                   help="where the PNGs go (default: fastnn-results/evaluate)")
    p.add_argument("--no-figures", action="store_true", help="print only, write no PNG")
    p.add_argument("--misclassified", type=nonnegative_int, default=32, metavar="N",
                   help="misclassified images shown in the PNG")
    add_threads_option(p)
    p.set_defaults(func=run_evaluate)


def confusion_matrix(labels, predictions, classes):
    """counts[i, j]: images of class i predicted as class j."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts


def predicted_labels(net, x, batch_size=500):
    """The class ``net`` predicts (inference mode) for each row of ``x``, in batches."""
    return np.concatenate([np.argmax(net.predict(x[i:i + batch_size]), axis=1)
                           for i in range(0, len(x), batch_size)]) if len(x) else \
        np.zeros(0, np.int64)


def run_evaluate(args):
    if not args.no_figures:
        check_output_dir("--out", args.out)
        import importlib.util
        if importlib.util.find_spec("matplotlib") is not None:
            check_folder("--out", args.out)
    ckpt = read_checkpoint(args.path, "PATH", args.backend)
    net = ckpt.network
    saved = (ckpt.extra or {}).get("cli", {}) if isinstance(ckpt.extra, dict) else {}
    dataset = args.dataset or saved.get("dataset") or "sample"
    convnet = hasattr(net, "input_dim")        # SimpleConvNet, DeepConvNet: 4-D images
    _, (x_test, t_test) = load_data(dataset, flatten=not convnet)
    wanted = tuple(net.input_dim) if convnet else (net.input_size,)
    if tuple(x_test.shape[1:]) != wanted:
        raise UsageError("argument --dataset: %s has inputs of shape %s, the network takes %s"
                         % (dataset, x_test.shape[1:], wanted))
    labels = np.argmax(t_test, axis=1) if t_test.ndim == 2 else np.asarray(t_test, np.int64)
    pred = predicted_labels(net, x_test.astype(net.dtype))
    x_test = x_test.reshape(len(x_test), -1)    # the figures show flat images as squares
    classes = net.output_size
    names = (FASHION_CLASSES if dataset != "mnist" else DIGITS)[:classes]
    counts = confusion_matrix(labels, pred, classes)
    acc = float(np.mean(pred == labels))
    print("%s on %s: test accuracy %.4f (%d of %s)"
          % (args.path, dataset, acc, int(np.sum(pred == labels)),
             plural(len(labels), "image")))
    print(format_confusion(counts, names))
    print("per-class accuracy:")
    for i, name in enumerate(names):
        total = counts[i].sum()
        print("  %-12s %.4f  (%s)" % (name, counts[i, i] / total if total else
                                      float("nan"), plural(total, "image")))
    if not args.no_figures:
        try:
            paths = write_figures(args.out, counts, names, x_test, labels, pred,
                                  args.misclassified)
        except ImportError as exc:
            print("no figures: %s" % exc)
        else:
            print("figures: %s" % ", ".join(paths))
    return 0


def format_confusion(counts, names):
    """The confusion matrix as text: one row per true class, one column per prediction."""
    width = max(5, len(str(counts.max())) + 1)
    lines = ["confusion matrix (rows: true class, columns: predicted)"]
    lines.append(" " * 14 + "".join("%*d" % (width, j) for j in range(len(names))))
    for i, name in enumerate(names):
        lines.append("  %-2d %-9s" % (i, name[:9]) + "".join("%*d" % (width, v)
                                                            for v in counts[i]))
    return "\n".join(lines)


def _save(fig, path):
    from .._fileio import atomic_write
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())
    return path


def write_figures(out, counts, names, images, labels, pred, n_wrong):
    """confusion.png and misclassified.png in ``out`` (atomically); returns the paths."""
    from ..experiments._common import new_figure
    n = len(names)
    fig = new_figure(figsize=(7.5, 6.5))
    ax = fig.add_subplot(111)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(n))
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yticks(range(n))
    ax.set_yticklabels(names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (accuracy %.4f)" % (np.trace(counts) / counts.sum()))
    fig.colorbar(im, ax=ax, label="fraction of the true class")
    fig.tight_layout()
    paths = [_save(fig, os.path.join(out, "confusion.png"))]

    wrong = np.flatnonzero(pred != labels)[:n_wrong]
    side = int(round(np.sqrt(images.shape[1]))) if images.ndim == 2 else None
    if len(wrong) and side and side * side == images.shape[1]:
        cols = 8
        rows = (len(wrong) + cols - 1) // cols
        fig = new_figure(figsize=(cols * 1.3, rows * 1.55))
        for k, idx in enumerate(wrong):
            ax = fig.add_subplot(rows, cols, k + 1)
            ax.imshow(images[idx].reshape(side, side), cmap="gray_r")
            ax.set_title("%s\n(as %s)" % (names[labels[idx]][:11], names[pred[idx]][:11]),
                         fontsize=7)
            ax.axis("off")
        fig.suptitle("misclassified test images: true (predicted)", fontsize=9)
        fig.tight_layout()
        paths.append(_save(fig, os.path.join(out, "misclassified.png")))
    return paths
