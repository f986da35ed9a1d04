"""The sequel's chapter 8: attention learns to rewrite dates ("September
27, 1994" -> "1994-09-27"); test accuracy after each epoch, and the
attention weights of a few test questions as heat maps (the book's
Figure 8-26): each output character looks at the input characters it
comes from.

The data are fastnn's own date file, in the book's format and size (see
fastnn.nlp.datasets.sequence); the questions are reversed, as the book
trains.  The NumPy twin trains from the same seed on the same batches for
``reference`` epochs.
"""
import numpy as np

from ._nlp import Timed, sequence_data, speed_note, train_seq2seq

NAME = "attention"
TITLE = "Attention on dates, and its weights (the sequel's chapter 8)"
BOOK_FIGURES = []      # the sequel's experiments: SEQUEL_CHAPTER says where
SEQUEL_CHAPTER = 8
USES_DATASET = False

DEFAULTS = {
    "train_size": None,
    "test_size": 500,
    "wordvec_size": 16,
    "hidden_size": 256,
    "batch_size": 128,
    "max_grad": 5.0,
    "epochs": 10,
    "reference": 1,
    "heatmaps": 3,
}
QUICK = {"train_size": 640, "test_size": 20, "hidden_size": 32, "epochs": 1, "heatmaps": 2}


def run(ctx):
    from ..nlp.attention_seq2seq import AttentionSeq2seq
    p = ctx.p
    data, char_to_id, id_to_char = sequence_data("date.txt", p, reverse=True)
    V = len(char_to_id)

    def make():
        return AttentionSeq2seq(V, p["wordvec_size"], p["hidden_size"])
    timed = Timed()
    model, acc, loss = train_seq2seq(ctx, ctx.backend, make, data, p["epochs"], timed, "fast")
    curves = {"attention": acc}
    ctx.emit("attention", {"accuracy": acc, "loss": loss},
             "test accuracy by epoch: %s (loss %.3f -> %.3f)"
             % (" ".join("%.3f" % a for a in acc), loss[0], loss[-1]))
    if p["reference"]:
        other = "reference" if ctx.backend == "fast" else "fast"
        _, ref_acc, ref_loss = train_seq2seq(ctx, other, make, data,
                                             min(p["reference"], p["epochs"]), timed, "reference")
        curves["attention, NumPy twin"] = ref_acc
        ctx.emit("reference", {"accuracy": ref_acc, "seconds_per_step": {
            "fast": timed.per_step("fast"), "reference": timed.per_step("reference")}},
            "%s; the twin's accuracy by epoch: %s (loss %.4f, fastnn's %.4f)" % (
                speed_note(timed, "fast", "reference"), " ".join("%.3f" % a for a in ref_acc),
                ref_loss[0], loss[0]))
    (_, _), (x_test, t_test) = data
    maps = []
    for i in range(min(p["heatmaps"], len(x_test))):
        q, a = x_test[[i]], t_test[[i]]
        model.forward(q, a)                 # fills the decoder's attention weights
        weights = np.array([w[0] for w in model.decoder.attention.attention_weights])
        question = "".join(id_to_char[int(c)] for c in q[0, ::-1])     # read forwards
        answer = "".join(id_to_char[int(c)] for c in a[0, 1:])
        maps.append((question, answer, weights[:, ::-1]))
    ctx.note("curves", curves)
    ctx.note("heatmaps", [{"question": qq, "answer": aa, "weights": w.tolist()}
                          for qq, aa, w in maps])
    ctx.plot(lambda: _accuracy_figure(curves, timed, p), "attention-accuracy.png")
    for k, (qq, aa, w) in enumerate(maps):
        ctx.plot(lambda qq=qq, aa=aa, w=w: _heatmap(qq, aa, w), "attention-map-%d.png" % (k + 1))


def _accuracy_figure(curves, timed, p):
    from ._common import new_figure
    fig = new_figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for label, acc in curves.items():
        ax.plot(range(1, len(acc) + 1), acc, "--" if "twin" in label else "-", marker="o",
                markersize=4, label=label)
    ax.set_xlabel("epochs")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("AttentionSeq2seq on dates (H = %d)\n%s" % (
        p["hidden_size"], speed_note(timed, "fast", "reference")), fontsize=9)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _heatmap(question, answer, weights):
    from ._common import new_figure
    fig = new_figure(figsize=(7.5, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(weights, cmap="Greys_r", aspect="auto", vmin=0.0,
              vmax=max(float(weights.max()), 1e-9))
    ax.set_xticks(range(len(question)))
    ax.set_xticklabels(list(question.replace(" ", "_")), fontsize=7)
    ax.set_yticks(range(len(answer)))
    ax.set_yticklabels(list(answer), fontsize=7)
    ax.set_xlabel("input (question)")
    ax.set_ylabel("output")
    ax.set_title("attention weights: %r -> %r" % (question.strip(), answer), fontsize=9)
    fig.tight_layout()
    return fig
