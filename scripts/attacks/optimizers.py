"""optimizers: fastnn.optimizer against fastnn.reference.optimizer on hostile params and grads.

Each case builds the same params, grads and optimizer twice, runs a few
``update`` steps with the fast and with the reference optimizer, and compares
every parameter and every state array (``v``, ``h``, ``m``, ``iter``).
"""
import numpy as np

from ._arrays import SCALAR, negative_strides, readonly, strided, unaligned
from ._common import Registry, compare_kw, paired

REGISTRY = Registry("optimizers")

CLASSES = ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam")
STATE = ("v", "h", "m", "iter")
R, K = 300, 70                 # R*K > 16384: the update kernels split over threads


def _module(fast):
    if fast:
        from fastnn import optimizer
        return optimizer
    from fastnn.reference import optimizer
    return optimizer


def _state(opt):
    out = {}
    for name in STATE:
        value = getattr(opt, name, None)
        if isinstance(value, dict):
            value = {k: np.array(v, copy=True) for k, v in value.items()}
        if value is not None:
            out[name] = value
    return out


def _snapshot(params):
    return {k: np.array(v, copy=True) for k, v in params.items()}


def _opt_pair(cls, scenario, seed, hyper=None, steps=3, **kw):
    """``scenario(rng)`` -> (params, grads(step, params), prepare(optimizer))."""
    def side(fast):
        def run():
            opt = getattr(_module(fast), cls)(**(hyper or {}))
            params, grads, prepare = scenario(np.random.default_rng(seed))
            prepare(opt)
            history = []
            for step in range(steps):
                opt.update(params, grads(step, params))
                history.append(_snapshot(params))
            return history, _state(opt)
        return run
    return paired(side(True), side(False), cls, **kw)


