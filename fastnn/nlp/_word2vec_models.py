"""The sequel's word2vec models (chapters 3 and 4), written once here and
re-exported under the book's module names (``simple_cbow``,
``simple_skip_gram``, ``cbow``, ``skip_gram``): the migration of
``from cbow import CBOW`` is ``from fastnn.nlp.cbow import CBOW``.

Each model draws its weights as the book's (``0.01 * np.random.randn(...)
.astype('f')``, in the same order), keeps ``params``/``grads`` lists and
``word_vecs``, and runs the same layers in the same order, so a seeded
run gives the book's numbers.

``CBOW(..., sparse=True)`` and ``SkipGram(..., sparse=True)`` (not in the
book) build :class:`SparseCBOW` / :class:`SparseSkipGram`: the same model
and loss, with each weight one parameter whose gradient is a
:class:`~fastnn.nlp.layers.RowGrad` (the rows the batch touched, repeated
ids summed), trained with :class:`fastnn.nlp.optimizer.LazyAdam`.
"""
from .._kernels import sparse_rows
from .._kernels.word2vec import ids_in_range
from . import _grad_rows
from .layers import Embedding, MatMul, RowGrad, SigmoidWithLoss, SoftmaxWithLoss, check_ids
from .negative_sampling_layer import EmbeddingDot, NegativeSamplingLoss, UnigramSampler
from .time_layers import _is_method
from .np import *  # noqa: F401,F403

__all__ = ["SimpleCBOW", "SimpleSkipGram", "CBOW", "SkipGram", "SparseCBOW", "SparseSkipGram",
           "SparseEmbeddingMean", "SparseNegativeSamplingLoss"]


def _weights(V, H, out_shape):
    W_in = 0.01 * np.random.randn(V, H).astype('f')
    W_out = 0.01 * np.random.randn(*out_shape).astype('f')
    return W_in, W_out


def _collect(model, layers):
    model.params, model.grads = [], []
    for layer in layers:
        model.params += layer.params
        model.grads += layer.grads


class SimpleCBOW:
    """Chapter 3: the mean of two context words' MatMul rows, a MatMul to
    scores, softmax cross-entropy against the target."""

    def __init__(self, vocab_size, hidden_size):
        W_in, W_out = _weights(vocab_size, hidden_size, (hidden_size, vocab_size))
        self.in_layer0 = MatMul(W_in)
        self.in_layer1 = MatMul(W_in)
        self.out_layer = MatMul(W_out)
        self.loss_layer = SoftmaxWithLoss()
        _collect(self, [self.in_layer0, self.in_layer1, self.out_layer])
        self.word_vecs = W_in

    def forward(self, contexts, target):
        h0 = self.in_layer0.forward(contexts[:, 0])
        h1 = self.in_layer1.forward(contexts[:, 1])
        h = (h0 + h1) * 0.5
        score = self.out_layer.forward(h)
        return self.loss_layer.forward(score, target)

    def backward(self, dout=1):
        ds = self.loss_layer.backward(dout)
        da = self.out_layer.backward(ds)
        da *= 0.5
        self.in_layer1.backward(da)
        self.in_layer0.backward(da)
        return None


class SimpleSkipGram:
    """Chapter 3: the target word's MatMul row, scores, one softmax
    cross-entropy per context word (two)."""

    def __init__(self, vocab_size, hidden_size):
        W_in, W_out = _weights(vocab_size, hidden_size, (hidden_size, vocab_size))
        self.in_layer = MatMul(W_in)
        self.out_layer = MatMul(W_out)
        self.loss_layer1 = SoftmaxWithLoss()
        self.loss_layer2 = SoftmaxWithLoss()
        _collect(self, [self.in_layer, self.out_layer])
        self.word_vecs = W_in

    def forward(self, contexts, target):
        h = self.in_layer.forward(target)
        s = self.out_layer.forward(h)
        l1 = self.loss_layer1.forward(s, contexts[:, 0])
        l2 = self.loss_layer2.forward(s, contexts[:, 1])
        return l1 + l2

    def backward(self, dout=1):
        dl1 = self.loss_layer1.backward(dout)
        dl2 = self.loss_layer2.backward(dout)
        dh = self.out_layer.backward(dl1 + dl2)
        self.in_layer.backward(dh)
        return None


