from libc.stdint cimport uint8_t, uint32_t, uint64_t
from numpy.random cimport bitgen_t

# Draw n dropout decisions from the bit generator ``rng`` into mask (one byte
# per element, 0 or 1) and, when x is not NULL, write out = x·mask (x and out:
# n float32 elements when f32, else float64).  The
# caller holds the generator's lock.
#   fast == 0 (the book's stream): mask = next_double() > ratio, i.e. the
#             mask of ``rand(n) > ratio`` drawn from this generator;
#   fast == 1: mask = next_uint32() > floor(ratio·2³²) (one 32-bit draw per
#             element instead of two).
# An MT19937 of the NumPy whose layout was verified at first use is drawn
# from directly, 624 words at a time (vectorized); any other generator
# through its bitgen_t function pointers.  Both give the same stream.
cdef void dropout_draw(bitgen_t* rng, bint fast, double ratio, bint f32, const void* x,
                       void* out, uint8_t* mask, Py_ssize_t n) noexcept nogil