def _rand(rng, shape=(R, K), dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _nothing(opt):
    pass


def plain(rng):
    p = {"W": _rand(rng), "b": _rand(rng, (K,))}
    g = [{"W": _rand(rng), "b": _rand(rng, (K,))} for _ in range(3)]
    return p, lambda i, params: g[i], _nothing


def _one_change(change_param=None, change_grad=None, key="W"):
    """plain's params and grads with ``W``'s param or grads changed."""
    def scenario(rng):
        p, grads, prepare = plain(rng)
        if change_param is not None:
            p[key] = change_param(p[key])
        gs = [grads(i, p) for i in range(3)]
        if change_grad is not None:
            for g in gs:
                g[key] = change_grad(g[key])
        return p, lambda i, params: gs[i], prepare
    return scenario


def shared_param(rng):
    shared = _rand(rng)
    p = {"a": shared, "b": shared, "c": _rand(rng)}
    g = [{"a": _rand(rng), "b": _rand(rng), "c": _rand(rng)} for _ in range(3)]
    return p, lambda i, params: g[i], _nothing


def shared_param_one_fallback(rng):
    """One array under two keys, one of whose gradients the kernels do not take
    (issue 18, item 7: the reference's update order must be kept)."""
    p, grads, prepare = shared_param(rng)
    gs = [grads(i, p) for i in range(3)]
    for g in gs:
        g["b"] = strided(g["b"])
    return p, lambda i, params: gs[i], prepare


def shared_param_float32_fallback(rng):
    shared = _rand(rng, dtype=np.float32)
    p = {"a": shared, "b": shared}
    gs = [{"a": _rand(rng, dtype=np.float32), "b": _rand(rng)} for _ in range(3)]
    return p, lambda i, params: gs[i], _nothing


def grad_is_param(rng):
    p, _, prepare = plain(rng)
    return p, lambda i, params: {"W": params["W"], "b": params["b"]}, prepare


def grad_is_other_param(rng):
    p = {"W": _rand(rng), "V": _rand(rng)}
    return p, lambda i, params: {"W": params["V"], "V": params["W"]}, _nothing


def grad_overlaps_param(rng):
    buf = _rand(rng, (R * K + 1,))
    p = {"W": buf[:-1].reshape(R, K)}
    return p, lambda i, params: {"W": buf[1:].reshape(R, K)}, _nothing


def param_view_of_param(rng):
    base = _rand(rng, (R + 1, K))
    p = {"A": base[:R], "B": base[1:]}
    g = [{"A": _rand(rng), "B": _rand(rng)} for _ in range(3)]
    return p, lambda i, params: g[i], _nothing


def grad_is_state(rng):
    """The gradient handed in is the optimizer's own state array."""
    p = {"W": _rand(rng)}
    holder = {}

    def prepare(opt):
        holder["opt"] = opt
        for name in ("v", "h", "m"):
            if hasattr(opt, name):
                setattr(opt, name, {"W": np.abs(_rand(np.random.default_rng(3)))})

    def grads(i, params):
        for name in ("v", "h", "m"):
            store = getattr(holder["opt"], name, None)
            if isinstance(store, dict) and "W" in store:
                return {"W": store["W"]}
        return {"W": np.ones((R, K))}
    return p, grads, prepare


def state_is_param(rng):
    p = {"W": _rand(rng)}
    g = [{"W": _rand(rng)} for _ in range(3)]

    def prepare(opt):
        for name in ("v", "h", "m"):
            if hasattr(opt, name):
                setattr(opt, name, {"W": p["W"]})
    return p, lambda i, params: g[i], prepare


def adam_m_is_v(rng):
    p = {"W": _rand(rng)}
    g = [{"W": _rand(rng)} for _ in range(3)]

    def prepare(opt):
        if hasattr(opt, "m"):
            shared = np.zeros((R, K))
            opt.m, opt.v = {"W": shared}, {"W": shared}
    return p, lambda i, params: g[i], prepare


def _prefilled(make):
    """plain, with the state arrays for W made by ``make(param)`` in advance."""
    def scenario(rng):
        p, grads, _ = plain(rng)

        def prepare(opt):
            for name in ("v", "h", "m"):
                if hasattr(opt, name):
                    setattr(opt, name, {"W": make(np.abs(p["W"]) * 0.1)})
        return p, grads, prepare
    return scenario


def python_floats(rng):
    """The book's 2-D demo: parameters are Python floats."""
    p = {"x": -7.0, "y": 2.0}
    return p, lambda i, params: {"x": params["x"] / 10.0, "y": 2.0 * params["y"]}, _nothing


def numpy_scalars(rng):
    p = {"x": np.float64(-7.0), "y": np.float32(2.0)}
    return p, lambda i, params: {"x": np.float64(0.5), "y": np.float32(0.25)}, _nothing


def zero_dim_arrays(rng):
    p = {"x": np.array(-7.0), "y": np.array(2.0, np.float32)}
    return p, lambda i, params: {"x": np.array(0.5), "y": np.array(0.25, np.float32)}, _nothing


def zero_size(rng):
    p = {"W": np.zeros((0, K)), "b": np.zeros(0)}
    return p, lambda i, params: {"W": np.zeros((0, K)), "b": np.zeros(0)}, _nothing


def missing_grad(rng):
    p, grads, prepare = plain(rng)
    return p, lambda i, params: {"W": grads(i, params)["W"]}, prepare


def extra_grad(rng):
    p, grads, prepare = plain(rng)
    return p, lambda i, params: dict(grads(i, params), zzz=np.ones(3)), prepare


def keys_change(rng):
    """A key appears at the second step and another goes."""
    p, grads, prepare = plain(rng)
    extra = _rand(rng, (K,))

    def g(i, params):
        if i == 1:
            params.pop("b", None)
            params["c"] = extra
        return {"W": grads(i, params)["W"], "b": grads(i, params)["b"], "c": extra * 0.5}
    return p, g, prepare


def param_replaced_by_other_shape(rng):
    """params['W'] is rebound to an array of another shape after the first step."""
    p, grads, prepare = plain(rng)
    other = _rand(rng, (K, R))

    def g(i, params):
        if i == 1:
            params["W"] = other
        return {"W": _rand(np.random.default_rng(i), params["W"].shape), "b": grads(i, params)["b"]}
    return p, g, prepare


def int_keys(rng):
    p = {1: _rand(rng), (2, "x"): _rand(rng, (K,))}
    g = [{1: _rand(rng), (2, "x"): _rand(rng, (K,))} for _ in range(3)]
    return p, lambda i, params: g[i], _nothing


def nan_then_finite(rng):
    p, grads, prepare = plain(rng)

    def g(i, params):
        out = grads(i, params)
        if i == 0:
            out = {k: np.full_like(v, np.nan) for k, v in out.items()}
        return out
    return p, g, prepare


def mapping_params(rng):
    """params as an OrderedDict subclass whose keys() lists the keys backwards."""
    import collections

    class Backwards(collections.OrderedDict):
        def keys(self):
            return list(reversed(list(super().keys())))
    shared = _rand(rng)
    p = Backwards([("a", shared), ("b", shared)])
    g = [{"a": _rand(rng), "b": strided(_rand(rng))} for _ in range(3)]
    return p, lambda i, params: g[i], _nothing


def many_keys(rng):
    p = {"k%d" % i: _rand(rng, (7, 3)) for i in range(200)}
    gs = [{k: _rand(rng, (7, 3)) for k in p} for _ in range(3)]
    return p, lambda i, params: gs[i], _nothing


SCENARIOS = {
    "plain": plain,
    "shared-param": shared_param,
    "shared-param-one-fallback": shared_param_one_fallback,
    "shared-param-float32-fallback": shared_param_float32_fallback,
    "grad-is-param": grad_is_param,
    "grad-is-other-param": grad_is_other_param,
    "grad-overlaps-param": grad_overlaps_param,
    "param-view-of-param": param_view_of_param,
    "grad-is-state": grad_is_state,
    "state-is-param": state_is_param,
    "adam-m-is-v": adam_m_is_v,
    "python-floats": python_floats,
    "numpy-scalars": numpy_scalars,
    "zero-dim-arrays": zero_dim_arrays,
    "zero-size": zero_size,
    "missing-grad": missing_grad,
    "extra-grad": extra_grad,
    "keys-change": keys_change,
    "param-replaced-by-other-shape": param_replaced_by_other_shape,
    "int-keys": int_keys,
    "nan-then-finite": nan_then_finite,
    "mapping-params-backwards-keys": mapping_params,
    "200-keys": many_keys,
    # W's parameter
    "param:float32": _one_change(lambda a: a.astype(np.float32)),
    "param:float16": _one_change(lambda a: a.astype(np.float16)),
    "param:longdouble": _one_change(lambda a: a.astype(np.longdouble)),
    "param:int64": _one_change(lambda a: np.rint(a * 5).astype(np.int64)),
    "param:complex": _one_change(lambda a: a.astype(np.complex128)),
    "param:object": _one_change(lambda a: a.astype(object)),
    "param:readonly": _one_change(readonly),
    "param:strided": _one_change(strided),
    "param:fortran": _one_change(np.asfortranarray),
    "param:negative-strides": _one_change(negative_strides),
    "param:byteswapped": _one_change(lambda a: a.astype(a.dtype.newbyteorder())),
    "param:unaligned": _one_change(unaligned),
    "param:matrix": _one_change(np.asmatrix),
    "param:masked": _one_change(lambda a: np.ma.masked_array(a, mask=a < 0)),
    "param:list": _one_change(lambda a: a.tolist()),
    # W's gradient
    "grad:float32": _one_change(None, lambda a: a.astype(np.float32)),
    "grad:float16": _one_change(None, lambda a: a.astype(np.float16)),
    "grad:int64": _one_change(None, lambda a: np.rint(a * 5).astype(np.int64)),
    "grad:bool": _one_change(None, lambda a: a > 0),
    "grad:complex": _one_change(None, lambda a: a.astype(np.complex128)),
    "grad:object": _one_change(None, lambda a: a.astype(object)),
    "grad:strided": _one_change(None, strided),
    "grad:fortran": _one_change(None, np.asfortranarray),
    "grad:byteswapped": _one_change(None, lambda a: a.astype(a.dtype.newbyteorder())),
    "grad:unaligned": _one_change(None, unaligned),
    "grad:zero-stride": _one_change(None, lambda a: np.broadcast_to(a[:1], a.shape)),
    "grad:transposed-shape": _one_change(None, lambda a: np.ascontiguousarray(a.T)),
    "grad:broadcast-row": _one_change(None, lambda a: a[0]),
    "grad:broadcast-1xK": _one_change(None, lambda a: a[:1]),
    "grad:scalar": _one_change(None, lambda a: 0.5),
    "grad:none": _one_change(None, lambda a: None),
    "grad:list": _one_change(None, lambda a: a.tolist()),
    "grad:masked": _one_change(None, lambda a: np.ma.masked_array(a, mask=a < 0)),
    "grad:matrix": _one_change(None, np.asmatrix),
    "grad:nan": _one_change(None, lambda a: np.where(a > 1, np.nan, a)),
    "grad:inf": _one_change(None, lambda a: np.where(a > 1, np.inf, a)),
    # state arrays made in advance
    "state:float32": _prefilled(lambda a: a.astype(np.float32)),
    "state:int64": _prefilled(lambda a: np.rint(a * 10).astype(np.int64)),
    "state:float16": _prefilled(lambda a: a.astype(np.float16)),
    "state:readonly": _prefilled(readonly),
    "state:strided": _prefilled(strided),
    "state:byteswapped": _prefilled(lambda a: a.astype(a.dtype.newbyteorder())),
    "state:wrong-shape": _prefilled(lambda a: a[:-1]),
    "state:broadcast-row": _prefilled(lambda a: a[0].copy()),
    "state:negative": _prefilled(lambda a: -a),
    "state:nan": _prefilled(lambda a: np.full_like(a, np.nan)),
    "state:list": _prefilled(lambda a: a.tolist()),
}
QUICK = ("plain", "shared-param-one-fallback", "grad-is-param", "grad-overlaps-param",
         "state-is-param", "param:byteswapped", "grad:strided", "grad:broadcast-row",
         "state:int64", "python-floats", "keys-change")


def _scenario_case(cls, scenario, **kw):
    def run(ctx):
        return _opt_pair(cls, scenario, int(ctx.rng.integers(2 ** 31)), **kw)
    return run


HYPER = {"SGD": ("lr",), "Momentum": ("lr", "momentum"), "Nesterov": ("lr", "momentum"),
         "AdaGrad": ("lr",), "RMSprop": ("lr", "decay_rate"), "Adam": ("lr", "beta1", "beta2")}
HYPER_VALUES = dict(SCALAR, **{"tiny": 1e-300, "just-below-one": 1 - 1e-16})


def _hyper_case(cls, key, name):
    def run(ctx):
        return _opt_pair(cls, plain, int(ctx.rng.integers(2 ** 31)),
                         hyper={key: HYPER_VALUES[name]}, **compare_kw(name))
    return run


def _attribute_case(cls, attr, value):
    """A hyperparameter or counter set on the object after construction."""
    def scenario(rng):
        p, grads, _ = plain(rng)

        def prepare(opt):
            setattr(opt, attr, value)
        return p, grads, prepare

    def run(ctx):
        return _opt_pair(cls, scenario, int(ctx.rng.integers(2 ** 31)))
    return run


for _cls in CLASSES:
    for _name, _scenario in SCENARIOS.items():
        REGISTRY.add("%s/%s" % (_cls, _name), _scenario_case(_cls, _scenario),
                     quick=_name in QUICK and _cls in ("Momentum", "Nesterov", "Adam"))
    for _key in HYPER[_cls]:
        for _vname in HYPER_VALUES:
            REGISTRY.add("%s/%s=%s" % (_cls, _key, _vname), _hyper_case(_cls, _key, _vname),
                         quick=_vname in ("nan", "one") and _cls == "Adam")
for _attr, _value in (("iter", -1), ("iter", 10 ** 6), ("iter", 2.5), ("iter", "3"),
                      ("iter", None), ("iter", 2 ** 63)):
    REGISTRY.add("Adam/attribute-iter=%r" % (_value,), _attribute_case("Adam", _attr, _value))
for _cls, _attr in (("Momentum", "v"), ("AdaGrad", "h"), ("Adam", "m")):
    for _value in ([1, 2], "abc", {"W": None}, 0):
        REGISTRY.add("%s/attribute-%s=%r" % (_cls, _attr, _value),
                     _attribute_case(_cls, _attr, _value))


def _lr_changed_midway(cls):
    """lr changed between steps, as a schedule does (to NaN, then back)."""
    def run(ctx):
        def scenario(rng):
            p, grads, prepare = plain(rng)
            holder = {}

            def prep(opt):
                holder["opt"] = opt

            def g(i, params):
                holder["opt"].lr = [0.01, float("nan"), 0.001][i]
                return grads(i, params)
            return p, g, prep
        return _opt_pair(cls, scenario, int(ctx.rng.integers(2 ** 31)))
    return run


for _cls in CLASSES:
    REGISTRY.add("%s/lr-changed-between-steps" % _cls, _lr_changed_midway(_cls))


def _network_update(cls):
    """A network's own params and gradient arrays (pool buffers) through the optimizer."""
    def run(ctx):
        def side(fast):
            def go():
                from fastnn.multi_layer_net_extend import MultiLayerNetExtend
                np.random.seed(1)
                net = MultiLayerNetExtend(30, [20, 20], 10, use_batchnorm=True,
                                          backend="fast" if fast else "reference")
                opt = getattr(_module(fast), cls)()
                r = np.random.default_rng(2)
                for _ in range(4):
                    x, t = r.standard_normal((16, 30)), r.integers(0, 10, 16)
                    np.random.seed(3)
                    opt.update(net.params, net.gradient(x, t))
                return _snapshot(net.params), _state(opt)
            return go
        return paired(side(True), side(False), cls)
    return run


for _cls in CLASSES:
    REGISTRY.add("%s/network-steps" % _cls, _network_update(_cls), quick=_cls == "Adam")