def _new(cls, book_cls, sparse_cls, sparse):
    """CBOW(..., sparse=True) is a SparseCBOW (and SkipGram's likewise); a
    bare cls.__new__(cls) (pickle, copy) gives cls."""
    return object.__new__(sparse_cls if sparse and cls is book_cls else cls)


def _book_only(model, sparse, sparse_cls):
    """sparse=True reaching the book model's __init__: a subclass of it,
    which CBOW.__new__ leaves dense."""
    if sparse:
        raise ValueError("%s is a subclass of the book's dense model; for sparse=True "
                         "subclass %s" % (type(model).__name__, sparse_cls.__name__))


class CBOW(_grad_rows.ReleasedOnPickle):
    """Chapter 4: the mean of the 2·window_size context embeddings, scored
    by negative sampling against the target.  ``sampler_mode='fast'`` (and
    ``seed``): the alias-table sampler, not the book's stream.
    ``sparse=True``: a :class:`SparseCBOW` (row gradients, for LazyAdam)."""

    def __new__(cls, *args, sparse=False, **kwargs):
        return _new(cls, CBOW, SparseCBOW, sparse)

    def __init__(self, vocab_size, hidden_size, window_size, corpus, *, sampler_mode="exact",
                 seed=None, sparse=False):
        _book_only(self, sparse, SparseCBOW)
        W_in, W_out = _weights(vocab_size, hidden_size, (vocab_size, hidden_size))
        self.in_layers = [Embedding(W_in) for _ in range(2 * window_size)]
        self.ns_loss = NegativeSamplingLoss(W_out, corpus, power=0.75, sample_size=5,
                                            sampler_mode=sampler_mode, seed=seed)
        _collect(self, self.in_layers + [self.ns_loss])
        self.word_vecs = W_in

    def forward(self, contexts, target):
        layers = _fused_layers(self, contexts, target)
        if layers is not None:
            return _fused_forward(self, layers, contexts, target)
        self._fused = None
        h = 0
        for i, layer in enumerate(self.in_layers):
            h += layer.forward(contexts[:, i])
        h *= 1 / len(self.in_layers)
        return self.ns_loss.forward(h, target)

    def backward(self, dout=1):
        if _fused_backward(self, dout):
            return None
        dout = self.ns_loss.backward(dout)
        dout *= 1 / len(self.in_layers)
        for layer in self.in_layers:
            layer.backward(dout)
        return None


# -- CBOW's layers run as one (same state, same numbers) ------------------------------
#
# The book's CBOW forward calls 2·window Embedding layers, a sampler and
# sample_size + 1 EmbeddingDot and SigmoidWithLoss layers; its backward the
# same layers back.  When those are the book's classes with their own
# methods (no subclass, no hook set on an instance) on one ops object, the
# model runs their loops as three ops calls (embedding_mean_dots,
# embedding_dots_backward, embeddings_backward: the layers' own statements
# in NumpyOps, one compiled pass each in CompiledOps) and leaves every layer
# holding what its own forward would (idx, cache, y, t, loss), so that a
# layer's methods called afterwards see the book's state.  The backward runs
# fused only after a fused forward whose state is still in place.

def _plain(obj, cls):
    """obj is a cls whose forward and backward are cls's own (no hook set on
    the instance; the class's own checked by _classes_plain)."""
    if type(obj) is not cls:
        return False
    d = obj.__dict__
    return "forward" not in d and "backward" not in d


_ORIGINAL = {}      # class -> its (forward, backward) as defined here


