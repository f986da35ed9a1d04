"""The contract every kernel entry point keeps, checked property by property
over one table of all of them (fastnn.ops) and over every fast layer:

* byte order: a byte-swapped input gives the native input's result (it is
  converted); a byte-swapped output or in-place argument is refused, naming
  the byte order;
* aliasing: every output and in-place argument against every input (and
  every other output) sharing memory is refused with a ValueError naming
  both;
* read-only outputs are refused;
* zero-size and 1-row inputs give a result of the right shape or a
  ValueError, never a crash;
* the fast layers equal the reference layers on byte-swapped, 1-row and
  non-finite inputs.

Examples per test: the "ci" profile of conftest.py (moderate); run
``pytest --hypothesis-profile=campaign tests/test_kernels_contract.py`` for
a long campaign.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from fastnn import layers as fast
from fastnn import ops
from fastnn.reference import layers as ref
from _util import assert_close

# -- the table: every ops entry point -----------------------------------------
# Each spec builds valid arguments for n rows and d columns and says which
# arguments the kernel reads and which it writes (outputs and in-place).


class Spec:
    def __init__(self, name, build, reads, writes):
        self.name, self.build, self.reads, self.writes = name, build, reads, writes

    def __repr__(self):
        return self.name


def _f(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _labels(rng, n, d):
    return rng.integers(0, d, size=n).astype(np.int32)


def _relu_fwd(rng, n, d, dt):
    return dict(x=_f(rng, (n, d), dt), out=np.empty((n, d), dt),
                mask=np.empty((n, d), bool))


def _relu_bwd(rng, n, d, dt):
    return dict(dout=_f(rng, (n, d), dt), mask=rng.random((n, d)) < 0.5,
                out=np.empty((n, d), dt))


def _sig_fwd(rng, n, d, dt):
    return dict(x=_f(rng, (n, d), dt), out=np.empty((n, d), dt))


def _sig_bwd(rng, n, d, dt):
    return dict(dout=_f(rng, (n, d), dt), y=rng.random((n, d)).astype(dt),
                out=np.empty((n, d), dt))


def _sce_fwd(rng, n, d, dt):
    return dict(x=_f(rng, (n, d), dt), t=_labels(rng, n, d), label_smoothing=0.1,
                y_out=np.empty((n, d), dt))


def _sce_bwd(rng, n, d, dt):
    y = rng.random((n, d)).astype(dt)
    return dict(y=y, t=_labels(rng, n, d), label_smoothing=0.0, out=np.empty((n, d), dt))


def _aff_fwd(rng, n, d, dt):
    return dict(x=_f(rng, (n, d), dt), W=_f(rng, (d, 3), dt), b=_f(rng, 3, dt),
                out=np.empty((n, 3), dt))


def _aff_bwd(rng, n, d, dt):
    return dict(dout=_f(rng, (n, 3), dt), x=_f(rng, (n, d), dt), W=_f(rng, (d, 3), dt),
                dx=np.empty((n, d), dt), dW=np.empty((d, 3), dt), db=np.empty(3, dt))


def _bn_train(rng, n, d, dt):
    return dict(x=_f(rng, (n, d), dt), gamma=_f(rng, d, dt), beta=_f(rng, d, dt),
                running_mean=_f(rng, d, dt), running_var=rng.random(d).astype(dt),
                out=np.empty((n, d), dt), xc=np.empty((n, d), dt), xn=np.empty((n, d), dt),
                std=np.empty(d, dt))


def _bn_infer(rng, n, d, dt):
    return dict(x=_f(rng, (n, d), dt), gamma=_f(rng, d, dt), beta=_f(rng, d, dt),
                running_mean=_f(rng, d, dt), running_var=rng.random(d).astype(dt),
                out=np.empty((n, d), dt))


def _bn_bwd(rng, n, d, dt):
    return dict(dout=_f(rng, (n, d), dt), xn=_f(rng, (n, d), dt),
                std=(1 + rng.random(d)).astype(dt), gamma=_f(rng, d, dt),
                dx=np.empty((n, d), dt), dgamma=np.empty(d, dt), dbeta=np.empty(d, dt))


def _drop_fwd(rng, n, d, dt):
    return dict(x=_f(rng, (n, d), dt), dropout_ratio=0.4, out=np.empty((n, d), dt),
                mask=np.empty((n, d), bool), mode="fast", rng=None)


def _drop_bwd(rng, n, d, dt):
    return dict(dout=_f(rng, (n, d), dt), mask=rng.random((n, d)) < 0.5,
                dx=np.empty((n, d), dt))


def _update(states, **hyper):
    def build(rng, n, d, dt):
        args = dict(param=_f(rng, (n, d), dt), grad=_f(rng, (n, d), dt))
        for s in states:
            args[s] = np.abs(_f(rng, (n, d), dt))
        args.update(hyper)
        return args
    return build


SPECS = [
    Spec("relu_forward", _relu_fwd, ["x"], ["out", "mask"]),
    Spec("relu_backward", _relu_bwd, ["dout", "mask"], ["out"]),
    Spec("sigmoid_forward", _sig_fwd, ["x"], ["out"]),
    Spec("sigmoid_backward", _sig_bwd, ["dout", "y"], ["out"]),
    Spec("softmax_cross_entropy_forward", _sce_fwd, ["x", "t"], ["y_out"]),
    Spec("softmax_cross_entropy_backward", _sce_bwd, ["y", "t"], ["out"]),
    Spec("affine_forward", _aff_fwd, ["x", "W", "b"], ["out"]),
    Spec("affine_backward", _aff_bwd, ["dout", "x", "W"], ["dx", "dW", "db"]),
    Spec("batchnorm_forward_train", _bn_train, ["x", "gamma", "beta"],
         ["running_mean", "running_var", "out", "xc", "xn", "std"]),
    Spec("batchnorm_forward_infer", _bn_infer,
         ["x", "gamma", "beta", "running_mean", "running_var"], ["out"]),
    Spec("batchnorm_backward", _bn_bwd, ["dout", "xn", "std", "gamma"],
         ["dx", "dgamma", "dbeta"]),
    Spec("dropout_forward", _drop_fwd, ["x"], ["out", "mask"]),
    Spec("dropout_backward", _drop_bwd, ["dout", "mask"], ["dx"]),
    Spec("sgd_update", _update([], lr=0.1), ["grad"], ["param"]),
    Spec("momentum_update", _update(["v"], lr=0.1), ["grad"], ["param", "v"]),
    Spec("nesterov_update", _update(["v"], lr=0.1), ["grad"], ["param", "v"]),
    Spec("adagrad_update", _update(["h"], lr=0.1), ["grad"], ["param", "h"]),
    Spec("rmsprop_update", _update(["h"], lr=0.1), ["grad"], ["param", "h"]),
    Spec("adam_update", _update(["m", "v"], lr_t=0.1), ["grad"], ["param", "m", "v"]),
]


def call(spec, args):
    """Run the kernel on copies of the written arrays (args stay reusable);
    returns every array it wrote, in ``spec.writes`` order."""
    args = dict(args)
    if spec.name == "dropout_forward":
        args["rng"] = np.random.Generator(np.random.MT19937(7))
    written = {k: args[k] for k in spec.writes}
    getattr(ops, spec.name)(**args)
    return [written[k] for k in spec.writes]


def fresh(args):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in args.items()}


specs = st.sampled_from(SPECS)
dtypes = st.sampled_from([np.float64, np.float32])
seeds = st.integers(0, 2**32 - 1)


def _swapped(a):
    return a.astype(a.dtype.newbyteorder("S"))


@given(spec=specs, dtype=dtypes, seed=seeds, n=st.integers(1, 6), d=st.integers(2, 6),
       data=st.data())
def test_swapped_byte_order_inputs_are_converted(spec, dtype, seed, n, d, data):
    args = spec.build(np.random.default_rng(seed), n, d, dtype)
    want = call(spec, fresh(args))
    swap = data.draw(st.lists(st.sampled_from(spec.reads), min_size=1, unique=True))
    got_args = fresh(args)
    for name in swap:
        if got_args[name].dtype != np.bool_:
            got_args[name] = _swapped(got_args[name])
    got = call(spec, got_args)
    for g, w in zip(got, want):
        assert np.array_equal(g, w, equal_nan=True)


@given(spec=specs, dtype=dtypes, seed=seeds, data=st.data())
def test_swapped_byte_order_outputs_are_refused(spec, dtype, seed, data):
    args = fresh(spec.build(np.random.default_rng(seed), 3, 4, dtype))
    name = data.draw(st.sampled_from([w for w in spec.writes if args[w].dtype != np.bool_]))
    args[name] = _swapped(args[name])
    with pytest.raises(TypeError, match="byte order"):
        call(spec, args)


def _overlapping(read, written):
    """Views of one buffer holding ``read``'s values and ``written``'s shape and
    dtype that share some bytes but are never the same array."""
    size = read.nbytes + written.nbytes + 16
    buf = np.zeros(size, np.uint8)
    if written.nbytes > read.itemsize:   # written at 0, read one element in
        w_off, r_off = 0, read.itemsize
    else:                                 # read at 0, written one element in
        r_off, w_off = 0, written.itemsize
    r = buf[r_off:r_off + read.nbytes].view(read.dtype).reshape(read.shape)
    w = buf[w_off:w_off + written.nbytes].view(written.dtype).reshape(written.shape)
    r[...] = read
    assert np.may_share_memory(r, w)
    return r, w


@given(spec=specs, dtype=dtypes, seed=seeds, n=st.integers(2, 5), d=st.integers(2, 5),
       data=st.data())
def test_every_output_overlapping_any_argument_is_refused(spec, dtype, seed, n, d, data):
    args = fresh(spec.build(np.random.default_rng(seed), n, d, dtype))
    out_name = data.draw(st.sampled_from(spec.writes))
    other = data.draw(st.sampled_from(spec.reads + [w for w in spec.writes if w != out_name]))
    args[other], args[out_name] = _overlapping(args[other], args[out_name])
    with pytest.raises(ValueError, match="share memory|shares memory"):
        call(spec, args)


@given(spec=specs, dtype=dtypes, seed=seeds, data=st.data())
def test_read_only_outputs_are_refused(spec, dtype, seed, data):
    args = fresh(spec.build(np.random.default_rng(seed), 3, 4, dtype))
    name = data.draw(st.sampled_from(spec.writes))
    args[name].flags.writeable = False
    with pytest.raises(ValueError, match="read-only|writeable"):
        call(spec, args)


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@pytest.mark.parametrize("n", [0, 1])
def test_zero_and_one_row_inputs(spec, n):
    """A result of the right shape, or a ValueError that says why: never a crash."""
    args = fresh(spec.build(np.random.default_rng(n), n, 3, np.float64))
    shapes = [args[w].shape for w in spec.writes]
    try:
        got = call(spec, args)
    except ValueError as exc:
        assert n == 0 and "row" in str(exc)
        return
    assert [g.shape for g in got] == shapes


# -- the fast layers against the reference ------------------------------------

def _values(rng, shape, dtype, special):
    a = rng.standard_normal(shape).astype(dtype)
    if special and a.size:
        flat = a.reshape(-1)
        for v in (np.nan, np.inf, -np.inf, 0.0):
            if rng.random() < 0.4:
                flat[rng.integers(flat.size)] = v
    return a


def _layer_pair(kind, rng, d, dtype):
    if kind == "Affine":
        W, b = _values(rng, (d, 3), dtype, False), _values(rng, 3, dtype, False)
        return fast.Affine(W, b), ref.Affine(W.copy(), b.copy())
    if kind == "BatchNormalization":
        g, b = _values(rng, d, dtype, False), _values(rng, d, dtype, False)
        return fast.BatchNormalization(g, b), ref.BatchNormalization(g.copy(), b.copy())
    return getattr(fast, kind)(), getattr(ref, kind)()


@given(kind=st.sampled_from(["Relu", "Sigmoid", "Affine", "BatchNormalization", "Dropout"]),
       dtype=dtypes, seed=seeds, n=st.integers(1, 5), d=st.integers(1, 5),
       swap=st.booleans(), special=st.booleans())
def test_layers_match_reference_on_swapped_one_row_and_nonfinite_inputs(
        kind, dtype, seed, n, d, swap, special):
    rng = np.random.default_rng(seed)
    f, r = _layer_pair(kind, rng, d, dtype)
    x = _values(rng, (n, d), dtype, special)
    out_shape = (n, 3) if kind == "Affine" else (n, d)
    dout = _values(rng, out_shape, dtype, special)
    xs, douts = (_swapped(x), _swapped(dout)) if swap else (x, dout)
    with np.errstate(all="ignore"):
        np.random.seed(seed % 2**32)
        want = r.forward(x), r.backward(dout)
        np.random.seed(seed % 2**32)
        got = f.forward(xs), f.backward(douts)
    got = [g.astype(g.dtype.newbyteorder("=")) for g in got]
    assert_close(got[0], want[0].astype(want[0].dtype.newbyteorder("=")))
    if kind == "BatchNormalization" and not special:
        # dx = (gamma/std)·(dout - mean(dout) - xn·mean(xn·dout)) cancels: its
        # rounding error is relative to |gamma/std|·|dout|, not to |dx|.
        scale = np.max(np.abs(r.gamma / r.std)) * np.max(np.abs(dout))
        assert np.max(np.abs(got[1] - want[1])) <= 100 * np.finfo(dtype).eps * scale
    elif kind != "BatchNormalization":
        assert_close(got[1], want[1].astype(want[1].dtype.newbyteorder("=")))


@given(dtype=dtypes, seed=seeds, n=st.integers(1, 5), c=st.integers(2, 5),
       swap=st.booleans(), eps=st.sampled_from([0.0, 0.1]))
def test_softmax_layer_matches_reference_on_swapped_labels(dtype, seed, n, c, swap, eps):
    rng = np.random.default_rng(seed)
    x = _values(rng, (n, c), dtype, False)
    t = rng.integers(0, c, n).astype(rng.choice(["i1", "u1", "i2", "i4", "i8", "u8"]))
    f, r = fast.SoftmaxWithLoss(eps), ref.SoftmaxWithLoss(eps)
    want = r.forward(x, t), r.backward()
    got = f.forward(_swapped(x) if swap else x, _swapped(t) if swap else t), f.backward()
    assert_close(got[0], want[0])
    assert_close(got[1], want[1])
