"""layers: fastnn.ops, fastnn.layers and the networks against fastnn.reference.

Every case builds its inputs twice from one seed, runs the fast code on one
copy and the reference formulas (the book's statements, or
``fastnn.reference``) on the other, and compares whatever both return,
including arrays updated in place.  A refusal is judged by its message.
"""
import ctypes

import numpy as np

from ._arrays import (FLOAT, LABELS, MASK, QUICK, SCALAR, THREADS, readonly, strided,
                      unaligned)
from ._common import Registry, Wrong, compare, compare_kw, paired, quiet_numpy

REGISTRY = Registry("layers")
N, D, M, C = 64, 300, 50, 10          # N*D > 16384: the kernels split the work over threads

# Secondary arguments (state, parameters, gradients of the output) get this subset.
SECONDARY = ("float16", "float32", "int64", "object", "byteswapped", "strided", "fortran",
             "zero-stride", "readonly", "unaligned", "nan", "inf", "empty", "rank+1", "list",
             "none", "shape-minus-1", "masked", "memmap")
FLOAT32_BASE = ("float64", "byteswapped", "strided", "unaligned", "nan", "inf", "huge",
                "zero-stride", "fortran", "int64")


# -- the reference formulas of fastnn.ops (the book's statements) -----------------

def _ref_layers():
    from fastnn.reference import layers
    return layers


def r_relu_forward(x, **_):
    mask = x <= 0
    out = x.copy()
    out[mask] = 0
    return out, mask


def r_relu_backward(dout, mask, **_):
    dx = dout.copy()
    dx[mask] = 0
    return dx


def r_sigmoid_forward(x, **_):
    return 1 / (1 + np.exp(-x))


def r_sigmoid_backward(dout, y, **_):
    return dout * (1.0 - y) * y


def r_softmax_forward(x, t, label_smoothing=0.0, **_):
    layer = _ref_layers().SoftmaxWithLoss(label_smoothing)
    loss = layer.forward(x, t)
    return loss, layer.y


def r_softmax_backward(y, t, label_smoothing=0.0, **_):
    layer = _ref_layers().SoftmaxWithLoss(label_smoothing)
    layer.y, layer.t = y, t
    return layer.backward()


def r_affine_forward(x, W, b, **_):
    return np.dot(x, W) + b


def r_affine_backward(dout, x, W, compute_dx=True, weight_decay=0.0, **_):
    dW = np.dot(x.T, dout)
    if weight_decay:
        dW = dW + weight_decay * W
    return (np.dot(dout, W.T) if compute_dx else None), dW, np.sum(dout, axis=0)


def r_bn_train(x, gamma, beta, running_mean=None, running_var=None, momentum=0.9, eps=1e-6,
               **_):
    mu = x.mean(axis=0)
    xc = x - mu
    var = np.mean(xc ** 2, axis=0)
    std = np.sqrt(var + eps)
    xn = xc / std
    if running_mean is not None:
        running_mean[...] = momentum * running_mean + (1 - momentum) * mu
    if running_var is not None:
        running_var[...] = momentum * running_var + (1 - momentum) * var
    return gamma * xn + beta, xc, xn, std


def r_bn_infer(x, gamma, beta, running_mean, running_var, eps=1e-6, **_):
    return gamma * ((x - running_mean) / np.sqrt(running_var + eps)) + beta


def r_bn_backward(dout, xn, std, gamma, **_):
    # The op's documented formula: the book's chain rule simplified with xn = xc/std.
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(xn * dout, axis=0)
    return (gamma / std) * (dout - dbeta / n - xn * dgamma / n), dgamma, dbeta


def r_dropout_forward(x, dropout_ratio, train_flg=True, **_):
    if not train_flg:
        return x * (1.0 - dropout_ratio), None
    mask = np.random.rand(*x.shape) > dropout_ratio
    return x * mask, mask


def r_dropout_backward(dout, mask, **_):
    return dout * mask


def r_sgd(param, grad, lr, **_):
    param -= lr * grad


def r_momentum(param, grad, v, lr, momentum=0.9, **_):
    v[...] = momentum * v - lr * grad
    param += v


def r_nesterov(param, grad, v, lr, momentum=0.9, **_):
    param += momentum * momentum * v
    param -= (1 + momentum) * lr * grad
    v *= momentum
    v -= lr * grad


def r_adagrad(param, grad, h, lr, eps=1e-7, **_):
    h += grad * grad
    param -= lr * grad / (np.sqrt(h) + eps)


def r_rmsprop(param, grad, h, lr, decay_rate=0.99, eps=1e-7, **_):
    h *= decay_rate
    h += (1 - decay_rate) * grad * grad
    param -= lr * grad / (np.sqrt(h) + eps)


def r_adam(param, grad, m, v, lr_t, beta1=0.9, beta2=0.999, eps=1e-7, **_):
    m += (1 - beta1) * (grad - m)
    v += (1 - beta2) * (grad ** 2 - v)
    param -= lr_t * m / (np.sqrt(v) + eps)


# -- the ops, their inputs and their hostile arguments ------------------------------

def _randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class Op:
    """One function of fastnn.ops: ``make(rng, dtype)`` its arguments (a dict, in
    call order); ``floats`` the float arrays to mutate (the first is the main
    input); ``inplace`` the arrays it updates; ``outs`` {keyword: index of that
    output in the result}; ``scalars`` hyperparameter keywords; ``threads``
    whether it takes num_threads; ``masks``/``labels`` mask and label keywords."""

    def __init__(self, name, ref, make, floats, inplace=(), outs=None, scalars=(),
                 threads=False, masks=(), labels=(), seeded=False):
        self.name, self.ref, self.make, self.floats = name, ref, make, floats
        self.inplace, self.outs, self.scalars = inplace, outs or {}, scalars
        self.threads, self.masks, self.labels, self.seeded = threads, masks, labels, seeded


def _state(rng, dtype, positive=False):
    a = _randn(rng, (N, D), dtype)
    return np.abs(a) if positive else a


def _bn_backward_args(r, dt):
    """dout, and xn and std as a training forward pass returns them."""
    x = _randn(r, (N, D), np.float64) * 2 + 1
    std = np.sqrt(x.var(axis=0) + 1e-6)
    xn = (x - x.mean(axis=0)) / std
    return {"dout": _randn(r, (N, D), dt), "xn": xn.astype(dt), "std": std.astype(dt),
            "gamma": _randn(r, (D,), dt)}


OPS = [
    Op("relu_forward", r_relu_forward, lambda r, dt: {"x": _randn(r, (N, D), dt)}, ["x"],
       outs={"out": 0, "mask": 1}),
    Op("relu_backward", r_relu_backward,
       lambda r, dt: {"dout": _randn(r, (N, D), dt), "mask": _randn(r, (N, D), dt) <= 0},
       ["dout"], outs={"out": None}, masks=["mask"]),
    Op("sigmoid_forward", r_sigmoid_forward, lambda r, dt: {"x": _randn(r, (N, D), dt)}, ["x"],
       outs={"out": None}),
    Op("sigmoid_backward", r_sigmoid_backward,
       lambda r, dt: {"dout": _randn(r, (N, D), dt),
                      "y": (1 / (1 + np.exp(-_randn(r, (N, D), dt)))).astype(dt)},
       ["dout", "y"], outs={"out": None}),
    Op("softmax_cross_entropy_forward", r_softmax_forward,
       lambda r, dt: {"x": _randn(r, (N * 40, C), dt), "t": r.integers(0, C, N * 40)},
       ["x"], outs={"y_out": 1}, scalars=["label_smoothing"], labels=["t"]),
    Op("softmax_cross_entropy_backward", r_softmax_backward,
       lambda r, dt: {"y": _softmax(_randn(r, (N * 40, C), dt)).astype(dt),
                      "t": r.integers(0, C, N * 40)},
       ["y"], outs={"out": None}, scalars=["label_smoothing"], labels=["t"]),
    Op("affine_forward", r_affine_forward,
       lambda r, dt: {"x": _randn(r, (N, D), dt), "W": _randn(r, (D, M), dt),
                      "b": _randn(r, (M,), dt)}, ["x", "W", "b"], outs={"out": None}),
    Op("affine_backward", r_affine_backward,
       lambda r, dt: {"dout": _randn(r, (N, M), dt), "x": _randn(r, (N, D), dt),
                      "W": _randn(r, (D, M), dt)}, ["dout", "x", "W"],
       outs={"dx": 0, "dW": 1, "db": 2}, scalars=["weight_decay"]),
    Op("batchnorm_forward_train", r_bn_train,
       lambda r, dt: {"x": _randn(r, (N, D), dt), "gamma": _randn(r, (D,), dt),
                      "beta": _randn(r, (D,), dt), "running_mean": _randn(r, (D,), dt),
                      "running_var": np.abs(_randn(r, (D,), dt))},
       ["x", "gamma", "beta", "running_mean", "running_var"],
       inplace=["running_mean", "running_var"], outs={"out": 0, "xc": 1, "xn": 2, "std": 3},
       scalars=["momentum", "eps"], threads=True),
    Op("batchnorm_forward_infer", r_bn_infer,
       lambda r, dt: {"x": _randn(r, (N, D), dt), "gamma": _randn(r, (D,), dt),
                      "beta": _randn(r, (D,), dt), "running_mean": _randn(r, (D,), dt),
                      "running_var": np.abs(_randn(r, (D,), dt))},
       ["x", "gamma", "beta", "running_mean", "running_var"], outs={"out": None},
       scalars=["eps"], threads=True),
    Op("batchnorm_backward", r_bn_backward, lambda r, dt: _bn_backward_args(r, dt),
       ["dout", "xn", "std", "gamma"], outs={"dx": 0, "dgamma": 1, "dbeta": 2}, threads=True),
    Op("dropout_forward", r_dropout_forward,
       lambda r, dt: {"x": _randn(r, (N, D), dt), "dropout_ratio": 0.3}, ["x"],
       outs={"out": 0, "mask": 1}, scalars=["dropout_ratio"], seeded=True),
    Op("dropout_backward", r_dropout_backward,
       lambda r, dt: {"dout": _randn(r, (N, D), dt), "mask": _randn(r, (N, D), dt) > 0},
       ["dout"], outs={"dx": None}, threads=True, masks=["mask"]),
    Op("sgd_update", r_sgd,
       lambda r, dt: {"param": _state(r, dt), "grad": _state(r, dt), "lr": 0.1},
       ["param", "grad"], inplace=["param"], scalars=["lr"], threads=True),
    Op("momentum_update", r_momentum,
       lambda r, dt: {"param": _state(r, dt), "grad": _state(r, dt), "v": _state(r, dt),
                      "lr": 0.1, "momentum": 0.9},
       ["param", "grad", "v"], inplace=["param", "v"], scalars=["lr", "momentum"],
       threads=True),
    Op("nesterov_update", r_nesterov,
       lambda r, dt: {"param": _state(r, dt), "grad": _state(r, dt), "v": _state(r, dt),
                      "lr": 0.1, "momentum": 0.9},
       ["param", "grad", "v"], inplace=["param", "v"], scalars=["lr", "momentum"],
       threads=True),
    Op("adagrad_update", r_adagrad,
       lambda r, dt: {"param": _state(r, dt), "grad": _state(r, dt),
                      "h": _state(r, dt, True), "lr": 0.1},
       ["param", "grad", "h"], inplace=["param", "h"], scalars=["lr", "eps"], threads=True),
    Op("rmsprop_update", r_rmsprop,
       lambda r, dt: {"param": _state(r, dt), "grad": _state(r, dt),
                      "h": _state(r, dt, True), "lr": 0.1, "decay_rate": 0.99},
       ["param", "grad", "h"], inplace=["param", "h"], scalars=["lr", "decay_rate", "eps"],
       threads=True),
    Op("adam_update", r_adam,
       lambda r, dt: {"param": _state(r, dt), "grad": _state(r, dt), "m": _state(r, dt),
                      "v": _state(r, dt, True), "lr_t": 0.01, "beta1": 0.9, "beta2": 0.999},
       ["param", "grad", "m", "v"], inplace=["param", "m", "v"],
       scalars=["lr_t", "beta1", "beta2", "eps"], threads=True),
]