def _classes_plain():
    """Whether the layer classes still have their own forward and backward
    (not replaced on the class)."""
    if not _ORIGINAL:
        for cls in (Embedding, EmbeddingDot, SigmoidWithLoss, NegativeSamplingLoss):
            _ORIGINAL[cls] = (cls.__dict__["forward"], cls.__dict__["backward"])
    for cls, (f, b) in _ORIGINAL.items():
        d = cls.__dict__
        if d.get("forward") is not f or d.get("backward") is not b:
            return False
    return True


def _fused_layers(model, contexts, target):
    """(W_in, W_out, ops) when the model's forward may run fused, else None."""
    if not (type(contexts) is np.ndarray and contexts.ndim == 2
            and type(target) is np.ndarray and target.ndim == 1
            and contexts.dtype.kind in "iu" and target.dtype.kind in "iu"
            and _is_method(model, "forward", CBOW.forward)
            and _is_method(model, "backward", CBOW.backward) and _classes_plain()):
        return None
    ins = getattr(model, "in_layers", None)
    ns = getattr(model, "ns_loss", None)
    if (type(ins) is not list or not ins or contexts.shape[1] != len(ins)
            or contexts.shape[0] != target.shape[0] or not _plain(ns, NegativeSamplingLoss)
            or target.shape[0] == 0):     # an empty batch: the book's loss raises
        return None
    dots, losses = ns.embed_dot_layers, ns.loss_layers
    if (type(dots) is not list or type(losses) is not list or len(dots) != len(losses)
            or len(dots) != ns.sample_size + 1):
        return None
    W_in, W_out = ins[0].params[0], dots[0].params[0]
    ops = ins[0].ops
    if (type(W_in) is not np.ndarray or type(W_out) is not np.ndarray
            or W_in.dtype != np.float32 or W_out.dtype != np.float32):
        return None
    for layer in ins:
        if not _plain(layer, Embedding) or layer.ops is not ops or layer.params[0] is not W_in:
            return None
    for dot, loss in zip(dots, losses):
        if (not _plain(dot, EmbeddingDot) or dot.ops is not ops
                or not _plain(dot.embed, Embedding) or dot.params[0] is not W_out
                or dot.grads is not dot.embed.grads or not _plain(loss, SigmoidWithLoss)
                or loss.ops is not ops):
            return None
    return W_in, W_out, ops


def _fused_forward(model, layers, contexts, target):
    W_in, W_out, ops = layers
    ins, ns = model.in_layers, model.ns_loss
    model._fused = None
    # A copy always (np.ascontiguousarray would hand back an F-ordered int64
    # contexts' own memory): the backward scatters these rows and records
    # them as its gradients' rows, which the caller's array must not change.
    ctx = np.array(contexts.T, dtype=np.int64, order="C")
    if not ids_in_range(ctx, W_in.shape[0]):
        check_ids("idx", contexts, W_in.shape[0])    # what each Embedding checks
    B = target.shape[0]
    negative_sample = ns.sampler.get_negative_sample(target)
    K = len(ns.embed_dot_layers)
    ids = np.empty((K, B), dtype=np.int64)
    ids[0] = target
    ids[1:] = np.asarray(negative_sample).T
    if not ids_in_range(ids, W_out.shape[0]):
        check_ids("idx", ids, W_out.shape[0])        # what each EmbeddingDot checks
    h, tW, score = ops.embedding_mean_dots(W_in, ctx, W_out, ids, 1 / len(ins))
    labels = np.zeros((K, B), dtype=np.int32)
    labels[0] = 1
    losses, y = ops.sigmoid_losses_forward(score, labels)
    # The layers' state, as their own forwards leave it.
    for i, layer in enumerate(ins):
        layer.idx = contexts[:, i]
    positive, negative = labels[0], labels[1]
    for k, (dot, loss_layer) in enumerate(zip(ns.embed_dot_layers, ns.loss_layers)):
        dot.embed.idx = target if k == 0 else negative_sample[:, k - 1]
        dot.cache = (h, tW[k])
        loss_layer.t = positive if k == 0 else negative
        loss_layer.y = y[k]
        loss_layer.loss = losses[k]
    loss = losses[0]
    for k in range(1, K):
        loss += losses[k]
    model._fused = (ops, ctx, ids, h, tW, y, labels, (contexts, target, negative_sample),
                    [layer.idx for layer in ins],
                    [(dot.embed.idx, dot.cache, loss_layer.y, loss_layer.t)
                     for dot, loss_layer in zip(ns.embed_dot_layers, ns.loss_layers)])
    return loss


