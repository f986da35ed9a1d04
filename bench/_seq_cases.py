"""bench/compare.py's cases of the sequel's part 2 (word2vec, seq2seq,
attention): one training step of the book's models as its scripts take it
(forward, backward, remove_duplicate, clipping where the script clips,
Adam), and the two kernels where the book's NumPy is furthest off (the
negative sampler, TimeAttention).

"reference" is the book's own model files when a checkout is found
($FASTNN_BOOK2_DIR, else /work/book2), else the NumPy twin (the same
classes built inside ``use_ops("numpy")``), and the name says so.  The
CBOW step's floor is Adam's pass over both embedding matrices (the memory
they move at the measured bandwidth); the seq2seq steps' floor is their
GEMMs alone, as the book's code shapes them (_book_gemms).
"""
import os
import sys

import numpy as np

from fastnn.backends import get_ops, use_ops


def _book2():
    book = os.environ.get("FASTNN_BOOK2_DIR") or ("/work/book2" if os.path.isdir(
        "/work/book2/common") else None)
    if book is None:
        return None
    for d in (book, os.path.join(book, "ch04"), os.path.join(book, "ch07"),
              os.path.join(book, "ch08")):
        if d not in sys.path:
            sys.path.insert(0, d)
    return book


def _step_fn(model, opt, x, t, max_grad, rd, clip):
    def run():
        model.forward(x, t)
        model.backward()
        params, grads = rd(model.params, model.grads)
        if max_grad is not None:
            clip(grads, max_grad)
        opt.update(params, grads)
    return run


def _models(make_mine, make_book, opt_mine, rd_mine, clip_mine, x, t, max_grad):
    book = _book2()
    np.random.seed(0)
    fns = {"fastnn": _step_fn(make_mine(), opt_mine(), x, t, max_grad, rd_mine, clip_mine)}
    if book is not None:
        from common.optimizer import Adam
        from common.trainer import remove_duplicate
        from common.util import clip_grads
        np.random.seed(0)
        fns["reference"] = _step_fn(make_book(), Adam(), x, t, max_grad, remove_duplicate,
                                    clip_grads)
    else:
        np.random.seed(0)
        with use_ops("numpy"):
            twin = make_mine()
        fns["reference"] = _step_fn(twin, opt_mine(), x, t, max_grad, rd_mine, clip_mine)
    return fns


def case_cbow_step():
    from fastnn.nlp.cbow import CBOW
    from fastnn.nlp.optimizer import Adam
    from fastnn.nlp.trainer import remove_duplicate
    from fastnn.nlp.util import clip_grads
    rng = np.random.default_rng(0)
    V, H, W, B = 10000, 100, 5, 100
    corpus = (rng.zipf(1.3, 200000) - 1) % V
    corpus[:V] = np.arange(V)
    contexts = rng.integers(0, V, (B, 2 * W))
    target = rng.integers(0, V, B)

    def book():
        import cbow
        return cbow.CBOW(V, H, W, corpus)
    fns = _models(lambda: CBOW(V, H, W, corpus), book, Adam, remove_duplicate, clip_grads,
                  contexts, target, None)
    nbytes = 2 * (V * H * 4) * 7      # Adam over W_in and W_out: p, g, m, v read; p, m, v written
    return fns, (nbytes, nbytes)


def _zipf_corpus(V=10000, n=200000):
    """The CBOW cases' corpus: zipfian word ids, every id present."""
    rng = np.random.default_rng(0)
    corpus = (rng.zipf(1.3, n) - 1) % V
    corpus[:V] = np.arange(V)
    return corpus