def _copy(v):
    return np.array(v, copy=True) if type(v) is np.ndarray else v


def _longdouble(v):
    if isinstance(v, np.ndarray) and v.dtype.kind == "f":
        return v.astype(np.longdouble)
    return v


def _op_pair(op, seed, dtype, change, plain_ref=False, extended=False, **kw):
    """Run ``op`` fast and by the reference formula, each on inputs built from
    ``seed`` and then ``change(args)``-ed; compare results and in-place arrays.
    ``plain_ref``: the reference gets masked arrays as their data (the ops take
    any ndarray as ``np.asarray`` does).  ``extended``: a result equal to the
    reference computed in long double is accepted too (overflowing inputs)."""
    def side(fast, wide=False):
        def run():
            args = {k: _copy(v) for k, v in op.make(np.random.default_rng(seed), dtype).items()}
            change(args)
            if op.seeded:
                np.random.seed(1234)
            if fast:
                import fastnn.ops
                res = getattr(fastnn.ops, op.name)(**args)
            else:
                if wide:
                    args = {k: _longdouble(v) for k, v in args.items()}
                res = op.ref(**{k: (np.ma.getdata(v) if plain_ref else v)
                                for k, v in args.items()
                                if k not in op.outs and k != "num_threads"})
            return res, {k: args[k] for k in op.inplace}
        return run
    return paired(side(True), side(False), op.name,
                  alt=side(False, True) if extended else None, **kw)


def _seed(ctx):
    return int(ctx.rng.integers(2 ** 31))


def _mutate_case(op, arg, mutation, dtype):
    def run(ctx):
        seed = _seed(ctx)

        def change(args):
            args[arg] = FLOAT[mutation](args[arg], ctx.tmp)
        kw = compare_kw(mutation)
        if mutation == "zero-stride" and op.name.startswith("batchnorm"):
            # equal rows: a zero variance, whose rounding noise 1/sqrt(eps) amplifies
            kw["tol"] = 1e-2 if dtype == np.float32 else 1e-6
        note = _op_pair(op, seed, dtype, change, plain_ref=mutation == "masked",
                        extended=mutation == "huge", **kw)
        return note or ("the mask is ignored (as np.asarray)" if mutation == "masked" else None)
    return run


def _change_case(op, key, new, **kw):
    """``op`` with argument ``key`` replaced by ``new(old_value, tmp)``."""
    def run(ctx):
        def change(args):
            args[key] = new(args.get(key), ctx.tmp)
        return _op_pair(op, _seed(ctx), np.float64, change, **kw)
    return run


def _set_case(op, key, value, **kw):
    return _change_case(op, key, lambda old, tmp: value, **kw)


def _out_template(op, seed, key):
    """An array shaped and typed as the output ``key`` of ``op`` on the base inputs."""
    args = op.make(np.random.default_rng(seed), np.float64)
    res = op.ref(**args)
    index = op.outs[key]
    return np.zeros_like(res if index is None else res[index])


def _overlapping(args, name):
    """Rebuild input ``name`` inside a buffer one element longer; return a view of
    that buffer, of the same shape, shifted by one element."""
    a = args[name]
    buf = np.empty(a.size + 1, a.dtype)
    args[name] = buf[1:].reshape(a.shape)
    args[name][...] = a
    return buf[:-1].reshape(a.shape)


def _self_overlapping(t):
    """A writeable array of ``t``'s shape whose rows all share one row of memory."""
    row = np.zeros(t.shape[-1], t.dtype)
    return np.lib.stride_tricks.as_strided(row, t.shape, (0,) * (t.ndim - 1) + (t.itemsize,))


OUT_MUTATIONS = {
    "readonly": lambda t: readonly(np.zeros_like(t)),
    "strided": strided,
    "fortran": np.asfortranarray,
    "other-dtype": lambda t: t.astype(np.uint8 if t.dtype == bool else
                                      (np.float32 if t.dtype == np.float64 else np.float64)),
    "shape-minus-1": lambda t: np.zeros(t.shape[:-1] + (max(t.shape[-1] - 1, 0),), t.dtype)
    if t.ndim else t,
    "byteswapped": lambda t: t.astype(t.dtype.newbyteorder()),
    "rows-share-memory": lambda t: _self_overlapping(t) if t.ndim > 1 else strided(t),
    "unaligned": lambda t: unaligned(t) if t.dtype != bool else t,
    "list": lambda t: t.tolist(),
    "matrix": lambda t: np.asmatrix(t) if t.ndim == 2 else t,
    "masked": lambda t: np.ma.masked_array(t),
}


def _out_case(op, key, how):
    """``how``: a name of OUT_MUTATIONS, or 'alias:ARG' / 'overlap:ARG' (the output
    is an input, or shares all but one element of its memory), or 'twin:KEY'
    (two outputs given one array)."""
    def run(ctx):
        seed = _seed(ctx)
        template = _out_template(op, seed, key)

        def change(args):
            kind, _, other = how.partition(":")
            if kind == "alias":
                args[key] = args[other]
            elif kind == "overlap":
                args[key] = _overlapping(args, other)
            elif kind == "twin":
                args[key] = args[other] = np.zeros_like(template)
            else:
                args[key] = OUT_MUTATIONS[how](template)
        return _op_pair(op, seed, np.float64, change)
    return run


