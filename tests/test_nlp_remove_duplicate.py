"""remove_duplicate (fastnn.nlp.trainer) against the book's algorithm, written
out plainly below: rescan the list from the start, merge the first tied pair
(``grads[i] += grads[j]``, or ``grads[j].T`` for a transposed copy), pop,
repeat.  The fused kernel (fastnn._kernels.nlp.dup_sum_into) must leave the
same bits in every gradient array, NaN and -0.0 included, and the same
returned lists."""
import numpy as np
import pytest

from fastnn._kernels.nlp import dup_sum_into
from fastnn.nlp.trainer import remove_duplicate


def book_remove_duplicate(params, grads):
    params, grads = params[:], grads[:]
    while True:
        found = False
        L = len(params)
        for i in range(0, L - 1):
            for j in range(i + 1, L):
                p, q = params[i], params[j]
                if p is q:
                    grads[i] += grads[j]
                    found = True
                elif (p.ndim == 2 and q.ndim == 2 and p.T.shape == q.shape
                      and np.all(p.T == q)):
                    grads[i] += grads[j].T
                    found = True
                if found:
                    params.pop(j)
                    grads.pop(j)
                    break
            if found:
                break
        if not found:
            break
    return params, grads


_SPECIAL = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-40, -1e-310, 3e38, -3e38])


def _values(rng, shape, dtype):
    """Random values with NaN, signed zeros, infinities, subnormals and values
    whose float32 sums overflow."""
    a = rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, shape)
    pick = rng.random(shape) < 0.2
    a[pick] = rng.choice(_SPECIAL, size=int(pick.sum()))
    with np.errstate(over="ignore"):
        return a.astype(dtype)


def _case(seed):
    """(params, grads, arrays): a parameter list with repeats (the same object
    several times, and transposed copies), its gradients (float32 or float64,
    some float64 into a float32 first occurrence, some not contiguous, some
    aliased), and every gradient array to compare afterwards."""
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4, 3), (5,), (2, 2), (6, 1), (1, 6), (40, 70)]
    pool = []
    for _ in range(rng.integers(1, 5)):
        shape = shapes[rng.integers(len(shapes))]
        pool.append(rng.standard_normal(shape).astype(np.float32))
    if rng.random() < 0.5:                     # a transposed copy: tied by value
        k = rng.integers(len(pool))
        if pool[k].ndim == 2:
            pool.append(pool[k].T.copy())
    L = int(rng.integers(1, 13))
    params = [pool[rng.integers(len(pool))] for _ in range(L)]
    grads, arrays = [], []
    for p in params:
        dtype = np.float64 if rng.random() < 0.3 else np.float32
        r = rng.random()
        if r < 0.1 and p.ndim == 2:            # not contiguous: the kernel declines it
            g = _values(rng, (p.shape[0], 2 * p.shape[1]), dtype)[:, ::2]
        elif r < 0.15 and grads and grads[-1].shape == p.shape:
            g = grads[-1]                      # the same gradient object twice
        elif r < 0.2 and p.ndim == 2 and p.shape[0] > 1:
            base = _values(rng, (p.shape[0] + 1,) + p.shape[1:], dtype)
            g = base[1:]                       # overlaps the next one
            grads.append(g)
            arrays.append(g)
            continue
        else:
            g = _values(rng, p.shape, dtype)
        grads.append(g)
        arrays.append(g)
    for k in range(len(grads) - 1):            # make the overlapping pairs overlap
        if grads[k].base is not None and grads[k].flags.c_contiguous and rng.random() < 0.5:
            nxt = grads[k].base[:-1]
            if nxt.shape == params[k + 1].shape:
                grads[k + 1] = nxt
                arrays.append(nxt)
    return params, grads, arrays


def _same_bits(a, b):
    """The same bits, except that a NaN matches any NaN: which operand's NaN
    an add returns (and so its sign and payload) is the hardware's and the
    compiler's choice of operand order, the same for NumPy's own loops."""
    assert a.dtype == b.dtype and a.shape == b.shape
    na, nb = np.isnan(a), np.isnan(b)
    np.testing.assert_array_equal(na, nb)
    ua = a.view(np.uint32 if a.dtype == np.float32 else np.uint64)
    ub = b.view(np.uint32 if b.dtype == np.float32 else np.uint64)
    np.testing.assert_array_equal(ua[~na], ub[~nb])


@pytest.mark.parametrize("seed", range(300))
def test_the_books_lists_and_bits(seed):
    p1, g1, a1 = _case(seed)
    p2, g2, a2 = _case(seed)                   # the same arrays, built again
    with np.errstate(all="ignore"):
        rp1, rg1 = book_remove_duplicate(p1, g1)
        rp2, rg2 = remove_duplicate(p2, g2)
    assert len(rp1) == len(rp2) and len(rg1) == len(rg2)
    ids1 = [next(k for k, q in enumerate(p1) if q is p) for p in rp1]
    ids2 = [next(k for k, q in enumerate(p2) if q is p) for p in rp2]
    assert ids1 == ids2                        # the same entries kept, in order
    gid1 = [next(k for k, q in enumerate(g1) if q is g) for g in rg1]
    gid2 = [next(k for k, q in enumerate(g2) if q is g) for g in rg2]
    assert gid1 == gid2                        # the same gradient objects returned
    for x, y in zip(a1, a2):                   # every array the same afterwards
        _same_bits(x, y)


