# cython: language_level=3
"""Dropout kernels (the book's non-inverted dropout): masks drawn from a NumPy
bit generator inside the nogil loop, applied in the same pass (on one
thread; on more, from PARALLEL_MIN_SIZE elements, the mask is drawn whole on
the calling thread and the pool applies it, each thread to its rows).

Random numbers come through NumPy's documented Cython interface ("Extending
numpy.random via Cython"): the ``bitgen_t`` in the bit generator's
``capsule``, drawn from while holding its ``lock``.

The book's stream.  ``np.random.rand(*shape) > ratio`` takes, per element,
one ``next_double`` of the global RandomState's MT19937:
``(a·2²⁶ + b) / 2⁵³`` with ``a = w₁ >> 5``, ``b = w₂ >> 6`` for two
successive tempered 32-bit words.  With ``T = floor(ratio·2⁵³)`` the test
``u > ratio`` is exactly the integer test ``a·2²⁶ + b > T``, i.e.
``a > T >> 26``, or ``a == T >> 26`` and ``b > T mod 2²⁶``; the second case
has probability 2⁻²⁷ per element and is settled in a scalar fix-up, so the
vector loop only tempers the first word of each pair.  The masks, and the
generator's state afterwards, equal NumPy's bit for bit.

Speed.  Calling ``next_double`` through the function pointer costs about
4.7 ns per element here, which alone is most of the reference's time; so
an MT19937 is drawn from directly: its 624-word state is regenerated
("twisted") and tempered by vectorized loops.  This reads the generator's
state struct (``uint32_t key[624]; int pos``, NumPy's ``mt19937_state``),
which NumPy does not document: at first use the layout is verified against
the generator's public ``state`` and a test draw is compared word for word
with ``next_uint32`` calls; only generators with the verified
``next_uint32`` function (the MT19937 of this NumPy) take the direct path.
Anything else, or a failed check, uses the function pointers (same numbers,
slower).

Fast mode: one 32-bit word per element, ``keep = w > floor(ratio·2³²)``
(keep probability within 2⁻³² of 1 - ratio), on whatever generator is
given; the Dropout layer gives it its own MT19937.
"""
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int32_t
from numpy.random cimport bitgen_t

import numpy as np
cimport numpy as cnp
from fastnn._kernels._shared cimport (elem_at, is_f32, kernel_input, Pool, pool_take_like,
                                      pool_threads, run_parallel, same_shape, threads_arg)

from fastnn._checks import check_dropout_mode, check_dropout_ratio

cnp.import_array()


cdef extern from "dropout_simd.h" nogil:
    uint32_t fastnn_mt_temper(uint32_t y)
    void fastnn_mt_twist(uint32_t* key)
    int fastnn_mt_mask53(const uint32_t* key, Py_ssize_t npairs, int32_t ta, uint8_t* mask)
    void fastnn_mt_mask32(const uint32_t* key, Py_ssize_t n, uint32_t t, uint8_t* mask)
    # out = x * m on n float32 (f32) or float64 elements: the one dtype dispatch
    # (FASTNN_BY_DTYPE, fastnn_common.h)
    void fastnn_apply_mask(bint f32, const void* x, const uint8_t* m, Py_ssize_t n, void* out)


ctypedef struct mt_state:
    # NumPy's mt19937_state (numpy/random/src/mt19937/mt19937.h); verified
    # at run time by _verify_mt_layout before it is ever used.
    uint32_t key[624]
    int pos

cdef enum:
    MT_N = 624
    # Elements per block: the mask block (4 KiB) and the x/out blocks stay in
    # L1/L2 between drawing and applying.
    CHUNK = 4096
    # The multiply (backward; forward on more than one thread, after the
    # draw) split between threads from this size on: the rows of each
    # thread's share are in its cache (the GEMM and batch norm before split
    # them so), as batchnorm.pyx's ROWS_PAR_MIN.
    PAR_MIN = 1 << 15

PARALLEL_MIN_SIZE = PAR_MIN

# The next_uint32 function of a verified MT19937 (NULL: not verified (yet)).
cdef void* _mt_next32 = NULL
cdef int _mt_checked = 0


# -- drawing the mask -----------------------------------------------------------