def _sparse_cbow_case(sampler_mode):
    """The sparse mode's step (CBOW(..., sparse=True), LazyAdam; not the
    book's algorithm) as "fastnn", the book-exact step of fastnn's CBOW
    (dense gradients, remove_duplicate, Adam, the exact sampler) as
    "reference": the same sizes, batch and corpus as case_cbow_step."""
    from fastnn.nlp.cbow import CBOW
    from fastnn.nlp.optimizer import Adam, LazyAdam
    from fastnn.nlp.trainer import remove_duplicate
    rng = np.random.default_rng(0)
    V, H, W, B = 10000, 100, 5, 100
    corpus = _zipf_corpus(V)
    contexts = rng.integers(0, V, (B, 2 * W))
    target = rng.integers(0, V, B)
    np.random.seed(0)
    sparse = CBOW(V, H, W, corpus, sparse=True, sampler_mode=sampler_mode,
                  seed=0 if sampler_mode == "fast" else None)
    np.random.seed(0)
    book = CBOW(V, H, W, corpus)
    fns = {"fastnn": _step_fn(sparse, LazyAdam(), contexts, target, None, remove_duplicate,
                              None),
           "reference": _step_fn(book, Adam(), contexts, target, None, remove_duplicate, None)}
    fns["floor"] = fns["fastnn"]
    return fns, "the step itself"


def case_cbow_sparse_step():
    return _sparse_cbow_case("exact")


def case_cbow_sparse_fast_step():
    return _sparse_cbow_case("fast")


def _seq2seq_case(name, V, D, H, B, T_in, T_out):
    from fastnn.nlp.optimizer import Adam
    from fastnn.nlp.trainer import remove_duplicate
    from fastnn.nlp.util import clip_grads
    if name == "Seq2seq":
        from fastnn.nlp.seq2seq import Seq2seq as Mine
        module, cls = "seq2seq", "Seq2seq"
    else:
        from fastnn.nlp.attention_seq2seq import AttentionSeq2seq as Mine
        module, cls = "attention_seq2seq", "AttentionSeq2seq"
    rng = np.random.default_rng(1)
    x = rng.integers(0, V, (B, T_in))
    t = rng.integers(0, V, (B, T_out))

    def book():
        import importlib
        return getattr(importlib.import_module(module), cls)(V, D, H)
    fns = _models(lambda: Mine(V, D, H), book, Adam, remove_duplicate, clip_grads, x, t, 5.0)
    return fns, "floor"


def _book_gemms(lstms, affine, dtype=np.float32):
    """One step's GEMMs as the book's code shapes them, on NumPy's BLAS, and
    nothing else: per LSTM (N, D, H, T) T input and T recurrent products
    forward, and per step dWx, dWh, dx and dh backward (its LSTM.backward);
    the output layer (rows, Hin, V) one product forward and dW, dx backward
    (TimeAffine).  Attention's weighted sums are broadcasts in the book, not
    GEMMs: they are left out."""
    rng = np.random.default_rng(0)
    mats = lambda *shape: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    work = []
    for N, D, H, T in lstms:
        work.append((T, mats(N, D), mats(D, 4 * H), mats(N, H), mats(H, 4 * H), mats(N, 4 * H),
                     np.empty((N, 4 * H), dtype), np.empty((D, 4 * H), dtype),
                     np.empty((H, 4 * H), dtype), np.empty((N, D), dtype),
                     np.empty((N, H), dtype)))
    rows, hin, V = affine
    x, W, dsc = mats(rows, hin), mats(hin, V), mats(rows, V)
    sc, dW, dx = np.empty((rows, V), dtype), np.empty((hin, V), dtype), np.empty((rows, hin), dtype)

    def run():
        for T, xt, Wx, h, Wh, dA, a, dWx, dWh, dxt, dh in work:
            for _ in range(T):
                np.dot(xt, Wx, out=a)
                np.dot(h, Wh, out=a)
            for _ in range(T):
                np.dot(xt.T, dA, out=dWx)
                np.dot(h.T, dA, out=dWh)
                np.dot(dA, Wx.T, out=dxt)
                np.dot(dA, Wh.T, out=dh)
        np.dot(x, W, out=sc)
        np.dot(x.T, dsc, out=dW)
        np.dot(dsc, W.T, out=dx)
    return run


_GEMM_FLOOR = "the step's GEMMs alone, as the book shapes them (NumPy's BLAS)"


def case_seq2seq_step():
    fns, _ = _seq2seq_case("Seq2seq", 13, 16, 128, 128, 7, 5)
    fns["floor"] = _book_gemms([(128, 16, 128, 7), (128, 16, 128, 5)], (128 * 5, 128, 13))
    return fns, _GEMM_FLOOR


