"""The sequel's chapter 7: seq2seq learns addition ("16+75" -> "91") from
examples; reversing the question, then "peeking" (the encoder's state fed
to every decoder step) make it learn faster (the book's Figures 7-23 and
7-26: test accuracy after each epoch).

The data are fastnn's own addition file, in the book's format and size
(generated once into the data folder; see fastnn.nlp.datasets.sequence).
The NumPy twin of the baseline trains from the same seed on the same
batches for ``reference`` epochs: its accuracy lies on fastnn's.
"""
from ._nlp import Timed, sequence_data, speed_note, train_seq2seq

NAME = "seq2seq"
TITLE = "seq2seq on addition: reversed input and Peeky (the sequel's chapter 7)"
BOOK_FIGURES = []      # the sequel's experiments: SEQUEL_CHAPTER says where
SEQUEL_CHAPTER = 7
USES_DATASET = False

DEFAULTS = {
    "train_size": None,         # None: all 45,000
    "test_size": 1000,
    "wordvec_size": 16,
    "hidden_size": 128,
    "batch_size": 128,
    "max_grad": 5.0,
    "epochs": 10,
    "reference": 1,
}
QUICK = {"train_size": 1280, "test_size": 50, "hidden_size": 32, "epochs": 2}

VARIANTS = [("baseline", "Seq2seq", False), ("reversed", "Seq2seq", True),
            ("peeky + reversed", "PeekySeq2seq", True)]


def run(ctx):
    from ..nlp.peeky_seq2seq import PeekySeq2seq
    from ..nlp.seq2seq import Seq2seq
    classes = {"Seq2seq": Seq2seq, "PeekySeq2seq": PeekySeq2seq}
    p = ctx.p
    timed = Timed()
    curves = {}
    for label, cls, reverse in VARIANTS:
        data, char_to_id, _ = sequence_data("addition.txt", p, reverse)
        V = len(char_to_id)

        def make(cls=classes[cls], V=V):
            return cls(V, p["wordvec_size"], p["hidden_size"])
        _, acc, loss = train_seq2seq(ctx, ctx.backend, make, data, p["epochs"], timed,
                                     "fast" if label == "baseline" else label)
        curves[label] = acc
        ctx.emit(label, {"accuracy": acc, "loss": loss},
                 "%-17s test accuracy by epoch: %s (loss %.3f -> %.3f)"
                 % (label, " ".join("%.3f" % a for a in acc), loss[0], loss[-1]))
        if label == "baseline" and p["reference"]:
            other = "reference" if ctx.backend == "fast" else "fast"
            _, ref_acc, ref_loss = train_seq2seq(ctx, other, make, data,
                                                 min(p["reference"], p["epochs"]), timed,
                                                 "reference")
            curves["baseline, NumPy twin"] = ref_acc
            ctx.emit("reference", {"accuracy": ref_acc, "seconds_per_step": {
                "fast": timed.per_step("fast"), "reference": timed.per_step("reference")}},
                "%s; the twin's accuracy by epoch: %s (loss %.4f, fastnn's %.4f)" % (
                    speed_note(timed, "fast", "reference"),
                    " ".join("%.3f" % a for a in ref_acc), ref_loss[0], loss[0]))
    ctx.note("curves", curves)
    ctx.plot(lambda: _figure(curves, timed, p), "seq2seq-accuracy.png")


def _figure(curves, timed, p):
    from ._common import new_figure
    fig = new_figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for label, acc in curves.items():
        style = "--" if "twin" in label else "-"
        ax.plot(range(1, len(acc) + 1), acc, style, marker="o", markersize=4, label=label)
    ax.set_xlabel("epochs")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("seq2seq on addition (H = %d)\n%s" % (
        p["hidden_size"], speed_note(timed, "fast", "reference")), fontsize=9)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig
