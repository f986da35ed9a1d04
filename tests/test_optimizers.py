"""Optimizers against two steps worked out by hand, on both backends."""
import math

import numpy as np
import pytest

from fastnn import get_backend

from _util import BACKENDS

P0 = [1.0, -2.0]
G1 = [0.5, 1.0]
G2 = [-0.25, 2.0]


def hand_two_steps(name, **hp):
    """Two updates of each element, written out with scalar arithmetic."""
    out = []
    for p, g1, g2 in zip(P0, G1, G2):
        if name == "SGD":
            lr = hp.get("lr", 0.01)
            p = p - lr * g1
            p = p - lr * g2
        elif name == "Momentum":
            lr, mu = hp.get("lr", 0.01), hp.get("momentum", 0.9)
            v = 0.0
            for g in (g1, g2):
                v = mu * v - lr * g
                p = p + v
        elif name == "Nesterov":
            lr, mu = hp.get("lr", 0.01), hp.get("momentum", 0.9)
            v = 0.0
            for g in (g1, g2):
                p = p + mu * mu * v - (1 + mu) * lr * g
                v = mu * v - lr * g
        elif name == "AdaGrad":
            lr = hp.get("lr", 0.01)
            h = 0.0
            for g in (g1, g2):
                h = h + g * g
                p = p - lr * g / (math.sqrt(h) + 1e-7)
        elif name == "RMSprop":
            lr, rho = hp.get("lr", 0.01), hp.get("decay_rate", 0.99)
            h = 0.0
            for g in (g1, g2):
                h = rho * h + (1 - rho) * g * g
                p = p - lr * g / (math.sqrt(h) + 1e-7)
        elif name == "Adam":
            lr, b1, b2 = hp.get("lr", 0.001), hp.get("beta1", 0.9), hp.get("beta2", 0.999)
            m = v = 0.0
            for t, g in enumerate((g1, g2), start=1):
                lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                m = m + (1 - b1) * (g - m)
                v = v + (1 - b2) * (g * g - v)
                p = p - lr_t * m / (math.sqrt(v) + 1e-7)
        out.append(p)
    return out