cdef void _mt_mask53(mt_state* st, uint8_t* mask, Py_ssize_t n, uint64_t t) noexcept nogil:
    cdef int32_t ta = <int32_t>(t >> 26)
    cdef int32_t tb = <int32_t>(t & ((<uint64_t>1 << 26) - 1))
    cdef int32_t a, b
    cdef Py_ssize_t i = 0, j, take
    cdef int pos
    while i < n:
        if st.pos >= MT_N:
            fastnn_mt_twist(st.key)
            st.pos = 0
        pos = st.pos
        if pos == MT_N - 1:
            # The pair straddles a twist, as in NumPy's next_double.
            a = <int32_t>(fastnn_mt_temper(st.key[MT_N - 1]) >> 5)
            fastnn_mt_twist(st.key)
            b = <int32_t>(fastnn_mt_temper(st.key[0]) >> 6)
            st.pos = 1
            mask[i] = (a > ta) or (a == ta and b > tb)
            i += 1
            continue
        take = (MT_N - pos) // 2
        if take > n - i:
            take = n - i
        if fastnn_mt_mask53(st.key + pos, take, ta, mask + i):
            for j in range(take):
                a = <int32_t>(fastnn_mt_temper(st.key[pos + 2 * j]) >> 5)
                if a == ta:
                    b = <int32_t>(fastnn_mt_temper(st.key[pos + 2 * j + 1]) >> 6)
                    mask[i + j] = b > tb
        st.pos = pos + 2 * <int>take
        i += take


cdef void _mt_mask32(mt_state* st, uint8_t* mask, Py_ssize_t n, uint32_t t) noexcept nogil:
    cdef Py_ssize_t i = 0, take
    while i < n:
        if st.pos >= MT_N:
            fastnn_mt_twist(st.key)
            st.pos = 0
        take = MT_N - st.pos
        if take > n - i:
            take = n - i
        fastnn_mt_mask32(st.key + st.pos, take, t, mask + i)
        st.pos += <int>take
        i += take


cdef inline uint64_t _threshold53(double ratio) noexcept nogil:
    # Exact: ratio·2⁵³ is a power-of-two scaling; the integer cast floors it.
    return <uint64_t>(ratio * 9007199254740992.0)


cdef inline uint32_t _threshold32(double ratio) noexcept nogil:
    return <uint32_t>(ratio * 4294967296.0)


