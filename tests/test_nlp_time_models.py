"""The book's language models in fastnn.nlp (SimpleRnnlm, Rnnlm, BetterRnnlm,
RnnlmGen, BetterRnnlmGen): numerical gradient checks in float64 on both
ops, the compiled model against its NumPy twin over training steps, weight
tying, generation."""
import numpy as np
import pytest

from _util import num_grad

from fastnn.backends import get_ops
from fastnn.nlp.better_rnnlm import BetterRnnlm
from fastnn.nlp.rnnlm import Rnnlm
from fastnn.nlp.rnnlm_gen import BetterRnnlmGen, RnnlmGen
from fastnn.nlp.simple_rnnlm import SimpleRnnlm
from fastnn.nlp.time_layers import TimeAffine, TimeEmbedding

OPS = ("compiled", "numpy")


def _on(model, ops):
    for layer in model.layers + [model.loss_layer]:
        if hasattr(layer, "ops"):
            layer.ops = get_ops(ops)
    return model


def _float64(model):
    """The model's parameters as float64 (the tied output matrix stays the
    embedding's transpose); grads and the params/grads lists follow."""
    emb = None
    model.params, model.grads = [], []
    for layer in model.layers:
        if isinstance(layer, TimeEmbedding):
            layer.params[0] = layer.W = layer.params[0].astype(np.float64)
            emb = layer.W
        elif isinstance(layer, TimeAffine) and layer.params[0].base is not None and emb is not None:
            layer.params[:] = [emb.T, layer.params[1].astype(np.float64)]
        else:
            layer.params[:] = [p.astype(np.float64) for p in layer.params]
        layer.grads[:] = [np.zeros_like(p) for p in layer.params]
        model.params += layer.params
        model.grads += layer.grads
    return model


@pytest.mark.parametrize("ops", OPS)
@pytest.mark.parametrize("cls", [SimpleRnnlm, Rnnlm, BetterRnnlm])
def test_model_gradients(ops, cls):
    np.random.seed(0)
    V, D, H, N, T = 7, 3, 3, 2, 3
    model = _on(_float64(cls(V, D, H)), ops)
    for p in model.params:
        p += np.random.randn(*p.shape) * 0.3      # biases away from 0
    rs = np.random.RandomState(1)
    xs, ts = rs.randint(0, V, (N, T)), rs.randint(0, V, (N, T))

    def loss():
        model.reset_state()
        np.random.seed(5)                         # the same dropout masks every call
        return float(model.forward(xs, ts))
    loss()
    model.backward()
    grads = [g.copy() for g in model.grads]
    seen = {}
    for p, g in zip(model.params, grads):
        key = id(p.base if p.base is not None else p)
        if key in seen:                           # a tied matrix: both layers' gradients add up
            q, gq = seen[key]
            gq += g.T if g.shape != gq.shape else g
            continue
        seen[key] = (p, g.copy())
    for p, g in seen.values():
        np.testing.assert_allclose(g, num_grad(loss, p), rtol=1e-5, atol=1e-8)


def test_better_rnnlm_ties_one_array():
    np.random.seed(0)
    m = BetterRnnlm(20, 4, 4)
    emb, out = m.layers[0].params[0], m.layers[-1].params[0]
    assert out.base is emb and np.shares_memory(out, emb) and out.shape == (4, 20)
    assert all(p.dtype == np.float32 for p in m.params)
    from fastnn.nlp.trainer import remove_duplicate
    params, grads = remove_duplicate(m.params, m.grads)
    assert len(params) == len(m.params) - 1


@pytest.mark.parametrize("cls", [Rnnlm, BetterRnnlm])
def test_compiled_model_tracks_numpy_twin(cls):
    """Five SGD steps (float32, the book's sizes scaled down): the losses and
    parameters of the compiled model stay within float32 rounding of the
    twin's (the book's loops)."""
    kw = dict(vocab_size=60, wordvec_size=16, hidden_size=16)   # tying: D = H
    runs = {}
    for ops in OPS:
        np.random.seed(1)
        model = _on(cls(**kw), ops)
        rs = np.random.RandomState(2)
        losses = []
        for _ in range(5):
            xs, ts = rs.randint(0, 60, (4, 6)), rs.randint(0, 60, (4, 6))
            losses.append(float(model.forward(xs, ts)))
            model.backward()
            for p, g in zip(model.params, model.grads):
                p -= 1.0 * g
        runs[ops] = (losses, [p.copy() for p in model.params])
    np.testing.assert_allclose(runs["compiled"][0], runs["numpy"][0], rtol=1e-5)
    for a, b in zip(runs["compiled"][1], runs["numpy"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", [RnnlmGen, BetterRnnlmGen])
def test_generate(cls):
    np.random.seed(3)
    model = cls(30, 5, 5)
    ids = model.generate(2, skip_ids=[4, 5], sample_size=12)
    assert len(ids) == 12 and ids[0] == 2
    assert all(isinstance(i, int) and 0 <= i < 30 and i not in (4, 5) for i in ids[1:])
    state = model.get_state()
    model.set_state(state)
    # the same seed samples the same words on the NumPy twin
    np.random.seed(3)
    twin = _on(cls(30, 5, 5), "numpy")
    assert twin.generate(2, skip_ids=[4, 5], sample_size=12) == ids


def test_rnnlm_save_load_roundtrip(tmp_path):
    np.random.seed(0)
    m = Rnnlm(50, 6, 5)
    f = str(tmp_path / "r.pkl")
    m.save_params(f)
    n = Rnnlm(50, 6, 5)
    n.load_params(f)
    for a, b in zip(m.params, n.params):
        np.testing.assert_array_equal(a.astype(np.float16).astype(np.float32), b)
