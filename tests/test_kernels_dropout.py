"""Dropout kernels (fastnn.ops.dropout_*) and the fast Dropout layer against
the reference (fastnn.reference.layers.Dropout, i.e. the book's
``np.random.rand(*x.shape) > ratio``)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn import ops
from fastnn import layers as fast
from fastnn.reference import layers as ref
from fastnn._kernels import dropout as _k
from _util import laid_out

SETTINGS = settings()  # examples per run: the hypothesis profile (tests/conftest.py)

shapes = st.lists(st.integers(1, 40), min_size=1, max_size=3).map(tuple)
dtypes = st.sampled_from([np.float64, np.float32])
layouts = st.sampled_from(["C", "F", "strided"])
ratios = st.sampled_from([0.0, 0.1, 0.2, 0.5, 0.77, 0.999999])
seeds = st.integers(0, 2**32 - 1)


@pytest.fixture(params=["direct", "bitgen_t"])
def mt_path(request):
    """Run a test on the direct MT19937 path and on the function-pointer path."""
    if request.param == "direct":
        assert _k._set_direct_mt(True), "the MT19937 layout check failed on this NumPy"
    else:
        _k._set_direct_mt(False)
    yield request.param
    _k._set_direct_mt(True)


def global_state():
    st_ = np.random.mtrand._rand._bit_generator.state["state"]
    return st_["key"].copy(), st_["pos"]


def assert_same_state(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]


def assert_bitwise_equal(got, want):
    """Same values, NaNs in the same places and the same signs of zero."""
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_rand_is_the_bit_generators_next_double():
    """The premise of the exact mode (conventions.md): after np.random.seed,
    np.random.rand's doubles are the successive next_double draws of
    np.random.mtrand._rand._bit_generator (a private attribute; checked on
    this NumPy through the bit generator's public ctypes interface)."""
    for seed in (0, 12345):
        np.random.seed(seed)
        want = np.random.rand(1500)
        np.random.seed(seed)
        bg = np.random.mtrand._rand._bit_generator
        draw, state = bg.ctypes.next_double, bg.ctypes.state
        got = np.array([draw(state) for _ in range(1500)])
        np.testing.assert_array_equal(got, want)
    assert np.random.get_bit_generator() is np.random.mtrand._rand._bit_generator


def test_direct_path_is_verified_on_this_numpy():
    assert _k._direct_mt_enabled()


@SETTINGS
@given(shape=shapes, dtype=dtypes, layout=layouts, ratio=ratios, seed=seeds,
       skip=st.integers(0, 1400))
def test_exact_masks_match_the_book(shape, dtype, layout, ratio, seed, skip):
    """Any stream position (``skip`` 32-bit words drawn first puts pairs across
    the 624-word refills), bit-identical outputs and generator state."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    bg = np.random.mtrand._rand._bit_generator
    r = ref.Dropout(ratio)
    np.random.seed(seed)
    bg.random_raw(skip)
    want = r.forward(x)
    want_state = global_state()
    for path in ("direct", "bitgen_t"):
        _k._set_direct_mt(path == "direct")
        try:
            np.random.seed(seed)
            bg.random_raw(skip)
            out, mask = ops.dropout_forward(laid_out(x, layout), ratio)
            assert_same_state(global_state(), want_state)
            assert mask.dtype == np.bool_ and mask.shape == shape
            np.testing.assert_array_equal(mask, r.mask)
            assert_bitwise_equal(out, want)
        finally:
            _k._set_direct_mt(True)


def test_exact_threshold_ties(mt_path):
    """A ratio equal to a drawn value, or one ulp either side: the case the
    vectorized loop settles from the second word of the pair."""
    np.random.seed(7)
    u = np.random.rand(5000)
    for k in (0, 311, 312, 623, 4000):
        for r in (u[k], np.nextafter(u[k], 0), np.nextafter(u[k], 1)):
            np.random.seed(7)
            out, mask = ops.dropout_forward(np.ones(5000), r)
            np.testing.assert_array_equal(mask, u > r)


@pytest.mark.parametrize("kind", ["RandomState", "Generator-PCG64", "Generator-MT19937"])
def test_exact_mode_with_a_given_generator(kind, mt_path):
    """mask = rng.random_sample(shape) > ratio for the generator given."""
    def make():
        if kind == "RandomState":
            return np.random.RandomState(3)
        bitgen = np.random.PCG64(3) if kind == "Generator-PCG64" else np.random.MT19937(3)
        return np.random.Generator(bitgen)
    x = np.arange(1.0, 3001.0).reshape(3, 1000)
    rng_a, rng_b = make(), make()
    out, mask = ops.dropout_forward(x, 0.35, rng=rng_a)
    u = rng_b.random_sample(x.shape) if kind == "RandomState" else rng_b.random(x.shape)
    np.testing.assert_array_equal(mask, u > 0.35)
    np.testing.assert_array_equal(out, x * (u > 0.35))
    assert rng_a.random() == rng_b.random()       # same state afterwards


@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.5, 0.9])
def test_fast_mode_keeps_the_right_fraction_and_repeats(ratio, mt_path):
    x = np.ones((400, 500))
    before = global_state()
    a = fast.Dropout(ratio, mode="fast", seed=11)
    b = fast.Dropout(ratio, mode="fast", seed=11)
    masks = []
    for _ in range(2):
        out = a.forward(x)
        kept = a.mask.mean()
        # 5 standard deviations of a binomial fraction over 2e5 draws.
        assert abs(kept - (1 - ratio)) <= 5 * np.sqrt(ratio * (1 - ratio) / x.size) + 1e-9
        np.testing.assert_array_equal(out, a.mask)
        np.testing.assert_array_equal(b.forward(x), out)      # same seed, same masks
        masks.append(a.mask.copy())
    if ratio:
        assert not np.array_equal(masks[0], masks[1])          # the stream moves on
        c = fast.Dropout(ratio, mode="fast", seed=12)
        assert not np.array_equal(c.forward(x) != 0, masks[0])
    assert_same_state(global_state(), before)                  # the book's stream untouched


def test_fast_mode_is_next_uint32_against_a_threshold():
    """The documented fast-mode draw, on a generator the kernel does not
    read directly (PCG64) and on MT19937."""
    for bitgen in (np.random.PCG64, np.random.MT19937):
        g1, g2 = np.random.Generator(bitgen(5)), np.random.Generator(bitgen(5))
        _, mask = ops.dropout_forward(np.ones(3001), 0.3, mode="fast", rng=g1)
        words = g2.bit_generator.random_raw(3001) if bitgen is np.random.MT19937 else None
        if words is None:
            # PCG64's next_uint32 halves each 64-bit output, low half first.
            w64 = g2.bit_generator.random_raw(1501)
            words = np.empty(3002, np.uint64)
            words[0::2], words[1::2] = w64 & 0xFFFFFFFF, w64 >> 32
            words = words[:3001]
        np.testing.assert_array_equal(mask, words > int(0.3 * 2**32))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_matches_the_book_over_steps_and_shapes(dtype):
    rng = np.random.default_rng(1)
    f, r = fast.Dropout(0.3), ref.Dropout(0.3)
    for step, shape in enumerate([(20, 30), (5, 2, 3, 4), (20, 30), (1, 7)]):
        x = rng.standard_normal(shape).astype(dtype)
        dout = rng.standard_normal(shape).astype(dtype)
        np.random.seed(step)
        got = f.forward(x, train_flg=True)
        state = global_state()
        np.random.seed(step)
        want = r.forward(x, train_flg=True)
        assert_same_state(state, global_state())
        assert type(f.mask) is np.ndarray and f.mask.dtype == np.bool_
        np.testing.assert_array_equal(f.mask, r.mask)
        assert_bitwise_equal(got, want)
        assert_bitwise_equal(f.backward(dout), r.backward(dout))
        assert_bitwise_equal(f.forward(x, train_flg=False), r.forward(x, train_flg=False))


def test_layer_non_float_input_matches_the_book():
    x = np.arange(24).reshape(4, 6)
    for train in (True, False):
        np.random.seed(3)
        got = fast.Dropout(0.4).forward(x, train)
        np.random.seed(3)
        want = ref.Dropout(0.4).forward(x, train)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_layer_buffers_reused_and_never_overwritten_while_held():
    x = np.random.default_rng(2).standard_normal((30, 40))
    d = fast.Dropout(0.5)
    np.random.seed(0)
    y1, m1 = d.forward(x), d.mask
    kept = (y1.copy(), m1.copy())
    y2 = d.forward(x)
    assert y2 is not y1 and d.mask is not m1
    np.testing.assert_array_equal(y1, kept[0])
    np.testing.assert_array_equal(m1, kept[1])
    del y1, y2, m1
    p = d.forward(x).ctypes.data
    q = d.backward(x).ctypes.data
    # (Read into names: pytest keeps an assert's intermediate arrays alive.)
    p2 = d.forward(x).ctypes.data
    q2 = d.backward(x).ctypes.data
    assert p2 == p and q2 == q


def test_nan_propagates_as_in_the_book():
    x = np.full((10, 10), np.nan)
    x[0] = -1.0
    np.random.seed(4)
    got = fast.Dropout(0.5).forward(x)
    np.random.seed(4)
    want = ref.Dropout(0.5).forward(x)
    assert_bitwise_equal(got, want)       # NaN·0 is NaN; -1·0 is -0.0
    assert np.isnan(got[1:]).all()


def test_backward_threads_and_in_place():
    from fastnn._kernels.dropout import PARALLEL_MIN_SIZE
    n = PARALLEL_MIN_SIZE + 1001
    rng = np.random.default_rng(5)
    dout = rng.standard_normal(n)
    mask = rng.random(n) > 0.5
    one = ops.dropout_backward(dout, mask, num_threads=1)
    np.testing.assert_array_equal(ops.dropout_backward(dout, mask, num_threads=2), one)
    np.testing.assert_array_equal(one, dout * mask)
    d = dout.copy()
    assert ops.dropout_backward(d, mask, dx=d) is d
    np.testing.assert_array_equal(d, one)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_ratio_out_of_range_is_named(bad):
    with pytest.raises(ValueError, match="dropout_ratio"):
        fast.Dropout(bad)
    with pytest.raises(ValueError, match="dropout_ratio"):
        ops.dropout_forward(np.ones(3), bad)
    layer = fast.Dropout(0.5)
    layer.dropout_ratio = bad
    with pytest.raises(ValueError, match="dropout_ratio"):
        layer.forward(np.ones(3))


@pytest.mark.parametrize("bad", ["half", None, [0.5]])
def test_ratio_not_a_number_is_a_named_type_error(bad):
    for call in (lambda: fast.Dropout(bad), lambda: ops.dropout_forward(np.ones(3), bad)):
        with pytest.raises(TypeError, match=r"dropout_ratio must be a number in \[0, 1\), got"):
            call()


@pytest.mark.parametrize("call, exc, words", [
    (lambda: fast.Dropout(0.5, mode="quick"), ValueError, ["mode", "'fast'"]),
    (lambda: fast.Dropout(0.5, seed=1), ValueError, ["seed", "mode='fast'"]),
    (lambda: ops.dropout_forward(np.ones(3), "half"), TypeError, ["dropout_ratio"]),
    (lambda: ops.dropout_forward(np.ones(3, np.int64), 0.5), TypeError, ["x", "float32"]),
    (lambda: ops.dropout_forward(np.ones(3), 0.5, rng=42), TypeError, ["rng", "Generator"]),
    (lambda: ops.dropout_forward(np.ones(3), 0.5, out=np.ones(3, np.float32)),
     TypeError, ["out", "float64"]),
    (lambda: ops.dropout_forward(np.ones(3), 0.5, mask=np.ones(4, bool)),
     ValueError, ["mask", "(3,)"]),
    (lambda: ops.dropout_backward(np.ones(3), np.ones(4, bool)), ValueError, ["mask", "dout"]),
    (lambda: ops.dropout_backward(np.ones(3), np.ones(3)), TypeError, ["mask", "bool"]),
    (lambda: ops.dropout_backward(np.ones(3), np.ones(3, bool), dx=np.ones(3, np.float32)),
     TypeError, ["dx"]),
])
def test_bad_arguments_are_named(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, ">f8"])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_layer_fast_path_and_its_fallbacks_keep_the_books_stream(dtype, layout):
    # C-contiguous native floats take the C fast path; other layouts and byte
    # orders run the Python method; both draw the book's mask, bit for bit.
    rng = np.random.default_rng(7)
    x = laid_out(rng.standard_normal((6, 5)).astype(dtype), layout)
    dout = laid_out(rng.standard_normal((6, 5)).astype(dtype), layout)
    d, want = fast.Dropout(0.3), ref.Dropout(0.3)
    for step in range(3):
        np.random.seed(step)
        out, dx = d.forward(x, True), d.backward(dout)
        np.random.seed(step)
        w_out, w_dx = want.forward(x, True), want.backward(dout)
        assert np.array_equal(d.mask, want.mask)
        assert np.array_equal(out, w_out) and np.array_equal(dx, w_dx)


def test_dropout_backward_treats_any_nonzero_mask_byte_as_kept():
    """A bool mask whose bytes are not 0/1 (a uint8 array viewed as bool)
    keeps or drops as NumPy's dout * mask does: it never scales."""
    mask = np.array([[0, 1, 2], [3, 0, 255]], np.uint8).view(bool)
    dout = np.full((2, 3), 2.0)
    np.testing.assert_array_equal(ops.dropout_backward(dout, mask), dout * mask)


def test_dropout_layer_backward_reads_any_nonzero_mask_byte_as_kept():
    """A mask set by hand on the layer, with bytes other than 0/1, gives the
    reference layer's dout * mask, never dout scaled by the byte."""
    mask = np.array([[0, 1, 2], [3, 0, 255]], np.uint8).view(bool)
    dout = np.full((2, 3), 2.0)
    f, r = fast.Dropout(0.5), ref.Dropout(0.5)
    f.mask, r.mask = mask, mask.copy()
    np.testing.assert_array_equal(f.backward(dout), r.backward(dout))
