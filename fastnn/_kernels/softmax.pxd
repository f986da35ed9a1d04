from cython cimport floating
from libc.stdint cimport uint8_t, int32_t, int64_t

# Integer class-label types the softmax kernels read directly (others are
# converted once): MNIST labels are uint8, np.random.choice gives int64.
ctypedef fused label_t:
    uint8_t
    int32_t
    int64_t

# Row-wise stable softmax of an (n, c) C-contiguous block in three steps:
# y = x - max_row (y may be x);  y = exp(y) (NumPy's, in the wrapper);
# y /= sum_row(y).
cdef void softmax_shift_kernel(const floating* x, floating* y, Py_ssize_t n,
                               Py_ssize_t c) noexcept nogil
cdef void softmax_normalize_kernel(floating* y, Py_ssize_t n, Py_ssize_t c) noexcept nogil

# NumPy's pairwise summation (same blocking, so the same rounding as np.sum).
cdef floating pairwise_sum(const floating* a, Py_ssize_t n) noexcept nogil