def _state_alias_case(op, key, other):
    """An in-place array that is another argument of the call."""
    def run(ctx):
        def change(args):
            args[key] = args[other]
        return _op_pair(op, _seed(ctx), np.float64, change)
    return run


def _register_ops():
    for op in OPS:
        for i, arg in enumerate(op.floats):
            names = list(FLOAT) if i == 0 else list(SECONDARY)
            for mutation in names:
                REGISTRY.add("ops/%s/%s:%s" % (op.name, arg, mutation),
                             _mutate_case(op, arg, mutation, np.float64),
                             quick=(i == 0 and mutation in QUICK))
            for mutation in FLOAT32_BASE if i == 0 else ():
                REGISTRY.add("ops/%s/float32/%s:%s" % (op.name, arg, mutation),
                             _mutate_case(op, arg, mutation, np.float32))
        for key in op.outs:
            hows = list(OUT_MUTATIONS)
            hows += ["alias:%s" % a for a in op.floats if a != key]
            hows += ["overlap:%s" % a for a in op.floats[:2]]
            twins = [k for k in op.outs if k != key]
            hows += ["twin:%s" % k for k in twins[:1]]
            for how in hows:
                REGISTRY.add("ops/%s/%s=%s" % (op.name, key, how), _out_case(op, key, how),
                             quick=how in ("alias:%s" % op.floats[0], "rows-share-memory"))
        for key in op.inplace:
            for other in op.floats:
                if other != key:
                    REGISTRY.add("ops/%s/%s-is-%s" % (op.name, key, other),
                                 _state_alias_case(op, key, other), quick=True)
        for key in op.scalars:
            for name, value in SCALAR.items():
                REGISTRY.add("ops/%s/%s=%s" % (op.name, key, name),
                             _set_case(op, key, value, **compare_kw(name)),
                             quick=name in ("nan", "string"))
        if op.threads:
            for name, value in THREADS.items():
                REGISTRY.add("ops/%s/num_threads=%s" % (op.name, name),
                             _set_case(op, "num_threads", value),
                             quick=name in ("0", "2**31", "string-2"))
        for key in op.masks:
            for name in MASK:
                REGISTRY.add("ops/%s/%s:%s" % (op.name, key, name),
                             _change_case(op, key, MASK[name]),
                             quick=name == "bytes-2-to-255")
        for key in op.labels:
            for name in LABELS:
                REGISTRY.add("ops/%s/%s:%s" % (op.name, key, name),
                             _change_case(op, key, LABELS[name]),
                             quick=name in ("negative", "too-large", "one-hot-nan"))


_register_ops()


# -- the layer classes ---------------------------------------------------------------

class LayerSpec:
    """A layer of fastnn.layers and its twin in fastnn.reference.layers:
    ``ctor(rng, dtype)`` {name: constructor argument}; ``x``/``dout`` shapes;
    ``train`` the train_flg (None: forward takes none); ``attrs`` compared
    after backward."""

    def __init__(self, cls, ctor, x_shape, out_shape, train=None, attrs=(), labels=False,
                 floats=(), ints=(), dtype=np.float64, compare_kw=None):
        self.cls, self.ctor, self.x_shape, self.out_shape = cls, ctor, x_shape, out_shape
        self.train, self.attrs, self.labels = train, attrs, labels
        self.floats, self.ints, self.dtype = floats, ints, dtype
        self.compare_kw = compare_kw or {}


def _affine_ctor(r, dt):
    return {"W": _randn(r, (D, M), dt), "b": _randn(r, (M,), dt)}


def _bn_ctor(r, dt, stats=False):
    c = {"gamma": _randn(r, (D,), dt), "beta": _randn(r, (D,), dt), "momentum": 0.9}
    if stats:
        c.update(running_mean=_randn(r, (D,), dt), running_var=np.abs(_randn(r, (D,), dt)))
    return c


def _conv_ctor(r, dt, fn=4, ch=3):
    return {"W": _randn(r, (fn, ch, 3, 3), dt) * 0.3, "b": _randn(r, (fn,), dt),
            "stride": 1, "pad": 1}


