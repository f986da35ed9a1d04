"""The sequel's seq2seq models (chapters 7-8): Seq2seq, PeekySeq2seq and
AttentionSeq2seq against numerical gradients (float64), bit for bit against
their NumPy twins over Adam steps, the compiled ones within float32 rounding,
greedy generation, and (FASTNN_BOOK2_DIR) the book's own models."""
import os
import sys

import numpy as np
import pytest

from _util import num_grad

from fastnn.backends import get_ops
from fastnn.nlp.attention_seq2seq import AttentionSeq2seq
from fastnn.nlp.optimizer import Adam
from fastnn.nlp.peeky_seq2seq import PeekySeq2seq
from fastnn.nlp.seq2seq import Seq2seq
from fastnn.nlp.util import clip_grads

BOOK2 = os.environ.get("FASTNN_BOOK2_DIR")
MODELS = [Seq2seq, PeekySeq2seq, AttentionSeq2seq]


def _layers(model):
    out = []
    for part in (model.encoder, model.decoder):
        for name in ("embed", "lstm", "attention", "affine"):
            layer = getattr(part, name, None)
            if layer is not None:
                out.append(layer)
    return out + [model.softmax]


def _on(model, ops):
    for layer in _layers(model):
        if hasattr(layer, "ops"):
            layer.ops = get_ops(ops)
    return model


def _float64(model):
    model.params, model.grads = [], []
    for part in (model.encoder, model.decoder):
        part.params, part.grads = [], []
        for layer in _layers(model)[:-1]:
            if layer not in vars(part).values():
                continue
            layer.params[:] = [p.astype(np.float64) for p in layer.params]
            if hasattr(layer, "W"):
                layer.W = layer.params[0]
            layer.grads[:] = [np.zeros_like(p) for p in layer.params]
            part.params += layer.params
            part.grads += layer.grads
        model.params += part.params
        model.grads += part.grads
    return model


def _data(rs, V, N, T_in, T_out):
    return rs.randint(0, V, (N, T_in)), rs.randint(0, V, (N, T_out))


@pytest.mark.parametrize("ops", ["compiled", "numpy"])
@pytest.mark.parametrize("cls", MODELS)
def test_model_gradients_are_numerical_gradients(cls, ops):
    np.random.seed(0)
    model = _on(_float64(cls(6, 3, 3)), ops)
    for p in model.params:
        p += np.random.randn(*p.shape) * 0.3
    xs, ts = _data(np.random.RandomState(1), 6, 2, 4, 4)

    def loss():
        return float(model.forward(xs, ts))
    loss()
    model.backward()
    grads = [g.copy() for g in model.grads]
    for p, g in zip(model.params, grads):
        np.testing.assert_allclose(g, num_grad(loss, p), rtol=1e-5, atol=1e-8)


def _train(cls, ops, steps=3):
    np.random.seed(2)
    model = _on(cls(13, 8, 16), ops)
    opt = Adam()
    rs = np.random.RandomState(3)
    losses = []
    for _ in range(steps):
        xs, ts = _data(rs, 13, 16, 7, 5)
        losses.append(model.forward(xs, ts))
        model.backward()
        clip_grads(model.grads, 5.0)
        opt.update(model.params, model.grads)
    return losses, model


@pytest.mark.parametrize("cls", MODELS)
def test_compiled_models_track_their_numpy_twins(cls):
    lc, mc = _train(cls, "compiled")
    ln, mn = _train(cls, "numpy")
    np.testing.assert_allclose(lc, ln, rtol=1e-5)
    for a, b in zip(mc.params, mn.params):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cls", MODELS)
def test_generate_decodes_greedily(cls):
    _, model = _train(cls, "compiled", steps=1)
    xs = np.random.RandomState(4).randint(0, 13, (1, 7))
    out = model.generate(xs, 6, 5)
    assert len(out) == 5 and all(0 <= int(i) < 13 for i in out)
    assert [int(i) for i in out] == [int(i) for i in model.generate(xs, 6, 5)]


@pytest.mark.skipif(not BOOK2, reason="set FASTNN_BOOK2_DIR to the sequel's checkout")
@pytest.mark.parametrize("name", ["Seq2seq", "PeekySeq2seq", "AttentionSeq2seq"])
def test_the_numpy_twins_are_the_books_models_bit_for_bit(name, monkeypatch):
    for d in (BOOK2, os.path.join(BOOK2, "ch07"), os.path.join(BOOK2, "ch08")):
        monkeypatch.syspath_prepend(d)
    for key in [k for k in sys.modules if k.split(".")[0] in
                ("common", "seq2seq", "peeky_seq2seq", "attention_seq2seq", "ch07", "ch08")]:
        monkeypatch.delitem(sys.modules, key)
    import attention_seq2seq
    import peeky_seq2seq
    import seq2seq
    from common.optimizer import Adam as BookAdam
    from common.util import clip_grads as book_clip
    book_cls = {"Seq2seq": seq2seq.Seq2seq, "PeekySeq2seq": peeky_seq2seq.PeekySeq2seq,
                "AttentionSeq2seq": attention_seq2seq.AttentionSeq2seq}[name]
    mine = {"Seq2seq": Seq2seq, "PeekySeq2seq": PeekySeq2seq,
            "AttentionSeq2seq": AttentionSeq2seq}[name]
    runs = []
    for cls, opt_cls, clip, ops in ((book_cls, BookAdam, book_clip, None),
                                    (mine, Adam, clip_grads, "numpy")):
        np.random.seed(2)
        model = cls(13, 8, 16)
        if ops:
            _on(model, ops)
        opt, rs, losses = opt_cls(), np.random.RandomState(3), []
        for _ in range(3):
            xs, ts = _data(rs, 13, 16, 7, 5)
            losses.append(model.forward(xs, ts))
            model.backward()
            clip(model.grads, 5.0)
            opt.update(model.params, model.grads)
        runs.append((losses, model.params))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
