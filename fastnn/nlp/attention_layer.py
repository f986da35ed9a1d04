"""The sequel's ``ch08/attention_layer.py``: WeightSum, AttentionWeight,
Attention and TimeAttention.

The book's classes and attributes.  ``TimeAttention`` runs the whole
decoder sequence in two compiled passes each way
(:mod:`fastnn._kernels.attention`) where the book makes one ``Attention``
a step and forms (N, T, H) temporaries; its ``attention_weights`` (one
(N, T) array a step, what chapter 8's heat map reads) and the numbers
are the book's.  The single-step classes run NumpyOps's formulas (the
book's statements) through ``self.ops``.
"""
from .layers import Softmax, _Layer
from .np import *  # noqa: F401,F403

__all__ = ["WeightSum", "AttentionWeight", "Attention", "TimeAttention"]


def _check(hs, h, name):
    if getattr(hs, "ndim", None) != 3:
        raise ValueError("hs must be (N, T, H) encoder states, got shape %s"
                         % (getattr(hs, "shape", None),))
    if h.shape[0] != hs.shape[0] or h.shape[-1] != hs.shape[2]:
        raise ValueError("%s has shape %s; the encoder states hs are %s (N and H must agree)"
                         % (name, h.shape, hs.shape))


class WeightSum(_Layer):
    """c = Σ_t a[:, t]·hs[:, t] (the context vector of one decoder step)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None
        self._own_buffers()

    def forward(self, hs, a):
        if getattr(hs, "ndim", None) != 3 or getattr(a, "shape", None) != hs.shape[:2]:
            raise ValueError("a must be (N, T) weights over the encoder states hs (N, T, H); "
                             "got a %s, hs %s" % (getattr(a, "shape", None),
                                                  getattr(hs, "shape", None)))
        self.cache = (hs, a)
        return self.ops.weight_sum_forward(hs, a)

    def backward(self, dc):
        hs, a = self.cache
        return self.ops.weight_sum_backward(hs, a, dc)


class AttentionWeight(_Layer):
    """a = softmax over t of hs[:, t]·h (the weights of one decoder step)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.softmax = Softmax()
        self.cache = None
        self._own_buffers()

    def forward(self, hs, h):
        _check(hs, h, "h")
        self.cache = (hs, h)
        return self.softmax.forward(self.ops.attention_scores(hs, h))

    def backward(self, da):
        hs, h = self.cache
        ds = self.softmax.backward(da)
        return self.ops.attention_weight_backward(hs, h, ds)


class Attention:
    """AttentionWeight then WeightSum; ``attention_weight`` is the last a."""

    def __init__(self):
        self.params, self.grads = [], []
        self.attention_weight_layer = AttentionWeight()
        self.weight_sum_layer = WeightSum()
        self.attention_weight = None

    def forward(self, hs, h):
        a = self.attention_weight_layer.forward(hs, h)
        out = self.weight_sum_layer.forward(hs, a)
        self.attention_weight = a
        return out

    def backward(self, dout):
        dhs0, da = self.weight_sum_layer.backward(dout)
        dhs1, dh = self.attention_weight_layer.backward(da)
        return dhs0 + dhs1, dh


class TimeAttention(_Layer):
    """Attention at every decoder step: ``forward(hs_enc, hs_dec)`` gives
    (N, Td, H) context vectors, ``backward(dout)`` ``(dhs_enc, dhs_dec)``;
    ``attention_weights`` lists each step's (N, T) weights."""

    def __init__(self):
        self.params, self.grads = [], []
        self.layers = None
        self.attention_weights = None
        self._cache = None
        self._own_buffers()

    def forward(self, hs_enc, hs_dec):
        if getattr(hs_dec, "ndim", None) != 3:
            raise ValueError("hs_dec must be (N, Td, H) decoder states, got shape %s"
                             % (getattr(hs_dec, "shape", None),))
        _check(hs_enc, hs_dec, "hs_dec")
        out, a = self.ops.time_attention_forward(hs_enc, hs_dec)
        self._cache = (hs_enc, hs_dec, a)
        self.attention_weights = list(a)
        return out

    def backward(self, dout):
        hs_enc, hs_dec, a = self._cache
        return self.ops.time_attention_backward(hs_enc, hs_dec, a, dout)