LAYERS = {
    "Relu": LayerSpec("Relu", lambda r, dt: {}, (N, D), (N, D), attrs=("mask",)),
    "Sigmoid": LayerSpec("Sigmoid", lambda r, dt: {}, (N, D), (N, D), attrs=("out",)),
    "Affine": LayerSpec("Affine", _affine_ctor, (N, D), (N, M), attrs=("dW", "db"),
                        floats=("W", "b")),
    "Affine-4d": LayerSpec("Affine", _affine_ctor, (N, 3, 10, 10), (N, M), attrs=("dW", "db"),
                           floats=("W",)),
    "SoftmaxWithLoss": LayerSpec("SoftmaxWithLoss", lambda r, dt: {"label_smoothing": 0.0},
                                 (N * 40, C), None, attrs=("loss", "y"), labels=True),
    "SoftmaxWithLoss-smoothed": LayerSpec(
        "SoftmaxWithLoss", lambda r, dt: {"label_smoothing": 0.1}, (N * 40, C), None,
        attrs=("loss", "y"), labels=True),
    "BatchNormalization": LayerSpec(
        "BatchNormalization", _bn_ctor, (N, D), (N, D), train=True,
        attrs=("running_mean", "running_var", "dgamma", "dbeta", "xn", "std"),
        floats=("gamma", "beta")),
    "BatchNormalization-infer": LayerSpec(
        "BatchNormalization", lambda r, dt: _bn_ctor(r, dt, True), (N, D), (N, D), train=False,
        attrs=("running_mean", "running_var"),
        floats=("gamma", "beta", "running_mean", "running_var")),
    "BatchNormalization-4d": LayerSpec(
        "BatchNormalization", _bn_ctor, (N, 3, 10, 10), (N, 3, 10, 10), train=True,
        attrs=("running_mean", "running_var", "dgamma", "dbeta")),
    "Dropout": LayerSpec("Dropout", lambda r, dt: {"dropout_ratio": 0.3}, (N, D), (N, D),
                         train=True, attrs=("mask",)),
    "Dropout-infer": LayerSpec("Dropout", lambda r, dt: {"dropout_ratio": 0.3}, (N, D), (N, D),
                               train=False),
    "Convolution": LayerSpec("Convolution", _conv_ctor, (8, 3, 10, 10), (8, 4, 10, 10),
                             attrs=("dW", "db"), floats=("W", "b"), ints=("stride", "pad")),
    "Convolution-winograd": LayerSpec(
        "Convolution", lambda r, dt: _conv_ctor(r, dt, 8, 8), (4, 8, 10, 10), (4, 8, 10, 10),
        attrs=("dW", "db"), floats=("W",), dtype=np.float32,
        compare_kw={"nonfinite": "any-kind"}),   # documented: inf gives NaN in Winograd
    "Pooling": LayerSpec("Pooling", lambda r, dt: {"pool_h": 2, "pool_w": 2, "stride": 2,
                                                   "pad": 0},
                         (8, 3, 10, 10), (8, 3, 5, 5), attrs=("arg_max",),
                         ints=("pool_h", "pool_w", "stride", "pad")),
}


def _layer_inputs(spec, seed):
    r = np.random.default_rng(seed)
    ctor = spec.ctor(r, spec.dtype)
    x = _randn(r, spec.x_shape, spec.dtype)
    if spec.cls == "SoftmaxWithLoss":
        return {"ctor": ctor, "x": x * 3, "t": r.integers(0, C, spec.x_shape[0]), "dout": 1}
    return {"ctor": ctor, "x": x, "dout": _randn(r, spec.out_shape, spec.dtype)}


def _run_layer(module, spec, inputs, steps=("forward", "backward")):
    """Build the layer from ``inputs['ctor']`` and run ``steps``; everything it
    returned and the attributes ``spec.attrs`` after it."""
    layer = getattr(module, spec.cls)(**inputs["ctor"])
    results = []
    for step in steps:
        if step == "forward":
            np.random.seed(99)
            if spec.cls == "SoftmaxWithLoss":
                results.append(layer.forward(inputs["x"], inputs["t"]))
            elif spec.train is None:
                results.append(layer.forward(inputs["x"]))
            else:
                results.append(layer.forward(inputs["x"], spec.train))
        elif spec.cls == "SoftmaxWithLoss":
            results.append(layer.backward())
        else:
            results.append(layer.backward(inputs["dout"]))
    attrs = {a: getattr(layer, a, None) for a in spec.attrs}
    if spec.train is False or "backward" not in steps:
        attrs = {a: v for a, v in attrs.items() if a not in ("dW", "db", "dgamma", "dbeta")}
    return results, attrs


def _layer_pair(spec, seed, change, **kw):
    steps = ("forward", "backward") if spec.train is not False else ("forward",)

    def side(fast):
        def run():
            from fastnn import layers as fast_layers
            inputs = _layer_inputs(spec, seed)
            change(inputs)
            return _run_layer(fast_layers if fast else _ref_layers(), spec, inputs, steps)
        return run
    return paired(side(True), side(False), spec.cls, **dict(spec.compare_kw, **kw))


def _layer_mutation(spec, where, mutation, table):
    def run(ctx):
        def change(inputs):
            if where in ("x", "dout", "t"):
                inputs[where] = table[mutation](np.asarray(inputs[where]), ctx.tmp)
            else:
                inputs["ctor"][where] = table[mutation](inputs["ctor"][where], ctx.tmp)
        kw = compare_kw(mutation)
        if mutation == "zero-stride" and spec.cls == "BatchNormalization":
            kw["tol"] = 1e-6
        return _layer_pair(spec, _seed(ctx), change, **kw)
    return run


def _layer_setting(spec, key, value, **kw):
    def run(ctx):
        def change(inputs):
            inputs["ctor"][key] = value
        return _layer_pair(spec, _seed(ctx), change, **kw)
    return run


INTS = {"0": 0, "-1": -1, "float-1.5": 1.5, "10**9": 10 ** 9, "string-1": "1", "none": None,
        "numpy-int64-1": np.int64(1), "bool-true": True, "2**63": 2 ** 63}