def _same_ids(ctx, ids, contexts, target, negative_sample):
    """Whether the arrays the layers' idx are views of (the caller's
    contexts and target, the sampler's draws) still hold the ids the fused
    forward copied: written in place since, the book's backward scatters
    the new ids (the layer-by-layer path then runs)."""
    return bool((ctx == contexts.T).all() and (ids[0] == target).all()
                and (ids[1:] == np.asarray(negative_sample).T).all())


def _fused_backward(model, dout):
    """The fused backward, when the last forward ran fused, its state is
    still in every layer and dout is the book's 1; False otherwise."""
    state = getattr(model, "_fused", None)
    if state is None or type(dout) is not int or dout != 1:
        return False
    ops, ctx, ids, h, tW, y, labels, inputs, in_idx, dot_state = state
    model._fused = None
    ins, ns = model.in_layers, model.ns_loss
    dots, losses = ns.embed_dot_layers, ns.loss_layers
    if (_fused_layers(model, ctx.T, ids[0]) is None or len(in_idx) != len(ins)
            or len(dot_state) != len(dots)
            or any(layer.idx is not idx for layer, idx in zip(ins, in_idx))
            or any(dot.embed.idx is not s[0] or dot.cache is not s[1] or loss.y is not s[2]
                   or loss.t is not s[3]
                   for dot, loss, s in zip(dots, losses, dot_state))
            or not _same_ids(ctx, ids, *inputs)):
        return False
    B = ids.shape[1]
    d = (y - labels) * dout / B                       # each SigmoidWithLoss.backward
    out_grads = [dot.grads[0] for dot in dots]
    in_grads = [layer.grads[0] for layer in ins]
    if len({id(g) for g in out_grads + in_grads}) != len(out_grads) + len(in_grads):
        return False
    dh = _grad_rows.written(out_grads, ids, lambda stale: ops.embedding_dots_backward(
        out_grads, ids, h, tW, d, stale))
    dh *= 1 / len(ins)
    _grad_rows.written(in_grads, ctx, lambda stale: ops.embeddings_backward(
        in_grads, ctx, dh, stale))
    return True


class SkipGram(_grad_rows.ReleasedOnPickle):
    """Chapter 4: the target's embedding, scored by negative sampling
    against each of the 2·window_size context words.  ``sampler_mode='fast'``
    (and ``seed``, each loss layer's generator seeded from it): the
    alias-table sampler, not the book's stream.  ``sparse=True``: a
    :class:`SparseSkipGram` (row gradients, for LazyAdam)."""

    def __new__(cls, *args, sparse=False, **kwargs):
        return _new(cls, SkipGram, SparseSkipGram, sparse)

    def __init__(self, vocab_size, hidden_size, window_size, corpus, *, sampler_mode="exact",
                 seed=None, sparse=False):
        _book_only(self, sparse, SparseSkipGram)
        W_in, W_out = _weights(vocab_size, hidden_size, (vocab_size, hidden_size))
        self.in_layer = Embedding(W_in)
        seeds = (np.random.SeedSequence(seed).spawn(2 * window_size)
                 if sampler_mode == "fast" else [None] * (2 * window_size))
        self.loss_layers = [NegativeSamplingLoss(W_out, corpus, power=0.75, sample_size=5,
                                                 sampler_mode=sampler_mode, seed=s)
                            for s in seeds]
        _collect(self, [self.in_layer] + self.loss_layers)
        self.word_vecs = W_in

    def forward(self, contexts, target):
        h = self.in_layer.forward(target)
        loss = 0
        for i, layer in enumerate(self.loss_layers):
            loss += layer.forward(h, contexts[:, i])
        return loss

    def backward(self, dout=1):
        dh = 0
        for layer in self.loss_layers:
            dh += layer.backward(dout)
        self.in_layer.backward(dh)
        return None