NAMES = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("hp", [{}, {"lr": 0.1}])
def test_two_steps_by_hand(backend, name, hp):
    opt = getattr(get_backend(backend).optimizer, name)(**hp)
    params = {"w": np.array(P0)}
    w = params["w"]
    opt.update(params, {"w": np.array(G1)})
    opt.update(params, {"w": np.array(G2)})
    assert params["w"] is w, "arrays must be updated in place"
    np.testing.assert_allclose(w, hand_two_steps(name, **hp), rtol=1e-13, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_python_float_params(backend, name):
    """The book's 2-D demo passes floats; they must give the array results."""
    opt_f = getattr(get_backend(backend).optimizer, name)()
    opt_a = getattr(get_backend(backend).optimizer, name)()
    pf = {"x": -7.0, "y": 2.0}
    pa = {"x": np.array([-7.0]), "y": np.array([2.0])}
    for _ in range(5):
        opt_f.update(pf, {"x": pf["x"] / 10.0, "y": 2.0 * pf["y"]})
        opt_a.update(pa, {"x": pa["x"] / 10.0, "y": 2.0 * pa["y"]})
    for k in pf:
        assert np.ndim(pf[k]) == 0
        assert float(pf[k]) == pytest.approx(float(pa[k][0]), rel=1e-14)
        assert float(pf[k]) != (-7.0 if k == "x" else 2.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"])
def test_state_keyed_by_name(backend, name):
    """State follows the key, not the position: reordering the dict changes nothing."""
    mod = get_backend(backend).optimizer
    rng = np.random.default_rng(0)
    a0, b0 = rng.standard_normal(3), rng.standard_normal((2, 2))
    ga, gb = rng.standard_normal(3), rng.standard_normal((2, 2))
    o1, o2 = getattr(mod, name)(), getattr(mod, name)()
    p1 = {"a": a0.copy(), "b": b0.copy()}
    p2 = {"b": b0.copy(), "a": a0.copy()}
    for _ in range(3):
        o1.update(p1, {"a": ga, "b": gb})
        o2.update(p2, {"b": gb, "a": ga})
    np.testing.assert_array_equal(p1["a"], p2["a"])
    np.testing.assert_array_equal(p1["b"], p2["b"])
    state = getattr(o1, "m", None) or getattr(o1, "v", None) or o1.h
    assert set(state) == {"a", "b"} and state["b"].shape == (2, 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_defaults_and_attributes_match_the_book(backend):
    mod = get_backend(backend).optimizer
    assert mod.SGD().lr == 0.01
    assert (mod.Momentum().lr, mod.Momentum().momentum, mod.Momentum().v) == (0.01, 0.9, None)
    assert (mod.Nesterov().lr, mod.Nesterov().momentum) == (0.01, 0.9)
    assert (mod.AdaGrad().lr, mod.AdaGrad().h) == (0.01, None)
    assert (mod.RMSprop().lr, mod.RMSprop().decay_rate) == (0.01, 0.99)
    adam = mod.Adam()
    assert ((adam.lr, adam.beta1, adam.beta2, adam.iter, adam.m, adam.v)
            == (0.001, 0.9, 0.999, 0, None, None))
    params = {"w": np.ones(2)}
    adam.update(params, {"w": np.ones(2)})
    adam.update(params, {"w": np.ones(2)})
    assert adam.iter == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_sgd_serves_two_networks(backend):
    sgd = get_backend(backend).optimizer.SGD(lr=0.5)
    p, q = {"W1": np.array([1.0])}, {"W1": np.array([10.0])}
    sgd.update(p, {"W1": np.array([1.0])})
    sgd.update(q, {"W1": np.array([2.0])})
    assert p["W1"][0] == 0.5 and q["W1"][0] == 9.0


@pytest.mark.parametrize("name", NAMES)
def test_float32_params_stay_float32(name):
    for backend in BACKENDS:
        opt = getattr(get_backend(backend).optimizer, name)()
        p = {"w": np.array([1.0, -2.0], dtype=np.float32)}
        opt.update(p, {"w": np.array([0.5, 1.0], dtype=np.float32)})
        assert p["w"].dtype == np.float32


def _shared_memory_cases():
    """Params dicts whose keys share memory, one key of each taking NumPy's
    formula (the kernels do not take it) and coming first in the dict."""
    base = np.array([4.0, 1.0, 3.0, 2.0, 5.0, 0.5])
    # One array under two keys; the first key's gradient is float32 (NumPy's
    # formula), the second's is the array itself (it reads the first update).
    one = np.array(base)
    yield ("one array, two keys", {"a": one, "b": one},
           {"a": np.array([1.0, 2.0, 0.5, 1.0, 4.0, 3.0], dtype=np.float32), "b": one})
    # A strided view (NumPy's formula) written under "a", read as the
    # gradient of "b", a separate array.
    big = np.zeros(12)
    view = big[::2]
    view[...] = base
    yield ("view read by a later key", {"a": view, "b": base[::-1].copy()},
           {"a": np.array([1.0, -2.0, 0.5, 1.0, 4.0, 3.0]), "b": view})


@pytest.mark.parametrize("name", NAMES)
def test_keys_sharing_memory_update_in_dict_order(name):
    """The compiled optimizer updates key after key as the reference does, also
    when some keys take NumPy's formula and share memory with the others."""
    for case, params, grads in _shared_memory_cases():
        fast_opt = getattr(get_backend("fast").optimizer, name)(lr=0.5)
        ref_opt = getattr(get_backend("reference").optimizer, name)(lr=0.5)
        ref_case = {case_: (p, g) for case_, p, g in _shared_memory_cases()}[case]
        ref_params, ref_grads = ref_case
        for _ in range(3):
            fast_opt.update(params, grads)
            ref_opt.update(ref_params, ref_grads)
            for key in params:
                np.testing.assert_array_equal(params[key], ref_params[key],
                                              err_msg="%s, %s: %s" % (name, case, key))