def _register_layers():
    for label, spec in LAYERS.items():
        for mutation in FLOAT:
            REGISTRY.add("layer/%s/x:%s" % (label, mutation),
                         _layer_mutation(spec, "x", mutation, FLOAT),
                         quick=mutation in QUICK and label in ("Affine", "BatchNormalization",
                                                               "Convolution", "Pooling"),
                         memory_ok=mutation == "object")
        if spec.out_shape is not None and spec.train is not False:
            for mutation in SECONDARY:
                REGISTRY.add("layer/%s/dout:%s" % (label, mutation),
                             _layer_mutation(spec, "dout", mutation, FLOAT))
        for key in spec.floats:
            for mutation in SECONDARY:
                REGISTRY.add("layer/%s/%s:%s" % (label, key, mutation),
                             _layer_mutation(spec, key, mutation, FLOAT),
                             quick=mutation in ("byteswapped", "zero-stride"))
        if spec.labels:
            for mutation in LABELS:
                REGISTRY.add("layer/%s/t:%s" % (label, mutation),
                             _layer_mutation(spec, "t", mutation, LABELS),
                             quick=mutation in ("negative", "one-hot-soft"))
        for key in spec.ints:
            for name, value in INTS.items():
                REGISTRY.add("layer/%s/%s=%s" % (label, key, name),
                             _layer_setting(spec, key, value), quick=name == "0",
                             memory_ok=name in ("10**9", "2**63"))
    for key, values in (("dropout_ratio", SCALAR), ("momentum", SCALAR),
                        ("label_smoothing", SCALAR)):
        label = {"dropout_ratio": "Dropout", "momentum": "BatchNormalization",
                 "label_smoothing": "SoftmaxWithLoss"}[key]
        for name, value in values.items():
            REGISTRY.add("layer/%s/%s=%s" % (label, key, name),
                         _layer_setting(LAYERS[label], key, value, **compare_kw(name)),
                         quick=name == "nan")
    for pad in (5, 100, 10 ** 5):
        REGISTRY.add("layer/Convolution/pad=%d" % pad,
                     _layer_setting(LAYERS["Convolution"], "pad", pad), memory_ok=True)


_register_layers()


# -- what a caller keeps never changes under it -----------------------------------------

def _kept(kind, a):
    """A handle on ``a`` of the given kind, and how to read it back as an array."""
    if kind == "slice":
        return a[1:], lambda h: np.array(h)
    if kind == "memoryview":
        return memoryview(a), lambda h: np.array(h)
    if kind == "frombuffer":
        return np.frombuffer(a, dtype=a.dtype), lambda h: np.array(h)
    if kind == "reshape":
        return a.reshape(-1), lambda h: np.array(h)
    if kind == "transpose":
        return a.T, lambda h: np.array(h.T)
    if kind == "subclass-view":
        return a.view(np.ma.MaskedArray), lambda h: np.array(h.data)
    if kind == "dlpack":
        return np.from_dlpack(a), lambda h: np.array(h)
    if kind == "ctypes-from-buffer":
        return (ctypes.c_char * a.nbytes).from_buffer(a), lambda h: np.frombuffer(
            bytes(h), dtype=a.dtype)
    if kind == "nditer":
        it = np.nditer(a, flags=["multi_index"])
        return it, lambda h: np.array(h.operands[0])
    raise KeyError(kind)


def _keep_case(spec, which, kind):
    """Keep the first step's forward output (or dx) only through a ``kind`` handle,
    run a second step on other inputs, and read the handle back."""
    def run(ctx):
        from fastnn import layers as fast_layers
        inputs = _layer_inputs(spec, _seed(ctx))
        other = _layer_inputs(spec, _seed(ctx))
        layer = getattr(fast_layers, spec.cls)(**inputs["ctor"])

        def step(inp):
            if spec.cls == "SoftmaxWithLoss":
                layer.forward(inp["x"], inp["t"])
                return layer.y, layer.backward()
            out = (layer.forward(inp["x"]) if spec.train is None
                   else layer.forward(inp["x"], True))
            return out, layer.backward(inp["dout"])
        first = step(inputs)[0 if which == "out" else 1]
        if not isinstance(first, np.ndarray) or first.size < 2 or first.ndim < 1:
            return "no array to keep"
        if kind in ("frombuffer", "ctypes-from-buffer") and not first.flags.c_contiguous:
            return "not contiguous"
        handle, read = _kept(kind, first)
        expected = np.array(first, copy=True)
        if kind == "slice":
            expected = expected[1:]
        elif kind in ("reshape", "frombuffer", "ctypes-from-buffer"):
            expected = expected.reshape(-1)
        del first
        for _ in range(3):
            step(other)
        got = read(handle)
        if not np.array_equal(got.reshape(expected.shape), expected, equal_nan=True):
            raise Wrong("the %s kept through a %s changed under the caller" % (which, kind))
    return run


KEEP = ("slice", "memoryview", "frombuffer", "reshape", "transpose", "subclass-view",
        "dlpack", "ctypes-from-buffer", "nditer")
for _label in ("Relu", "Sigmoid", "Affine", "BatchNormalization", "Dropout", "Convolution",
               "Pooling", "SoftmaxWithLoss"):
    for _which in ("out", "dx"):
        for _kind in KEEP:
            REGISTRY.add("layer/%s/keep-%s-via-%s" % (_label, _which, _kind),
                         _keep_case(LAYERS[_label], _which, _kind),
                         quick=_kind in ("memoryview", "ctypes-from-buffer") and _which == "out")


# -- arguments that alias the layer's own state, and odd call orders --------------------

def _square_affine(r, dt):
    return {"W": _randn(r, (M, M), dt), "b": _randn(r, (M,), dt)}


SQUARE = LayerSpec("Affine", _square_affine, (M, M), (M, M), attrs=("dW", "db"))
BN_ONE = LayerSpec("BatchNormalization", _bn_ctor, (1, D), (1, D), train=True,
                   attrs=("running_mean", "running_var", "dgamma", "dbeta"))


def _sequence_case(spec, script):
    """Run ``script(layer, inputs)`` on a fast and a reference layer built alike
    and compare what it returns."""
    def run(ctx):
        seed = _seed(ctx)

        def side(module):
            def go():
                inputs = _layer_inputs(spec, seed)
                layer = getattr(module(), spec.cls)(**inputs["ctor"])
                np.random.seed(5)
                return script(layer, inputs)
            return go
        from fastnn import layers as fast_layers
        return paired(side(lambda: fast_layers), side(_ref_layers), spec.cls)
    return run


def _dout_is_dW(layer, inp):
    layer.forward(inp["x"])
    layer.backward(inp["dout"])
    layer.forward(inp["x"] * 2)
    dx = layer.backward(layer.dW)
    return dx, layer.dW, layer.db


