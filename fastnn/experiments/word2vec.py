"""The sequel's chapter 4: word2vec (CBOW with negative sampling) trained
with Adam, then the nearest words of a few queries and the book's analogy
questions.

The corpus needs no download: by default the licence texts every Debian
system carries (about 36,000 words; ``--set corpus=PATH`` takes any text
file, e.g. the PTB's ptb.train.txt, which the book uses).  fastnn and its
NumPy twin (the book's formulas, the book's negative-sampling stream) are
trained from one seed on the same batches: their loss curves are the same
numbers, and the figure gives both step times.
"""
import numpy as np

from ._nlp import Timed, ops_name, same_batches, speed_note, step, text_corpus

NAME = "word2vec"
TITLE = "word2vec: CBOW with negative sampling (the sequel's chapter 4)"
BOOK_FIGURES = []      # the sequel's experiments: SEQUEL_CHAPTER says where
SEQUEL_CHAPTER = 4
USES_DATASET = False

DEFAULTS = {
    "corpus": None,
    "max_words": None,
    "window_size": 5,
    "hidden_size": 100,
    "batch_size": 100,
    "epochs": 10,
    "reference": 1,             # epochs of the NumPy twin (0: none)
    "queries": ["you", "software", "license", "program", "copyright"],
    "top": 5,
}
QUICK = {"max_words": 6000, "window_size": 2, "hidden_size": 32, "epochs": 2}

# The book's analogy questions (chapter 4), asked when their words are known.
ANALOGIES = [("king", "man", "queen"), ("take", "took", "go"), ("car", "cars", "child"),
             ("good", "better", "bad")]


def _train(ctx, backend, epochs, corpus, contexts, target, V, timed):
    from ..backends import use_ops
    from ..nlp.cbow import CBOW
    from ..nlp.optimizer import Adam
    p = ctx.p
    np.random.seed(ctx.seed)
    with use_ops(ops_name(backend)):
        model = CBOW(V, p["hidden_size"], p["window_size"], corpus)
    opt = Adam()
    order = same_batches(ctx.seed)
    n, B = len(target), p["batch_size"]
    losses = []
    for _ in range(epochs):
        idx = order.permutation(n)
        for i in range(n // B):
            sel = idx[i * B:(i + 1) * B]
            losses.append(step(model, opt, contexts[sel], target[sel], timed=timed,
                               name=backend))
    return model, losses


def run(ctx):
    from ..nlp.util import create_contexts_target, normalize
    p = ctx.p
    corpus, word_to_id, id_to_word, source = text_corpus(p["corpus"], p["max_words"])
    V = len(word_to_id)
    contexts, target = create_contexts_target(corpus, p["window_size"])
    ctx.emit("corpus", {"words": int(len(corpus)), "vocabulary": V, "source": source},
             "%d words, vocabulary %d (%s)" % (len(corpus), V, source))
    timed = Timed()
    fast = ctx.backend
    model, losses = _train(ctx, fast, p["epochs"], corpus, contexts, target, V, timed)
    curves = {fast: losses}
    ref = "reference" if fast == "fast" else "fast"
    if p["reference"]:
        _, curves[ref] = _train(ctx, ref, min(p["reference"], p["epochs"]), corpus, contexts,
                                target, V, timed)
        k = len(curves[ref])
        same = bool(np.array_equal(curves[fast][:k], curves[ref]))
        ctx.emit("reference", {"iterations": k, "same_losses": same,
                               "seconds_per_step": {b: timed.per_step(b) for b in curves}},
                 "%s: the NumPy twin's first %d losses %s fastnn's" % (
                     speed_note(timed, "fast", "reference"), k,
                     "equal" if same else "differ from"))
    ctx.emit("loss", {"first": float(np.mean(losses[:10])), "last": float(np.mean(losses[-10:]))},
             "loss %.3f -> %.3f over %d iterations" % (np.mean(losses[:10]),
                                                       np.mean(losses[-10:]), len(losses)))
    vecs = normalize(model.word_vecs.astype(np.float64))
    nearest = {}
    for q in p["queries"]:
        if q not in word_to_id:
            continue
        sims = vecs @ vecs[word_to_id[q]]          # cosine similarities
        sims[word_to_id[q]] = -np.inf
        best = np.argsort(-sims, kind="stable")[:p["top"]]
        nearest[q] = [(id_to_word[int(i)], float(sims[i])) for i in best]
        ctx.emit("nearest " + q, nearest[q], "nearest to %-10s %s" % (
            q, ", ".join("%s (%.2f)" % w for w in nearest[q])))
    answers = {}
    for a, b, c in ANALOGIES:
        if all(w in word_to_id for w in (a, b, c)):
            # the book's analogy: the word nearest to b - a + c, a, b, c excluded
            query = normalize(vecs[word_to_id[b]] - vecs[word_to_id[a]] + vecs[word_to_id[c]])
            sims = vecs @ query
            for w in (a, b, c):
                sims[word_to_id[w]] = -np.inf
            best = int(np.argmax(sims))
            key = "%s:%s = %s:?" % (a, b, c)
            answers[key] = (id_to_word[best], float(sims[best]))
            ctx.emit("analogy " + key, answers[key], "%s -> %s (%.2f)" % (key, *answers[key]))
    if not answers:
        ctx.emit("analogies", {}, "none of the book's analogy questions is in this corpus's "
                 "vocabulary (train on the PTB: --set corpus=ptb.train.txt)")
    ctx.note("curves", curves)
    ctx.plot(lambda: _figure(curves, timed, source, p), "word2vec-loss.png")


def _figure(curves, timed, source, p):
    from ._common import new_figure, smooth_curve
    fig = new_figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for name, style in (("fast", "-"), ("reference", "--")):
        if name in curves:
            c = curves[name]
            ax.plot(np.arange(len(c)), smooth_curve(c) if len(c) > 20 else c, style,
                    label={"fast": "fastnn", "reference": "NumPy twin (the book's code)"}[name])
    ax.set_xlabel("iterations")
    ax.set_ylabel("loss")
    ax.set_title("CBOW, window %d, H = %d, on %s\n%s" % (
        p["window_size"], p["hidden_size"], source, speed_note(timed, "fast", "reference")),
        fontsize=9)
    ax.legend()
    fig.tight_layout()
    return fig