cdef void _draw_mask(bitgen_t* rng, bint fast, double ratio, uint8_t* mask,
                     Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint32_t t32
    if _mt_next32 != NULL and <void*>rng.next_uint32 == _mt_next32:
        if fast:
            _mt_mask32(<mt_state*>rng.state, mask, n, _threshold32(ratio))
        else:
            _mt_mask53(<mt_state*>rng.state, mask, n, _threshold53(ratio))
    elif fast:
        t32 = _threshold32(ratio)
        for i in range(n):
            mask[i] = rng.next_uint32(rng.state) > t32
    else:
        for i in range(n):
            mask[i] = rng.next_double(rng.state) > ratio


cdef void dropout_draw(bitgen_t* rng, bint fast, double ratio, bint f32, const void* x,
                       void* out, uint8_t* mask, Py_ssize_t n) noexcept nogil:
    """Draw mask[:n] and, unless x is NULL, out = x * mask, block by block
    (x and out: n float32 (f32) or float64 elements)."""
    cdef Py_ssize_t c0 = 0, cn
    while c0 < n:
        cn = n - c0 if n - c0 < CHUNK else CHUNK
        _draw_mask(rng, fast, ratio, mask + c0, cn)
        if x != NULL:
            fastnn_apply_mask(f32, elem_at(x, c0, f32), mask + c0, cn, elem_at(out, c0, f32))
        c0 += cn


cdef struct Apply:
    bint f32
    const void* dout
    const uint8_t* mask
    void* dx
    Py_ssize_t n, nb


cdef void _apply_block(void* ctx, Py_ssize_t b, int slot) noexcept nogil:
    # block b of nb, its edges on multiples of 64 elements (whole cache lines)
    cdef const Apply* k = <const Apply*>ctx
    cdef Py_ssize_t lo = (k.n * b // k.nb) // 64 * 64
    cdef Py_ssize_t hi = k.n if b == k.nb - 1 else (k.n * (b + 1) // k.nb) // 64 * 64
    fastnn_apply_mask(k.f32, elem_at(k.dout, lo, k.f32), k.mask + lo, hi - lo,
                      elem_at(k.dx, lo, k.f32))


cdef void _apply_threads(bint f32, const void* dout, const uint8_t* mask, void* dx,
                         Py_ssize_t n, int nthreads) noexcept nogil:
    cdef Apply k
    if nthreads <= 1 or n < PAR_MIN:
        fastnn_apply_mask(f32, dout, mask, n, dx)
        return
    k.f32, k.dout, k.mask, k.dx, k.n = f32, dout, mask, dx, n
    k.nb = 3 * nthreads        # a few blocks a thread: one busy core holds up one block
    run_parallel(_apply_block, &k, k.nb, nthreads, n)


# -- verifying the MT19937 layout -------------------------------------------------

cdef bitgen_t* _bitgen_of(object bit_generator) except NULL:
    capsule = bit_generator.capsule
    if not PyCapsule_IsValid(capsule, "BitGenerator"):
        raise TypeError("%s does not expose a NumPy bitgen_t capsule"
                        % type(bit_generator).__name__)
    return <bitgen_t*>PyCapsule_GetPointer(capsule, "BitGenerator")


cdef bint _state_matches(bitgen_t* rng, object bit_generator):
    cdef mt_state* st = <mt_state*>rng.state
    cdef int i
    state = bit_generator.state
    if state.get("bit_generator") != "MT19937":
        return False
    key = np.asarray(state["state"]["key"], dtype=np.uint64)
    if key.shape != (MT_N,) or st.pos != int(state["state"]["pos"]):
        return False
    for i in range(MT_N):
        if st.key[i] != key[i]:
            return False
    return True


def _verify_mt_layout():
    """Check that NumPy's MT19937 state is the struct this module reads, and
    that drawing from it directly gives the generator's own stream; enable
    the direct path if so.  Returns whether it is enabled."""
    global _mt_next32, _mt_checked
    cdef bitgen_t* a
    cdef bitgen_t* b
    cdef mt_state* st
    cdef Py_ssize_t i, n = 3 * MT_N + 7
    cdef uint32_t w
    cdef bint ok = True
    _mt_checked = 1
    _mt_next32 = NULL
    try:
        mine = np.random.MT19937(20240601)
        theirs = np.random.MT19937(20240601)
        mine.random_raw(5)          # an odd position, mid-state
        theirs.random_raw(5)
        a = _bitgen_of(mine)
        b = _bitgen_of(theirs)
        if not _state_matches(a, mine):
            return False
        st = <mt_state*>a.state
        for i in range(n):
            if st.pos >= MT_N:
                fastnn_mt_twist(st.key)
                st.pos = 0
            w = fastnn_mt_temper(st.key[st.pos])
            st.pos += 1
            if w != b.next_uint32(b.state):
                ok = False
                break
        # Both generators' own view of their state must agree with the struct
        # of the one drawn from directly.
        if not ok or not _state_matches(a, mine) or not _state_matches(a, theirs):
            return False
        # The two must also agree on next_double after the direct draws.
        if a.next_double(a.state) != b.next_double(b.state):
            return False
        _mt_next32 = <void*>a.next_uint32
        return True
    except Exception:
        return False


def _direct_mt_enabled():
    """Whether MT19937 generators are drawn from directly (for tests)."""
    if not _mt_checked:
        _verify_mt_layout()
    return _mt_next32 != NULL


def _set_direct_mt(bint enabled):
    """Turn the direct MT19937 path off (every draw through bitgen_t's
    function pointers) or back on after re-verifying it; for tests."""
    global _mt_next32, _mt_checked
    if enabled:
        return _verify_mt_layout()
    _mt_checked = 1
    _mt_next32 = NULL
    return False


# -- random generators -----------------------------------------------------------

def _global_bit_generator():
    """The bit generator behind ``np.random.rand`` (looked up at every call:
    ``np.random.seed``/``set_bit_generator`` may replace it)."""
    get = getattr(np.random, "get_bit_generator", None)
    if get is not None:
        return get()
    return np.random.mtrand._rand._bit_generator


def _bit_generator_of(rng):
    """The BitGenerator behind ``rng`` (None: the global one)."""
    if rng is None:
        return _global_bit_generator()
    if isinstance(rng, np.random.Generator):
        return rng.bit_generator
    if isinstance(rng, np.random.RandomState):
        return rng._bit_generator
    if isinstance(rng, np.random.BitGenerator):
        return rng
    raise TypeError("rng must be None, a numpy.random.Generator, RandomState or "
                    "BitGenerator, got %s" % type(rng).__name__)


# -- unchecked entry points (the layer class has checked everything) -----------

cpdef _forward_into(x, cnp.ndarray mask, out, double ratio, bint fast, bit_generator):
    """Draw ``mask`` (a C-contiguous bool or uint8 array of x.size elements)
    and, unless x is None, write out = x·mask.  Trusted: x and out C-contiguous
    of one float dtype and size, ratio in [0, 1)."""
    cdef bitgen_t* rng = _bitgen_of(bit_generator)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(mask)
    cdef uint8_t* m = <uint8_t*>cnp.PyArray_DATA(mask)
    cdef void* px = NULL
    cdef void* po = NULL
    cdef bint f32 = False
    if not _mt_checked:
        _verify_mt_layout()
    if x is not None:
        px = cnp.PyArray_DATA(<cnp.ndarray>x)
        po = cnp.PyArray_DATA(<cnp.ndarray>out)
        f32 = is_f32(<cnp.ndarray>x)
    if n == 0:
        return
    cdef int nt = pool_threads() if px != NULL and n >= PAR_MIN else 1
    with bit_generator.lock, nogil:
        # On one thread, drawn and applied block by block (the mask block in
        # L1); on more, the stream is drawn first, on this thread, and the
        # pool applies it, each thread to the rows the passes before (the
        # GEMM's row split, batch norm's row blocks) left in its own cache.
        dropout_draw(rng, fast, ratio, f32, px if nt == 1 else NULL, po, m, n)
    if nt > 1:
        with nogil:
            _apply_threads(f32, px, m, po, n, nt)


cpdef _backward_into(cnp.ndarray dout, cnp.ndarray mask, cnp.ndarray dx, num_threads=None):
    """dx = dout·mask.  Trusted: dout, dx and mask (bool or uint8) C-contiguous
    of one size, dout and dx of one float dtype; dx is dout or shares no
    memory with it."""
    cdef Py_ssize_t n = cnp.PyArray_SIZE(mask)
    cdef int nt = 1
    cdef bint f32 = is_f32(dout)
    cdef void* pd = cnp.PyArray_DATA(dout)
    cdef void* px = cnp.PyArray_DATA(dx)
    cdef const uint8_t* m = <const uint8_t*>cnp.PyArray_DATA(mask)
    if n == 0:
        return dx
    if num_threads is not None or n >= PAR_MIN:
        nt = threads_arg(num_threads)
    with nogil:
        _apply_threads(f32, pd, m, px, n, nt)
    return dx


# -- compiled overrides of NumpyOps (mixed into fastnn.backends.CompiledOps) -----

class DropoutOps:
    """Dropout drawn and applied in one pass; NumpyOps (``super()``) for inputs
    the kernels do not take, with the same draws from the same stream."""

    def dropout_forward(self, x, dropout_ratio, train_flg=True, mode="exact", rng=None,
                        inverted=False, Pool pool=None):
        cdef double ratio
        if type(dropout_ratio) is float and 0.0 <= <double>dropout_ratio < 1.0:
            ratio = <double>dropout_ratio
        else:
            ratio = check_dropout_ratio(dropout_ratio)
        cdef bint fast
        if mode == "exact":
            fast = False
        elif mode == "fast":
            fast = True
        else:
            fast = check_dropout_mode(mode)     # raises
        cdef object xa = kernel_input(x)
        if xa is None:
            return super().dropout_forward(x, dropout_ratio, train_flg, mode, rng, inverted,
                                           pool)
        cdef cnp.ndarray out
        if not train_flg:
            if inverted:
                return x, None
            out = pool_take_like(pool, <cnp.ndarray>xa, -1)
            np.multiply(xa, 1.0 - ratio, out=out)
            return out, None
        cdef cnp.ndarray mask = pool_take_like(pool, <cnp.ndarray>xa, cnp.NPY_BOOL)
        out = pool_take_like(pool, <cnp.ndarray>xa, -1)
        _forward_into(xa, mask, out, ratio, fast, _bit_generator_of(rng))
        if inverted:
            np.true_divide(out, 1.0 - ratio, out=out)   # the reference's division
        return out, mask

    def dropout_backward(self, dout, mask, dropout_ratio=0.5, inverted=False,
                         Pool pool=None):
        cdef object da = kernel_input(dout)
        if not (da is not None and type(mask) is cnp.ndarray
                and cnp.PyArray_TYPE(<cnp.ndarray>mask) == cnp.NPY_BOOL
                and same_shape(<cnp.ndarray>da, <cnp.ndarray>mask)):
            return super().dropout_backward(dout, mask, dropout_ratio, inverted, pool)
        cdef cnp.ndarray dx = pool_take_like(pool, <cnp.ndarray>da, -1)
        _backward_into(da, _mask01(mask), dx)
        if inverted:
            np.true_divide(dx, 1.0 - dropout_ratio, out=dx)
        return dx


cpdef object _mask01(object mask):
    """``mask`` C-contiguous, with 0/1 bytes: a bool array holding other bytes
    (a uint8 array viewed as bool, a mask set by hand) becomes 0/1 first, as
    NumPy's ``dout * mask`` reads any nonzero byte as True; the kernel
    multiplies by the byte (one uint8 max, ~1 us for a 100x100 mask)."""
    mask = np.ascontiguousarray(mask)
    if mask.dtype == np.bool_ and mask.size and mask.view(np.uint8).max() > 1:
        mask = mask.view(np.uint8) != 0
    return mask