def case_attention_seq2seq_step():
    fns, _ = _seq2seq_case("AttentionSeq2seq", 59, 16, 256, 128, 29, 11)
    fns["floor"] = _book_gemms([(128, 16, 256, 29), (128, 16, 256, 11)],
                               (128 * 11, 2 * 256, 59))
    return fns, _GEMM_FLOOR


def case_sampler():
    rng = np.random.default_rng(2)
    V = 10000
    counts = np.bincount((rng.zipf(1.3, 500000) - 1) % V, minlength=V).astype(np.float64)
    counts[counts == 0] = 1
    word_p = counts ** 0.75
    word_p /= np.sum(word_p)
    target = rng.integers(0, V, 100)
    ops, ref = get_ops(), get_ops("numpy")
    fns = {"fastnn": lambda: ops.unigram_sample(word_p, target, 5),
           "reference": lambda: ref.unigram_sample(word_p, target, 5)}
    nbytes = 100 * V * 8 * 2              # each row's cumulative sum over V (read and write)
    return fns, (nbytes, V * 16)


def case_time_attention():
    from fastnn.nlp.attention_layer import TimeAttention
    rng = np.random.default_rng(3)
    N, T, Td, H = 128, 29, 11, 256
    hs = rng.standard_normal((N, T, H)).astype(np.float32)
    hd = rng.standard_normal((N, Td, H)).astype(np.float32)
    dout = rng.standard_normal((N, Td, H)).astype(np.float32)
    fast = TimeAttention()
    with use_ops("numpy"):
        twin = TimeAttention()

    def fb(layer):
        def run():
            layer.forward(hs, hd)
            layer.backward(dout)
        return run
    fns = {"fastnn": fb(fast), "reference": fb(twin)}
    nbytes = 4 * Td * hs.nbytes            # hs read twice each way per decoder step
    return fns, (nbytes, hs.nbytes + 4 * hd.nbytes)


def seq_cases():
    suffix = "" if _book2() is not None else " (reference: NumPy twin)"
    yield "train step CBOW V=10000 f32" + suffix, case_cbow_step
    yield "CBOW sparse+LazyAdam (ref: book-exact fastnn) V=10000", case_cbow_sparse_step
    yield ("CBOW sparse+LazyAdam, fast sampler (ref: book-exact fastnn) V=10000",
           case_cbow_sparse_fast_step)
    yield "negative sampler V=10000 B=100", case_sampler
    yield "TimeAttention fwd+bwd 128x29x11x256 f32", case_time_attention
    yield "train step Seq2seq f32" + suffix, case_seq2seq_step
    yield "train step AttentionSeq2seq f32" + suffix, case_attention_seq2seq_step


# -- word2vec in words per second, beside gensim ------------------------------------
#
#     python bench/_seq_cases.py [--ptb FILE] [--repeats 3]
#
# prints the words/s of CBOW (V=10,000 zipfian corpus of 200,000 words, or
# the PTB file given, H=100, window 5, 5 negatives, batch 100) trained by
# fastnn's book-exact step, by the sparse mode, and by gensim's Word2Vec CBOW
# (same vector_size, window, negative; sample=0 and shrink_windows=False so
# that it does the same work a word; 1 worker and gensim's default of 3)
# when gensim is importable.  A CBOW step of batch B trains B target words,
# as gensim trains each word of the corpus once an epoch.  Not a CI check:
# gensim is never a dependency of fastnn or its tests.