def test_cbow_like_lists_are_fused_and_exact():
    """Ten listings of one matrix, six of another, float64 gradients into a
    float32 first one in between (the shapes of the book's CBOW, smaller)."""
    rng = np.random.default_rng(7)
    W_in = rng.standard_normal((300, 20)).astype(np.float32)
    W_out = rng.standard_normal((300, 20)).astype(np.float32)
    params = [W_in] * 10 + [W_out] * 6
    dtypes = [np.float32] * 3 + [np.float64] + [np.float32] * 12
    grads = [_values(rng, W_in.shape, dt) for dt in dtypes]
    want = [g.copy() for g in grads]
    firsts = grads[0], grads[10]
    with np.errstate(all="ignore"):
        book_remove_duplicate(params, want)
        p, g = remove_duplicate(params, grads)
    assert p == [W_in, W_out] and g[0] is firsts[0] and g[1] is firsts[1]
    assert len(params) == 16 and len(grads) == 16    # the caller's lists untouched
    _same_bits(g[0], want[0])
    _same_bits(g[1], want[10])
    for k in range(16):                              # the others are not written
        _same_bits(grads[k], want[k])


@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 7, 16383, 16384, 16385, 70001])
@pytest.mark.parametrize("kinds", ["s", "ssss", "sssssss", "swswsss", "wwwwwsw", "sssswssss"])
def test_dup_sum_into_is_the_in_place_loop(out_dtype, n, kinds):
    """Inputs of out's dtype (s) and of the other (w), in runs of every length
    (the kernel takes runs of four, then two, then one)."""
    rng = np.random.default_rng(n)
    out = _values(rng, n, out_dtype)
    other = np.float64 if out_dtype == np.float32 else np.float32
    ins = [_values(rng, n, out_dtype if c == "s" else other) for c in kinds]
    want = out.copy()
    with np.errstate(all="ignore"):
        for g in ins:
            want += g
        assert dup_sum_into(out, ins) is True
    _same_bits(out, want)


class _Sub(np.ndarray):
    pass


def test_dup_sum_into_declines_what_it_does_not_take():
    a = np.ones((4, 3), np.float32)
    keep = a.copy()
    declined = [
        (a, []),                                       # nothing to add
        (a, [np.ones((3, 4), np.float32)]),            # another shape (even if broadcastable)
        (a, [np.ones(3, np.float32)]),
        (a, [np.ones((4, 3), np.int64)]),              # not float
        (a, [np.ones((4, 3), np.float16)]),
        (a, [np.ones((4, 3), ">f4")]),                 # byte-swapped
        (a, [np.ones((4, 6), np.float32)[:, ::2]]),    # not contiguous
        (a, [a]),                                      # overlaps out
        (a, [np.ones((4, 3), np.float32), a[:, :]]),   # a view of out
        (a.T, [np.ones((3, 4), np.float32)]),          # out not C-contiguous
        (np.ones((4, 3), np.int32), [np.ones((4, 3), np.float32)]),
        (np.ones((4, 3), np.float32).view(_Sub), [np.ones((4, 3), np.float32)]),
        (a, [np.ones((4, 3), np.float32).view(_Sub)]),  # a subclass may override +=
        (a, [[1.0] * 3] * 4),
        (1.0, [np.ones(1)]),
    ]
    for out, ins in declined:
        assert dup_sum_into(out, ins) is False
    np.testing.assert_array_equal(a, keep)
    base = np.ones((5, 3), np.float32)
    assert dup_sum_into(base[:4], [base[1:]]) is False  # partly overlapping
    ro = np.ones((4, 3), np.float32)
    ro.flags.writeable = False
    assert dup_sum_into(ro, [np.ones((4, 3), np.float32)]) is False
    src = np.ones((4, 3), np.float32)
    src.flags.writeable = False                       # a read-only input is fine
    assert dup_sum_into(a, [src, src]) is True
    np.testing.assert_array_equal(a, 3 * keep)


def test_a_failing_tie_test_raises_after_the_books_adds():
    """The book adds each tied gradient as it finds it; a later comparison
    that raises (a parameter that is no array) leaves those adds done."""
    W = np.zeros((2, 3), np.float32)
    for impl in (book_remove_duplicate, remove_duplicate):
        g0, g1 = np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)
        with pytest.raises(AttributeError):
            impl([W, W, [1, 2]], [g0, g1, None])
        np.testing.assert_array_equal(g0, g1)


def test_broadcast_and_scalar_gradients_take_the_books_adds():
    W = np.zeros((2, 3), np.float32)
    b = np.zeros(3)
    for impl in (book_remove_duplicate, remove_duplicate):
        g = np.zeros((2, 3), np.float32)
        p, gr = impl([W, W, b, b], [g, np.arange(3.0), 1.5, np.ones(3)])
        np.testing.assert_array_equal(g, np.tile(np.arange(3.0, dtype=np.float32), (2, 1)))
        assert len(p) == 2 and np.all(gr[1] == 2.5)
        with pytest.raises(ValueError):
            impl([W, W], [np.zeros((2, 3)), np.ones((3, 2))])
