from cython cimport floating
from libc.stdint cimport uint8_t

# Element-wise kernels on n contiguous elements.  out may be the input
# itself (each element is read before it is written).

# mask[i] = x[i] <= 0;  out[i] = 0 where mask else x[i]  (NaN passes through)
cdef void relu_forward_kernel(const floating* x, floating* out, uint8_t* mask,
                              Py_ssize_t n) noexcept nogil

# out[i] = 0 where mask[i] else dout[i]
cdef void relu_backward_kernel(const floating* dout, const uint8_t* mask, floating* out,
                               Py_ssize_t n) noexcept nogil

# out[i] = 1 / (1 + e[i]), where e = exp(-x) (the wrapper gets it from NumPy)
cdef void sigmoid_from_exp_kernel(const floating* e, floating* out,
                                  Py_ssize_t n) noexcept nogil

# out[i] = dout[i] * (1 - y[i]) * y[i]
cdef void sigmoid_backward_kernel(const floating* dout, const floating* y, floating* out,
                                  Py_ssize_t n) noexcept nogil
