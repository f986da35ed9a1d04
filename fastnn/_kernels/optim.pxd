from cython cimport floating

cdef void adam_kernel(floating* p, const floating* g, floating* m, floating* v,
                      Py_ssize_t n, double lr_t, double beta1, double beta2,
                      double eps) noexcept nogil