def _fastnn_words_per_second(corpus, V, *, sparse, sampler_mode, steps, B=100, H=100, W=5):
    import time
    from fastnn.nlp.cbow import CBOW
    from fastnn.nlp.optimizer import Adam, LazyAdam
    from fastnn.nlp.trainer import remove_duplicate
    from fastnn.nlp.util import create_contexts_target
    contexts, target = create_contexts_target(corpus, W)
    np.random.seed(0)
    model = CBOW(V, H, W, corpus, sparse=sparse, sampler_mode=sampler_mode,
                 seed=0 if sampler_mode == "fast" else None)
    opt = LazyAdam() if sparse else Adam()
    n = min(steps, len(target) // B)
    start = time.perf_counter()
    for i in range(n):
        x, t = contexts[i * B:(i + 1) * B], target[i * B:(i + 1) * B]
        model.forward(x, t)
        model.backward()
        params, grads = remove_duplicate(model.params, model.grads)
        opt.update(params, grads)
    return n * B / (time.perf_counter() - start)


def _gensim_words_per_second(corpus, workers, H=100, W=5):
    """gensim's CBOW over the corpus (sentences of 1000 words), one epoch:
    (raw words / the train() call's seconds, gensim's own logged effective
    words/s)."""
    import logging
    import re
    import time
    from gensim.models import Word2Vec
    words = [str(w) for w in corpus]
    sentences = [words[i:i + 1000] for i in range(0, len(words), 1000)]
    kw = dict(vector_size=H, window=W, negative=5, hs=0, sg=0, cbow_mean=1, min_count=1,
              sample=0, shrink_windows=False, seed=0, epochs=1)
    if workers is not None:
        kw["workers"] = workers
    model = Word2Vec(**kw)
    model.build_vocab(sentences)
    logged = []

    class Grab(logging.Handler):
        def emit(self, record):
            m = re.search(r"([0-9.]+) effective words/s", record.getMessage())
            if m:
                logged.append(float(m.group(1)))
    log = logging.getLogger("gensim.models.word2vec")
    handler, level = Grab(), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        start = time.perf_counter()
        model.train(sentences, total_examples=len(sentences), epochs=1)
        took = time.perf_counter() - start
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    return len(words) / took, (logged[-1] if logged else None), model.workers


def words_per_second_table(corpus=None, V=None, repeats=3):
    """Rows (name, words/s median, all runs) of the comparison above."""
    import statistics
    if corpus is None:
        V = 10000
        corpus = _zipf_corpus(V)
    runs = {}
    specs = [("fastnn CBOW book-exact step (Adam, exact sampler)",
              lambda: _fastnn_words_per_second(corpus, V, sparse=False, sampler_mode="exact",
                                               steps=40)),
             ("fastnn CBOW sparse=True + LazyAdam, exact sampler",
              lambda: _fastnn_words_per_second(corpus, V, sparse=True, sampler_mode="exact",
                                               steps=60)),
             ("fastnn CBOW sparse=True + LazyAdam, fast sampler",
              lambda: _fastnn_words_per_second(corpus, V, sparse=True, sampler_mode="fast",
                                               steps=1000))]
    try:
        import gensim  # noqa: F401  (benchmark only: never a dependency)
        have_gensim = True
    except ImportError:
        have_gensim = False
    if have_gensim:
        specs.append(("gensim %s Word2Vec CBOW, workers=1" % gensim.__version__,
                      lambda: _gensim_words_per_second(corpus, 1)[0]))
        specs.append(("gensim %s Word2Vec CBOW, workers=default (3)" % gensim.__version__,
                      lambda: _gensim_words_per_second(corpus, None)[0]))
    for _ in range(repeats):            # alternating, so a neighbour's load hits all
        for name, fn in specs:
            runs.setdefault(name, []).append(fn())
    return [(name, statistics.median(r), r) for name, r in runs.items()], have_gensim


def _main():
    import argparse
    ap = argparse.ArgumentParser(description="word2vec CBOW words/s: fastnn and gensim")
    ap.add_argument("--ptb", default=None, help="a PTB text file (e.g. ptb.valid.txt) as the "
                    "corpus instead of the synthetic zipfian one")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    corpus = V = None
    label = "zipfian corpus, V=10000, 200000 words"
    if args.ptb:
        with open(args.ptb) as fh:
            words = fh.read().replace("\n", "<eos>").strip().split()
        ids = {}
        corpus = np.array([ids.setdefault(w, len(ids)) for w in words])
        V = len(ids)
        label = "%s, V=%d, %d words" % (args.ptb, V, len(corpus))
    rows, have_gensim = words_per_second_table(corpus, V, args.repeats)
    print("CBOW, H=100, window 5, 5 negatives, batch 100 (fastnn); %s; medians of %d "
          "alternating runs" % (label, args.repeats))
    base = rows[0][1]
    for name, med, runs in rows:
        print("| %-55s | %10.0f words/s | %6.1fx | runs %s |"
              % (name, med, med / base, ", ".join("%.0f" % r for r in runs)))
    if not have_gensim:
        print("(gensim is not installed: pip install gensim==4.4.0 for its rows)")


if __name__ == "__main__":
    _main()
