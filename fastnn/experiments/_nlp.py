"""What the sequel's experiments (word2vec, rnnlm, seq2seq, attention) share:
a text corpus that needs no download, the ops of a backend, and training
loops that run fastnn and its NumPy twin side by side on the same batches.

Each of those experiments trains with ``ctx.backend``'s ops and, unless
``reference`` is 0, also the same model on NumpyOps (the book's formulas,
:func:`fastnn.backends.use_ops`) for the first ``reference`` epochs, from
the same seed on the same batches: its figures draw both curves (they lie
on each other: the same numbers, or float32 rounding apart where fastnn
sums a recurrent gradient over the whole sequence) and give both step
times.
"""
import glob
import os
import time

import numpy as np

__all__ = ["text_corpus", "ops_name", "Timed", "step", "speed_note"]

# English text on every Debian system (the base-files package), used as the
# default corpus: ~36,000 words of licence texts.
LICENSE_DIR = "/usr/share/common-licenses"

_FALLBACK_WORDS = ("the network learns a vector for every word . "
                   "words that appear in the same context get close vectors . ")


def text_corpus(path=None, max_words=None):
    """``(corpus, word_to_id, id_to_word, source)``: the words of ``path`` (a
    text file, e.g. the PTB's ptb.train.txt), else of the licence texts in
    LICENSE_DIR, preprocessed as the book's ``preprocess`` (lower case,
    '.' split off, newlines as '<eos>' as the PTB has them)."""
    if path:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text, source = fh.read(64 << 20), os.path.basename(path)
    else:
        files = sorted(p for p in glob.glob(os.path.join(LICENSE_DIR, "*"))
                       if os.path.isfile(p) and not os.path.islink(p))
        parts = []
        for p in files:
            with open(p, encoding="utf-8", errors="replace") as fh:
                parts.append(fh.read(1 << 20))
        text = " ".join(parts) if parts else _FALLBACK_WORDS * 400
        source = "the licence texts of %s" % LICENSE_DIR if parts else "a built-in text"
    words = []
    for line in text.lower().replace(".", " . ").splitlines():
        if line.strip():
            words += line.split() + ["<eos>"]
    word_to_id, id_to_word = {}, {}
    for w in words:
        if w not in word_to_id:
            word_to_id[w] = len(word_to_id)
            id_to_word[word_to_id[w]] = w
    corpus = np.array([word_to_id[w] for w in words])
    if max_words:
        # ids are given in order of first appearance: the first words' ids are 0 .. k-1
        corpus = corpus[:max_words]
        k = int(corpus.max()) + 1
        id_to_word = {i: w for i, w in id_to_word.items() if i < k}
        word_to_id = {w: i for i, w in id_to_word.items()}
    return corpus, word_to_id, id_to_word, source


def ops_name(backend):
    """The ops of a backend name: 'fast' -> 'compiled', 'reference' -> 'numpy'."""
    return "numpy" if backend in ("reference", "numpy") else "compiled"


class Timed:
    """Seconds spent in training steps, per model."""

    def __init__(self):
        self.seconds = {}
        self.steps = {}

    def add(self, name, seconds):
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.steps[name] = self.steps.get(name, 0) + 1

    def per_step(self, name):
        n = self.steps.get(name, 0)
        return self.seconds[name] / n if n else None


def step(model, optimizer, x, t, max_grad=None, timed=None, name=None):
    """One training step as the book's trainers take it (forward, backward,
    tied weights once, clipping, update); returns the loss."""
    from ..nlp.trainer import remove_duplicate
    from ..nlp.util import clip_grads
    t0 = time.perf_counter()
    loss = model.forward(x, t)
    model.backward()
    params, grads = remove_duplicate(model.params, model.grads)
    if max_grad is not None:
        clip_grads(grads, max_grad)
    optimizer.update(params, grads)
    if timed is not None:
        timed.add(name, time.perf_counter() - t0)
    return float(loss)


def speed_note(timed, fast, ref):
    """'fastnn 3.1 ms, NumPy 41 ms a step (13x)' for a figure's title."""
    a, b = timed.per_step(fast), timed.per_step(ref)
    if a is None or b is None:
        return ""
    return "fastnn %.3g ms, NumPy twin %.3g ms a step (%.1fx)" % (1e3 * a, 1e3 * b, b / a)


def same_batches(seed):
    """A fresh RandomState for the batch order (the models' own draws, e.g.
    negative samples, come from the global np.random, reseeded per model)."""
    return np.random.RandomState(seed)


def seq2seq_accuracy(model, x_test, t_test):
    """The book's eval_seq2seq over the test questions: the fraction whose
    greedy decoding equals the answer."""
    correct = 0
    for i in range(len(x_test)):
        q, a = x_test[[i]], t_test[[i]]
        start_id, answer = int(a[0, 0]), a[0, 1:]
        guess = model.generate(q, start_id, len(answer))
        correct += int([int(g) for g in guess] == [int(c) for c in answer])
    return correct / max(len(x_test), 1)


def train_seq2seq(ctx, backend, make, data, epochs, timed, name):
    """Train ``make()`` (built under ``backend``'s ops, from ctx.seed) with
    Adam and clipping for ``epochs``, the book's loop over shuffled batches;
    returns (model, [test accuracy after each epoch], [mean loss of each epoch])."""
    from ..backends import use_ops
    from ..nlp.optimizer import Adam
    (x, t), (x_test, t_test) = data
    p = ctx.p
    np.random.seed(ctx.seed)
    with use_ops(ops_name(backend)):
        model = make()
    opt = Adam()
    order = same_batches(ctx.seed)
    B, acc, losses = p["batch_size"], [], []
    for _ in range(epochs):
        idx = order.permutation(len(x))
        total = 0.0
        for i in range(len(x) // B):
            sel = idx[i * B:(i + 1) * B]
            total += step(model, opt, x[sel], t[sel], max_grad=p["max_grad"], timed=timed,
                          name=name)
        losses.append(total / max(len(x) // B, 1))
        acc.append(seq2seq_accuracy(model, x_test, t_test))
    return model, acc, losses


def sequence_data(file_name, p, reverse):
    """The toy data set (fastnn's own addition/date files; see
    fastnn.nlp.datasets.sequence), cut to train_size/test_size, the
    questions reversed when ``reverse`` (the book's trick)."""
    from ..nlp.datasets import sequence
    (x, t), (x_test, t_test) = sequence.load_data(file_name)
    char_to_id, id_to_char = sequence.get_vocab()
    if p.get("train_size"):
        x, t = x[:p["train_size"]], t[:p["train_size"]]
    if p.get("test_size"):
        x_test, t_test = x_test[:p["test_size"]], t_test[:p["test_size"]]
    if reverse:
        x, x_test = x[:, ::-1], x_test[:, ::-1]
    return ((x, t), (x_test, t_test)), char_to_id, id_to_char
