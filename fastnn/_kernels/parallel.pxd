# fastnn's one thread pool and its BLAS (parallel.pyx, parallel.h).

# A piece of parallel work: fn(ctx, piece, slot), slot numbering the threads
# of one run from 0 (the caller) for per-thread scratch.
ctypedef void (*task_fn)(void* ctx, Py_ssize_t piece, int slot) noexcept nogil

# fn(ctx, i, slot) for every i in [0, pieces), on up to ``nthreads`` threads
# of the pool (the caller among them), each taking the next piece not yet
# taken; returns when all are done.  On the calling thread alone for
# nthreads <= 1, inside another run, while another thread's run holds the
# pool, in a process made by fork(), and when runs of this fn, pieces and
# ``key`` (the call's sizes, as one number) have been faster that way
# (parallel.h times both).
cdef void run_parallel(task_fn fn, void* ctx, Py_ssize_t pieces, int nthreads,
                       long long key) noexcept nogil

# The team size every parallel region of fastnn uses: fastnn.get_num_threads(),
# or 1 in a process made by fork().
cdef int pool_threads() noexcept nogil

# An explicit ``num_threads`` argument of a fastnn.ops function, checked
# (an int from 1 to fastnn's cap, else ValueError/TypeError naming it), or
# the pool's size for None; 1 in a forked child.
cdef int threads_arg(object num_threads) except -1

# fn(ctx, lo, hi) over [0, n) in pieces of at least ``grain`` items (and
# edges on multiples of ``align``), over the pool (at::parallel_for's grain
# size): on the calling thread alone when n < 2·grain.
ctypedef void (*range_fn)(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil
cdef void parallel_range(range_fn fn, void* ctx, Py_ssize_t n, Py_ssize_t grain,
                         Py_ssize_t align) noexcept nogil

# Elements of streaming work (an elementwise pass) worth a piece of their
# own: below it the hand-off costs more than the second core gains (measured,
# bench/README.md "Threads").
cdef enum:
    GRAIN_ELEMS = 16384

# A convolution's bias gradient db[f] = Σ dout[n][f][p] of dout (N, FN, P),
# the filters over the pool (sum_simd.h: the same bits on any thread count).
cdef void bias_grad(bint f32, const void* dout, Py_ssize_t N, Py_ssize_t FN, Py_ssize_t P,
                    void* db) noexcept nogil

# Row-major GEMM on fastnn's own single-threaded OpenBLAS (sgemm if f32 else
# dgemm): C (m×n) = alpha·op(A)·op(B) + beta·C, where op(A) is m×k and op(B)
# k×n.  ``ta``/``tb`` are b'N' (the operand is stored row-major with leading
# dimension lda/ldb) or b'T' (it is stored transposed).  C is row-major with
# leading dimension ldc.  Split over the pool's threads by rows or columns of
# C, or over k (partial products added in piece order) when C is small next
# to A and B, when it is large enough; on the calling thread alone inside a
# parallel run.
cdef void blas_gemm(bint f32, char ta, char tb, int m, int n, int k, double alpha,
                    const void* a, int lda, const void* b, int ldb, double beta,
                    void* c, int ldc) noexcept nogil

# The same product on the calling thread alone, never split (a piece of a
# kernel's own parallel run; blas_serial() before that run).
cdef void blas_gemm1(bint f32, char ta, char tb, int m, int n, int k, double alpha,
                     const void* a, int lda, const void* b, int ldb, double beta,
                     void* c, int ldc) noexcept nogil

# Before a kernel's own parallel run calls blas_gemm from its threads: puts
# fastnn's BLAS back to one thread if threadpoolctl raised it.
cdef void blas_serial() noexcept nogil
