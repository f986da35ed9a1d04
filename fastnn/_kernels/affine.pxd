cimport numpy as cnp

# Row-major GEMM on BLAS (sgemm if f32 else dgemm):
# C (m×n) = alpha·op(A)·op(B) + beta·C, where op(A) is m×k and op(B) is k×n.  ``ta``/``tb`` are b'N' (the operand is stored
# row-major with leading dimension lda/ldb) or b'T' (it is stored transposed,
# i.e. column-major).  C is row-major with leading dimension ldc.
cdef void blas_gemm(bint f32, char ta, char tb, int m, int n, int k, double alpha,
                    const void* a, int lda, const void* b, int ldb, double beta,
                    void* c, int ldc) noexcept nogil

# ``buf`` if it can be overwritten as a gradient of ``like``'s shape and
# dtype (C-contiguous, writeable, native), else a new array.
cdef object _grad_buffer(object buf, cnp.ndarray like)