# -- the sparse mode (not the book's algorithm) --------------------------------------


def _empty_grad(W):
    return RowGrad._trusted(np.empty(0, dtype=np.int64), np.empty((0, W.shape[1]), W.dtype),
                            W.shape)


class SparseEmbeddingMean:
    """h[b] = the mean of W's rows ids[b, 0..C-1] (the book's CBOW context
    layers, all 2·window of them sharing W, as one layer); the gradient
    ``grads[0]`` is a RowGrad: each distinct id's row, dh[b]/C summed over
    its occurrences.  With C = 1 it is an Embedding (SkipGram's target)."""

    def __init__(self, W):
        self.params = [W]
        self.grads = [_empty_grad(W)]
        self.idx = None

    def forward(self, idx):
        W, = self.params
        ids = sparse_rows.as_ids(idx, "idx", W.shape[0], 2)
        self.idx = ids
        return sparse_rows.rows_mean(W, ids)

    def backward(self, dh):
        W, = self.params
        uniq, rows = sparse_rows.rows_mean_backward(np.ascontiguousarray(dh, dtype=W.dtype),
                                                    self.idx, W.shape[0])
        self.grads[0] = RowGrad._trusted(uniq, rows, W.shape)
        return None


class SparseNegativeSamplingLoss:
    """The book's NegativeSamplingLoss for G positive words a row (CBOW: the
    target, G = 1; SkipGram: the 2·window context words), each scored with
    ``sample_size`` negatives drawn by one :class:`UnigramSampler`
    (``sampler_mode`` as the book's layer): one (B, G·(S+1)) score matrix
    W[ids] · h, the loss the sum over its columns of the batch-mean
    sigmoid cross-entropy (the book's sum of its S+1 loss layers per
    positive word), and one RowGrad of W."""

    def __init__(self, W, corpus, power=0.75, sample_size=5, *, sampler_mode="exact",
                 seed=None):
        self.sample_size = sample_size
        self.sampler = UnigramSampler(corpus, power, sample_size, mode=sampler_mode, seed=seed)
        self.params = [W]
        self.grads = [_empty_grad(W)]
        self.cache = None

    def forward(self, h, target):
        W, = self.params
        target = np.asarray(target)
        if target.ndim == 1:
            target = target[:, None]
        check_ids("target", target, W.shape[0])
        B, G = target.shape
        S = self.sample_size
        flat = target.reshape(-1)
        if self.sampler.mode == "fast":     # the same distribution, drawn compiled
            neg = sparse_rows.alias_sample(*self.sampler._alias, flat, S, self.sampler.rng)
        else:
            neg = self.sampler.get_negative_sample(flat)
        ids = np.empty((B, G, S + 1), dtype=np.int64)
        ids[:, :, 0] = target
        ids[:, :, 1:] = np.reshape(neg, (B, G, S))
        ids = ids.reshape(B, G * (S + 1))
        h = np.ascontiguousarray(h, dtype=W.dtype)
        score = sparse_rows.rows_dot(W, ids, h)
        # The book's SigmoidWithLoss per column: y = 1 / (1 + exp(-x)), the
        # loss -log(y + 1e-7) for the positive column, -log(1 - y + 1e-7) else.
        y = 1 / (1 + np.exp(-score))
        pos = y[:, ::S + 1]
        neg_y = y.reshape(B, G, S + 1)[:, :, 1:]
        loss = -(np.sum(np.log(pos + 1e-7)) + np.sum(np.log(1 - neg_y + 1e-7))) / B
        self.cache = (h, ids, y)
        return loss

    def backward(self, dout=1):
        W, = self.params
        h, ids, y = self.cache
        B = y.shape[0]
        d = y.copy()
        d[:, ::self.sample_size + 1] -= 1
        d *= dout
        d /= B
        uniq, rows, dh = sparse_rows.rows_dot_backward(W, ids, h, d)
        self.grads[0] = RowGrad._trusted(uniq, rows, W.shape)
        return dh


