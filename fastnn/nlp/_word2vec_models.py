"""The sequel's word2vec models (chapters 3 and 4), written once here and
re-exported under the book's module names (``simple_cbow``,
``simple_skip_gram``, ``cbow``, ``skip_gram``): the migration of
``from cbow import CBOW`` is ``from fastnn.nlp.cbow import CBOW``.

Each model draws its weights as the book's (``0.01 * np.random.randn(...)
.astype('f')``, in the same order), keeps ``params``/``grads`` lists and
``word_vecs``, and runs the same layers in the same order, so a seeded
run gives the book's numbers.
"""
from .layers import Embedding, MatMul, SoftmaxWithLoss
from .negative_sampling_layer import NegativeSamplingLoss
from .np import *  # noqa: F401,F403

__all__ = ["SimpleCBOW", "SimpleSkipGram", "CBOW", "SkipGram"]


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


class CBOW:
    """Chapter 4: the mean of the 2·window_size context embeddings, scored
    by negative sampling against the target.  ``sampler_mode='fast'`` (and
    ``seed``): the alias-table sampler, not the book's stream."""

    def __init__(self, vocab_size, hidden_size, window_size, corpus, *, sampler_mode="exact",
                 seed=None):
        W_in, W_out = _weights(vocab_size, hidden_size, (vocab_size, hidden_size))
        self.in_layers = [Embedding(W_in) for _ in range(2 * window_size)]
        self.ns_loss = NegativeSamplingLoss(W_out, corpus, power=0.75, sample_size=5,
                                            sampler_mode=sampler_mode, seed=seed)
        _collect(self, self.in_layers + [self.ns_loss])
        self.word_vecs = W_in

    def forward(self, contexts, target):
        h = 0
        for i, layer in enumerate(self.in_layers):
            h += layer.forward(contexts[:, i])
        h *= 1 / len(self.in_layers)
        return self.ns_loss.forward(h, target)

    def backward(self, dout=1):
        dout = self.ns_loss.backward(dout)
        dout *= 1 / len(self.in_layers)
        for layer in self.in_layers:
            layer.backward(dout)
        return None


class SkipGram:
    """Chapter 4: the target's embedding, scored by negative sampling
    against each of the 2·window_size context words.  ``sampler_mode='fast'``
    (and ``seed``, each loss layer's generator seeded from it): the
    alias-table sampler, not the book's stream."""

    def __init__(self, vocab_size, hidden_size, window_size, corpus, *, sampler_mode="exact",
                 seed=None):
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