def _dout_is_db(layer, inp):
    layer.forward(inp["x"][:1])
    layer.backward(inp["dout"][:1])
    layer.forward(inp["x"][1:2])
    dx = layer.backward(layer.db[None, :])
    return dx, layer.dW, layer.db


def _conv_dout_is_dW(layer, inp):
    x = inp["x"][:3, :, :3, :3]                  # (3, 3, 3, 3): dout (3, 4, 3, 3), dW's size
    layer.forward(x)
    layer.backward(inp["dout"][:3, :, :3, :3])
    layer.forward(x * 2)
    dx = layer.backward(layer.dW.reshape(3, 4, 3, 3))
    return dx, layer.dW, layer.db


def _x_is_W(layer, inp):
    out = layer.forward(layer.W)
    dx = layer.backward(inp["dout"])
    return out, dx, layer.dW, layer.W


def _x_is_dW(layer, inp):
    layer.forward(inp["x"])
    layer.backward(inp["dout"])
    out = layer.forward(layer.dW)
    dx = layer.backward(inp["dout"])
    return out, dx, layer.dW, layer.db


def _x_changed_after_forward(layer, inp):
    x = np.array(inp["x"], copy=True)
    out = layer.forward(x)
    x *= 3
    dx = layer.backward(inp["dout"])
    return out, dx, layer.dW


def _bn_dout_is_dgamma(layer, inp):
    layer.forward(inp["x"], True)
    layer.backward(inp["dout"])
    layer.forward(inp["x"] * 2, True)
    dx = layer.backward(layer.dgamma[None, :])
    return dx, layer.dgamma, layer.dbeta


def _bn_x_is_running_mean(layer, inp):
    layer.forward(inp["x"], True)
    out = layer.forward(layer.running_mean[None, :], True)
    return out, layer.running_mean, layer.running_var


def _mask_replaced(layer, inp):
    """A mask set by the caller: a bool array whose bytes are not all 0 or 1
    (a uint8 array viewed as bool); NumPy reads every nonzero byte as True."""
    _train_forward(layer, inp["x"])
    layer.mask = (layer.mask.astype(np.uint8) * np.uint8(7)).view(np.bool_)
    return layer.backward(inp["dout"])


def _copied_between_passes(layer, inp):
    """A deep copy made after forward runs backward, while the original runs another
    forward pass: the copy's cached state is its own."""
    import copy
    first = _train_forward(layer, inp["x"])
    twin = copy.deepcopy(layer)
    np.random.seed(6)
    _train_forward(layer, inp["x"] * 3)
    return first, twin.backward(inp["dout"]), getattr(twin, "dW", None)


def _train_forward(layer, x):
    """A training forward pass (the train flag where the layer takes one)."""
    if hasattr(layer, "dropout_ratio") or hasattr(layer, "running_mean"):
        return layer.forward(x, True)
    return layer.forward(x)


def _backward_first(layer, inp):
    return layer.backward(inp["dout"])


def _backward_twice(layer, inp):
    layer.forward(inp["x"])
    return layer.backward(inp["dout"]), layer.backward(inp["dout"] * 2), layer.dW


def _batch_changes_before_backward(layer, inp):
    layer.forward(inp["x"])
    layer.forward(inp["x"][:3])
    return layer.backward(inp["dout"])


def _own_output_again(layer, inp):
    out = layer.forward(inp["x"])
    out2 = layer.forward(out)
    return out, out2, layer.backward(out2)


def _params_swapped(kind):
    def script(layer, inp):
        W = layer.W
        layer.W = {"float16": lambda: W.astype(np.float16),
                   "transposed": lambda: np.ascontiguousarray(W.T).T,
                   "readonly": lambda: readonly(W),
                   "byteswapped": lambda: W.astype(W.dtype.newbyteorder()),
                   "float32": lambda: W.astype(np.float32)}[kind]()
        out = layer.forward(inp["x"])
        return out, layer.backward(inp["dout"]), layer.dW, layer.db
    return script


SEQUENCES = [
    ("Affine/dout-is-dW", SQUARE, _dout_is_dW),
    ("Affine/dout-is-db", SQUARE, _dout_is_db),
    ("Affine/x-is-W", SQUARE, _x_is_W),
    ("Affine/x-is-dW", SQUARE, _x_is_dW),
    ("Convolution/dout-is-dW", LAYERS["Convolution"], _conv_dout_is_dW),
    ("Affine/x-changed-after-forward", LAYERS["Affine"], _x_changed_after_forward),
    ("Affine/backward-twice", LAYERS["Affine"], _backward_twice),
    ("Affine/forward-own-output", SQUARE, _own_output_again),
    ("BatchNormalization/dout-is-dgamma", BN_ONE, _bn_dout_is_dgamma),
    ("BatchNormalization/x-is-running-mean", BN_ONE, _bn_x_is_running_mean),
    ("Dropout/mask-bytes-2-to-255", LAYERS["Dropout"], _mask_replaced),
    ("Relu/mask-bytes-2-to-255", LAYERS["Relu"], _mask_replaced),
]
# odd call orders, on the layers where they mean something
for _label, _scripts in (
        ("Affine", (_backward_first, _batch_changes_before_backward)),
        ("Relu", (_backward_first, _batch_changes_before_backward, _own_output_again)),
        ("Sigmoid", (_backward_first, _own_output_again)),
        ("Convolution", (_backward_first, _batch_changes_before_backward)),
        ("Pooling", (_backward_first, _batch_changes_before_backward)),
        ("BatchNormalization", (_backward_first,)), ("Dropout", (_backward_first,))):
    SEQUENCES += [("%s/%s" % (_label, {_backward_first: "backward-before-forward",
                                       _batch_changes_before_backward:
                                           "batch-changes-before-backward",
                                       _own_output_again: "forward-own-output"}[_script]),
                   LAYERS[_label], _script) for _script in _scripts]