class _SparseModel:
    """What the two sparse models share: W_in behind one SparseEmbeddingMean,
    W_out behind one SparseNegativeSamplingLoss, the two weights as the only
    parameters and their RowGrads as ``grads``."""

    def _build(self, vocab_size, hidden_size, window_size, corpus, sampler_mode, seed,
               sparse):
        if not sparse:
            raise ValueError("%s is the sparse=True model; sparse=False is %s"
                             % (type(self).__name__, type(self).__mro__[2].__name__))
        W_in, W_out = _weights(vocab_size, hidden_size, (vocab_size, hidden_size))
        self.in_layer = SparseEmbeddingMean(W_in)
        self.ns_loss = SparseNegativeSamplingLoss(W_out, corpus, power=0.75, sample_size=5,
                                                  sampler_mode=sampler_mode, seed=seed)
        self.window_size = window_size
        self.params = [W_in, W_out]
        self.grads = [self.in_layer.grads[0], self.ns_loss.grads[0]]
        self.word_vecs = W_in

    def _contexts(self, contexts):
        contexts = np.asarray(contexts)
        if contexts.ndim != 2 or contexts.shape[1] != 2 * self.window_size:
            raise ValueError("contexts must be (B, 2*window_size=%d), got shape %s"
                             % (2 * self.window_size, contexts.shape))
        return contexts

    def backward(self, dout=1):
        dh = self.ns_loss.backward(dout)
        self.in_layer.backward(dh)
        self.grads[0], self.grads[1] = self.in_layer.grads[0], self.ns_loss.grads[0]
        return None


class SparseCBOW(_SparseModel, CBOW):
    """``CBOW(..., sparse=True)`` (not the book's algorithm): the book's CBOW
    (its weights drawn as the book's, the same forward pass and loss) with
    ``params = [W_in, W_out]`` and ``grads`` two RowGrads, the rows the batch
    touched (the context rows of W_in, the targets' and negatives' of
    W_out), repeated ids summed: no (V, H) gradient is formed.  Train it
    with :class:`fastnn.nlp.optimizer.LazyAdam` (the book's Trainer works:
    its remove_duplicate finds nothing to merge); ``max_grad`` clipping
    takes dense arrays only."""

    def __init__(self, vocab_size, hidden_size, window_size, corpus, *, sampler_mode="exact",
                 seed=None, sparse=True):
        self._build(vocab_size, hidden_size, window_size, corpus, sampler_mode, seed, sparse)

    def forward(self, contexts, target):
        h = self.in_layer.forward(self._contexts(contexts))
        return self.ns_loss.forward(h, target)


class SparseSkipGram(_SparseModel, SkipGram):
    """``SkipGram(..., sparse=True)`` (not the book's algorithm): the book's
    skip-gram with one sampler for all 2·window context words (seeded by
    ``seed`` in 'fast' mode) and RowGrad gradients, as :class:`SparseCBOW`."""

    def __init__(self, vocab_size, hidden_size, window_size, corpus, *, sampler_mode="exact",
                 seed=None, sparse=True):
        self._build(vocab_size, hidden_size, window_size, corpus, sampler_mode, seed, sparse)

    def forward(self, contexts, target):
        contexts = self._contexts(contexts)
        h = self.in_layer.forward(np.asarray(target).reshape(-1, 1))
        return self.ns_loss.forward(h, contexts)
