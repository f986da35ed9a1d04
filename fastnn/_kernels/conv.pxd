from cython cimport floating

# Geometry of one window sweep: input (C, H, W) of one sample, filter/pool
# window FH x FW, stride, zero padding, output OH x OW.
cdef struct Window:
    Py_ssize_t C, H, W, FH, FW, stride, pad, OH, OW

# One sample, channels-first col: colT[(c·FH + fh)·FW + fw, oh·OW + ow] =
# x[c, oh·stride + fh − pad, ow·stride + fw − pad] (0 in the padding).
# colT is (C·FH·FW) x (OH·OW), row-major.
cdef void im2col_t(const floating* x, const Window* g, floating* colT) noexcept nogil

# The adjoint: dx[c, ih, iw] += colT[...] for every entry im2col_t would
# have read from (c, ih, iw), in (c, fh, fw, oh, ow) order.
cdef void col2im_t_add(const floating* colT, const Window* g, floating* dx) noexcept nogil

# The book's row layout for one sample: col[oh·OW + ow, (c·FH + fh)·FW + fw].
cdef void im2col_rows(const floating* x, const Window* g, floating* col) noexcept nogil
cdef void col2im_rows_add(const floating* col, const Window* g, floating* dx) noexcept nogil

# ``a`` as the kernels read it (native, aligned, C-contiguous, dtype
# ``typenum``), converted once into ``pool``'s ``slot`` if need be, or None.
from fastnn._kernels.pool cimport Pool
cdef object _takes(object a, int typenum, Pool pool, str slot)
