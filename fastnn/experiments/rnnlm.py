"""The sequel's chapter 6: an LSTM language model (``Rnnlm``: embedding,
LSTM, affine) trained by SGD with gradient clipping on truncated
backpropagation through time, its perplexity every few iterations (the
book's Figure 6-26 curve).

The corpus needs no download (the licence texts of a Debian system;
``--set corpus=PATH`` for the PTB's ptb.train.txt, the book's).  The NumPy
twin (the book's loops) trains from the same seed on the same batches for
``reference`` epochs: its perplexities lie on fastnn's (float32 rounding
apart: fastnn sums dWx, dWh over the whole sequence in one GEMM each).
"""
import numpy as np

from ._nlp import Timed, ops_name, speed_note, step, text_corpus

NAME = "rnnlm"
TITLE = "An LSTM language model and its perplexity (the sequel's chapter 6)"
BOOK_FIGURES = []      # the sequel's experiments: SEQUEL_CHAPTER says where
SEQUEL_CHAPTER = 6
USES_DATASET = False

DEFAULTS = {
    "corpus": None,
    "max_words": None,
    "batch_size": 20,
    "wordvec_size": 100,
    "hidden_size": 100,
    "time_size": 35,
    "lr": 20.0,
    "max_grad": 0.25,
    "epochs": 4,
    "eval_interval": 10,
    "reference": 1,
}
QUICK = {"max_words": 8000, "wordvec_size": 32, "hidden_size": 32, "epochs": 2,
         "eval_interval": 5}


def _batches(corpus, batch_size, time_size, iters_per_epoch, epochs):
    """The book's RnnlmTrainer.get_batch: batch_size readers spread over the
    corpus, each reading time_size consecutive words per iteration."""
    xs, ts = corpus[:-1], corpus[1:]
    n = len(xs)
    offsets = np.arange(batch_size) * (n // batch_size)
    time_idx = 0
    for _ in range(epochs * iters_per_epoch):
        pos = (offsets[:, None] + time_idx + np.arange(time_size)[None, :]) % n
        yield xs[pos].astype("i"), ts[pos].astype("i")
        time_idx += time_size


def _train(ctx, backend, epochs, corpus, V, timed):
    from ..backends import use_ops
    from ..nlp.optimizer import SGD
    from ..nlp.rnnlm import Rnnlm
    p = ctx.p
    np.random.seed(ctx.seed)
    with use_ops(ops_name(backend)):
        model = Rnnlm(V, p["wordvec_size"], p["hidden_size"])
    opt = SGD(p["lr"])
    iters = (len(corpus) - 1) // (p["batch_size"] * p["time_size"])
    ppl, total, count = [], 0.0, 0
    for i, (x, t) in enumerate(_batches(corpus, p["batch_size"], p["time_size"], iters, epochs)):
        total += step(model, opt, x, t, max_grad=p["max_grad"], timed=timed, name=backend)
        count += 1
        if (i + 1) % p["eval_interval"] == 0:
            ppl.append(float(np.exp(total / count)))
            total, count = 0.0, 0
    return ppl, iters


def run(ctx):
    p = ctx.p
    corpus, word_to_id, _, source = text_corpus(p["corpus"], p["max_words"])
    V = len(word_to_id)
    need = p["batch_size"] * p["time_size"] + 1
    if len(corpus) < need:
        raise ValueError("the corpus has %d words; batch_size x time_size needs %d"
                         % (len(corpus), need))
    ctx.emit("corpus", {"words": int(len(corpus)), "vocabulary": V, "source": source},
             "%d words, vocabulary %d (%s)" % (len(corpus), V, source))
    timed = Timed()
    fast = ctx.backend
    curves = {}
    curves[fast], iters = _train(ctx, fast, p["epochs"], corpus, V, timed)
    ref = "reference" if fast == "fast" else "fast"
    if p["reference"]:
        curves[ref], _ = _train(ctx, ref, min(p["reference"], p["epochs"]), corpus, V, timed)
        k = len(curves[ref])
        gap = max((abs(a - b) / b for a, b in zip(curves[fast][:k], curves[ref])), default=0.0)
        ctx.emit("reference", {"evaluations": k, "max_relative_gap": gap,
                               "seconds_per_step": {b: timed.per_step(b) for b in curves}},
                 "%s; the twin's %d perplexities within %.1e of fastnn's"
                 % (speed_note(timed, "fast", "reference"), k, gap))
    c = curves[fast]
    ctx.emit("perplexity", {"first": c[0] if c else None, "last": c[-1] if c else None,
                            "iterations_per_epoch": iters},
             "perplexity %.1f -> %.1f (vocabulary %d) over %d epochs of %d iterations"
             % (c[0], c[-1], V, p["epochs"], iters) if c else "no evaluation (too few iterations)")
    ctx.note("curves", curves)
    ctx.plot(lambda: _figure(curves, timed, source, p), "rnnlm-perplexity.png")


def _figure(curves, timed, source, p):
    from ._common import new_figure
    fig = new_figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for name, style, label in (("fast", "-", "fastnn"),
                               ("reference", "--", "NumPy twin (the book's code)")):
        if name in curves:
            c = curves[name]
            ax.plot((np.arange(len(c)) + 1) * p["eval_interval"], c, style, label=label)
    ax.set_xlabel("iterations")
    ax.set_ylabel("perplexity")
    ax.set_title("Rnnlm (LSTM %d) on %s\n%s" % (p["hidden_size"], source,
                                                speed_note(timed, "fast", "reference")),
                 fontsize=9)
    ax.legend()
    fig.tight_layout()
    return fig
