from cython cimport floating
cimport numpy as cnp

# Row-major GEMM on BLAS: C (m×n) = alpha·op(A)·op(B) + beta·C, where op(A)
# is m×k and op(B) is k×n.  ``ta``/``tb`` are b'N' (the operand is stored
# row-major with leading dimension lda/ldb) or b'T' (it is stored transposed,
# i.e. column-major).  C is row-major with leading dimension ldc.
cdef void gemm_rm(char ta, char tb, int m, int n, int k, floating alpha,
                  const floating* a, int lda, const floating* b, int ldb,
                  floating beta, floating* c, int ldc) noexcept nogil

# out[i, :] = bias for every row i of the row-major (n, m) block ``out``
# (leading dimension ldo).
cdef void fill_rows(floating* out, const floating* bias, Py_ssize_t n, Py_ssize_t m,
                    Py_ssize_t ldo) noexcept nogil

# out[j] = Σ_i a[i·rs + j·cs]: column sums of an (n, m) matrix with element
# strides rs, cs; one pass, rows outer when cs == 1 so the inner loop is
# contiguous.  Accumulates in the array's precision, in row order, as NumPy's
# ``a.sum(axis=0)`` does for a C-contiguous array.
cdef void column_sums(const floating* a, Py_ssize_t n, Py_ssize_t m, Py_ssize_t rs,
                      Py_ssize_t cs, floating* out) noexcept nogil

# ``buf`` if it can be overwritten as a gradient of ``like``'s shape and
# dtype (C-contiguous, writeable, native), else a new array.
cdef object _grad_buffer(object buf, cnp.ndarray like)
