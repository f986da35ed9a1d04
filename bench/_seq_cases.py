"""bench/compare.py's cases of the sequel's part 2 (word2vec, seq2seq,
attention): one training step of the book's models as its scripts take it
(forward, backward, remove_duplicate, clipping where the script clips,
Adam), and the two kernels where the book's NumPy is furthest off (the
negative sampler, TimeAttention).

"reference" is the book's own model files when a checkout is found
($FASTNN_BOOK2_DIR, else /work/book2), else the NumPy twin (the same
classes built inside ``use_ops("numpy")``), and the name says so.  The
floor of a step is "the NumPy twin's own GEMMs" is not separated here: the
CBOW step's floor is Adam's pass over both embedding matrices (the memory
they move at the measured bandwidth), the others' the step itself.
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


def case_seq2seq_step():
    fns, _ = _seq2seq_case("Seq2seq", 13, 16, 128, 128, 7, 5)
    fns["floor"] = fns["fastnn"]
    return fns, "the step itself"


def case_attention_seq2seq_step():
    fns, _ = _seq2seq_case("AttentionSeq2seq", 59, 16, 256, 128, 29, 11)
    fns["floor"] = fns["fastnn"]
    return fns, "the step itself"


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
    yield "negative sampler V=10000 B=100", case_sampler
    yield "TimeAttention fwd+bwd 128x29x11x256 f32", case_time_attention
    yield "train step Seq2seq f32" + suffix, case_seq2seq_step
    yield "train step AttentionSeq2seq f32" + suffix, case_attention_seq2seq_step