for _label in ("Relu", "Sigmoid", "Affine", "BatchNormalization", "Dropout", "Convolution",
               "Pooling"):
    SEQUENCES.append(("%s/deepcopy-between-passes" % _label, LAYERS[_label],
                      _copied_between_passes))
# a parameter replaced after construction by one the kernels do not take
for _label in ("Affine", "Convolution"):
    SEQUENCES += [("%s/W-replaced-%s" % (_label, k), LAYERS[_label], _params_swapped(k))
                  for k in ("float16", "transposed", "readonly", "byteswapped", "float32")]

for _name, _spec, _script in SEQUENCES:
    REGISTRY.add("layer/" + _name, _sequence_case(_spec, _script),
                 quick="dout-is" in _name or "before-forward" in _name)


# -- Dropout's fast mode: hostile seeds and generators ---------------------------------

def _fast_dropout_case(seed_value, ratio=0.3):
    def run(ctx):
        from fastnn.layers import Dropout
        layer = Dropout(ratio, mode="fast", seed=seed_value)
        x = ctx.rng.standard_normal((N, D))
        out = layer.forward(x, True)
        mask = layer.mask
        with quiet_numpy():
            compare(out, x * mask, "fast-mode output")
        keep = float(np.mean(mask))
        if not abs(keep - (1 - ratio)) < 0.03:
            raise Wrong("fast-mode dropout kept %.3f of the units, expected %.3f"
                        % (keep, 1 - ratio))
        compare(layer.backward(x), x * mask, "fast-mode dx")
    return run


for _name, _value in (("-1", -1), ("2**200", 2 ** 200), ("string", "abc"), ("float", 1.5),
                      ("generator", "GEN"), ("bitgenerator", "BITGEN"), ("list", [1, 2, 3]),
                      ("none", None), ("numpy-uint64", np.uint64(2 ** 64 - 1))):
    def _value_of(v=_value):
        if v == "GEN":
            return np.random.default_rng(1)
        if v == "BITGEN":
            return np.random.PCG64(1)
        return v
    REGISTRY.add("layer/Dropout/fast-seed=%s" % _name,
                 (lambda v: lambda ctx: _fast_dropout_case(v())(ctx))(_value_of),
                 quick=_name == "-1")
REGISTRY.add("layer/Dropout/fast-ratio-near-one",
             lambda ctx: _fast_dropout_case(0, 1 - 1e-12)(ctx))


# -- the networks: fast against reference backend -------------------------------------

def _net_pair(kind, seed, change, dtype=np.float64, **kw):
    def side(backend):
        def run():
            from fastnn.multi_layer_net_extend import MultiLayerNetExtend
            from fastnn.simple_convnet import SimpleConvNet
            r = np.random.default_rng(seed)
            np.random.seed(seed % 2 ** 31)
            if kind == "mlp":
                net = MultiLayerNetExtend(20, [16, 16], C, use_batchnorm=True, use_dropout=True,
                                          dropout_ration=0.2, weight_decay_lambda=0.01,
                                          backend=backend, dtype=dtype)
                x = r.standard_normal((32, 20))
            else:
                net = SimpleConvNet((1, 8, 8), {"filter_num": 4, "filter_size": 3, "pad": 0,
                                                "stride": 1}, hidden_size=10, output_size=C,
                                    weight_init_std=0.3, backend=backend, dtype=dtype)
                x = r.standard_normal((16, 1, 8, 8))
            inputs = {"x": x.astype(dtype), "t": r.integers(0, C, x.shape[0])}
            change(inputs)
            np.random.seed(3)
            grads = net.gradient(inputs["x"], inputs["t"])
            grads = {k: np.array(v, copy=True) for k, v in grads.items()}
            np.random.seed(4)
            return grads, net.predict(inputs["x"]), net.loss(inputs["x"], inputs["t"])
        return run
    return paired(side("fast"), side("reference"), kind, **kw)


def _net_case(kind, where, table, mutation, dtype=np.float64):
    def run(ctx):
        def change(inputs):
            inputs[where] = table[mutation](inputs[where], ctx.tmp)
        return _net_pair(kind, _seed(ctx), change, dtype, **compare_kw(mutation))
    return run


NET_X = ("float16", "float32", "int64", "uint8", "bool", "byteswapped", "strided", "fortran",
         "readonly", "unaligned", "nan", "inf", "huge", "empty", "one-row",
         "rank+1", "list", "matrix", "masked", "memmap", "object", "complex")
NET_T = ("negative", "too-large", "float", "bool", "byteswapped", "short", "one-hot",
         "one-hot-int", "one-hot-soft", "one-hot-wrong-width", "list", "int8")
def _net_empty_batch(kind):
    def run(ctx):
        def change(inputs):
            inputs["x"], inputs["t"] = inputs["x"][:0], inputs["t"][:0]
        return _net_pair(kind, _seed(ctx), change)
    return run


for _kind in ("mlp", "convnet"):
    REGISTRY.add("net/%s/empty-batch" % _kind, _net_empty_batch(_kind))
    for _m in NET_X:
        REGISTRY.add("net/%s/x:%s" % (_kind, _m), _net_case(_kind, "x", FLOAT, _m),
                     quick=_m in ("float32", "byteswapped", "nan", "empty"))
    for _m in NET_T:
        REGISTRY.add("net/%s/t:%s" % (_kind, _m), _net_case(_kind, "t", LABELS, _m),
                     quick=_m in ("one-hot-soft",))
    for _m in ("float64", "byteswapped", "strided", "nan", "inf", "empty", "int64"):
        REGISTRY.add("net/%s/float32/x:%s" % (_kind, _m),
                     _net_case(_kind, "x", FLOAT, _m, np.float32), quick=_m == "float64")
