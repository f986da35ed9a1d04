"""The sequel's ``ch04/negative_sampling_layer.py``: EmbeddingDot,
UnigramSampler and NegativeSamplingLoss (word2vec with negative sampling).

The book's classes, attributes and numbers.  Two steps run compiled
(:mod:`fastnn._kernels.word2vec`, NumpyOps's book statements for the
inputs they do not take):

* ``EmbeddingDot``: the gather-dot forward and the scatter-add backward in
  one pass each (no ``W[idx] * h`` temporary, no ``np.add.at``);
* ``UnigramSampler.get_negative_sample``: the book's per-row
  ``np.random.choice(V, size, replace=False, p)`` from the global
  ``np.random``, bit for bit: a seeded script prints the book's numbers.
"""
import collections  # noqa: F401  (the book's module imports it)

from . import _grad_rows
from .config import require_cpu
from .layers import Embedding, SigmoidWithLoss, _Layer, _scatter_tracked, check_ids
from .np import *  # noqa: F401,F403

__all__ = ["EmbeddingDot", "UnigramSampler", "NegativeSamplingLoss"]


class EmbeddingDot(_Layer):
    """out[i] = W[idx[i]] · h[i]; ``embed`` is the book's Embedding of W
    (``params``/``grads`` are its lists), ``cache`` holds (h, W[idx])."""

    def __init__(self, W):
        self.embed = Embedding(W)
        self.params = self.embed.params
        self.grads = self.embed.grads
        self.cache = None
        self._own_buffers()

    def forward(self, h, idx):
        W, = self.params
        check_ids("idx", idx, W.shape[0])
        out, target_W = self.ops.embedding_dot_forward(W, idx, h)
        self.embed.idx = idx
        self.cache = (h, target_W)
        return out

    def backward(self, dout):
        h, target_W = self.cache
        dW, = self.grads
        idx = self.embed.idx
        return _scatter_tracked(dW, idx, lambda stale: self.ops.embedding_dot_backward(
            dW, idx, h, target_W, dout, stale))


class UnigramSampler:
    """Negative samples drawn from the unigram distribution raised to
    ``power`` (word2vec's 0.75), the target word excluded, ``sample_size``
    distinct words a row.

    As in the book, ``vocab_size`` is the number of distinct ids in the
    corpus and ``word_p[i]`` the count of id i for i below it.

    ``mode='exact'`` (default): the book's stream, from the global
    ``np.random``, bit for bit.  ``mode='fast'`` (not in the book): the same
    distribution drawn from an alias table with its own Generator
    (``self.rng``, from ``seed``), repeats and targets redrawn: a few
    microseconds a batch instead of a pass over the vocabulary per row, and
    not the book's samples."""

    def __init__(self, corpus, power, sample_size, *, mode="exact", seed=None):
        require_cpu()
        if mode not in ("exact", "fast"):
            raise ValueError("mode must be 'exact' (the book's random stream) or 'fast', "
                             "got %r" % (mode,))
        if mode == "exact" and seed is not None:
            raise ValueError("seed is only used with mode='fast'; mode='exact' draws from "
                             "the global np.random (seed it with np.random.seed)")
        self.mode = mode
        self.sample_size = sample_size
        corpus = np.asarray(corpus)
        if corpus.ndim != 1 or corpus.dtype.kind not in "iu":
            raise TypeError("corpus must be a 1-D array of integer word ids, got %s %s"
                            % (corpus.dtype, corpus.shape))
        if corpus.size and corpus.min() < 0:
            raise ValueError("corpus holds the negative word id %d" % corpus.min())
        ids = np.unique(corpus)
        self.vocab_size = int(ids.size)
        counts = np.bincount(corpus, minlength=self.vocab_size)[:self.vocab_size]
        self.word_p = np.zeros(self.vocab_size)
        self.word_p[:] = counts
        self.word_p = np.power(self.word_p, power)
        self.word_p /= np.sum(self.word_p)
        self.ops = _ops()
        self.rng = None
        if mode == "fast":
            if np.count_nonzero(self.word_p) <= sample_size:
                raise ValueError("mode='fast' needs more than sample_size=%d words of nonzero "
                                 "probability" % sample_size)
            self.rng = np.random.default_rng(seed)
            self._alias = self.ops.alias_table(self.word_p)

    def get_negative_sample(self, target):
        require_cpu()
        check_ids("target", target, self.vocab_size)
        if self.mode == "fast":
            return self.ops.unigram_sample_fast(*self._alias, np.asarray(target),
                                                self.sample_size, self.rng)
        return self.ops.unigram_sample(self.word_p, np.asarray(target), self.sample_size)


def _ops():
    from ..backends import get_ops
    return get_ops(None)


class NegativeSamplingLoss(_grad_rows.ReleasedOnPickle):
    """The positive target's loss plus ``sample_size`` negatives', each a
    SigmoidWithLoss over an EmbeddingDot of W (all sharing W, as the book's).
    ``sampler_mode='fast'`` (and ``seed``): the alias-table sampler, not the
    book's stream (see :class:`UnigramSampler`)."""

    def __init__(self, W, corpus, power=0.75, sample_size=5, *, sampler_mode="exact",
                 seed=None):
        require_cpu()
        self.sample_size = sample_size
        self.sampler = UnigramSampler(corpus, power, sample_size, mode=sampler_mode, seed=seed)
        self.loss_layers = [SigmoidWithLoss() for _ in range(sample_size + 1)]
        self.embed_dot_layers = [EmbeddingDot(W) for _ in range(sample_size + 1)]
        self.params, self.grads = [], []
        for layer in self.embed_dot_layers:
            self.params += layer.params
            self.grads += layer.grads

    def forward(self, h, target):
        batch_size = target.shape[0]
        negative_sample = self.sampler.get_negative_sample(target)
        score = self.embed_dot_layers[0].forward(h, target)
        loss = self.loss_layers[0].forward(score, np.ones(batch_size, dtype=np.int32))
        negative_label = np.zeros(batch_size, dtype=np.int32)
        for i in range(self.sample_size):
            score = self.embed_dot_layers[1 + i].forward(h, negative_sample[:, i])
            loss += self.loss_layers[1 + i].forward(score, negative_label)
        return loss

    def backward(self, dout=1):
        dh = 0
        for loss_layer, dot_layer in zip(self.loss_layers, self.embed_dot_layers):
            dh += dot_layer.backward(loss_layer.backward(dout))
        return dh
