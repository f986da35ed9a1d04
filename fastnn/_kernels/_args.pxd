# Argument handling shared by the kernel modules (the trusted entry points'
# checks of conv/maxpool/winograd, optim's overlap test, dtype flags, GIL
# release), inlined into each module that cimports it (through _shared.pxd).
# The checked public functions are Python, in fastnn/ops.py.
cimport numpy as cnp
from libc.limits cimport INT_MAX


cdef inline int _ftype(object a) noexcept:
    """NPY_FLOAT/NPY_DOUBLE for a native-order float32/float64 ndarray, else -1."""
    if not cnp.PyArray_Check(a):
        return -1
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>a)
    if (t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE) or not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a):
        return -1
    return t


cdef inline bint is_f32(cnp.ndarray a) noexcept:
    """The flag of the kernels' one float32/float64 dispatch (FASTNN_BY_DTYPE,
    fastnn_common.h) for an array already known to be float32 or float64."""
    return cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT


cdef inline bint check_kernel_arrays(tuple arrays) except -1:
    """``arrays``: (name, array or None, ndim, written) of a kernel's trusted
    entry point; each array present must be native, C-contiguous and of the
    first one's dtype (float32 or float64) and rank ndim, and writeable if
    written.  Returns the f32 flag; a TypeError or ValueError names the
    first array that is not."""
    cdef cnp.ndarray a
    cdef int t = -1
    for name, arr, ndim, written in arrays:
        if arr is None:
            continue
        if not cnp.PyArray_Check(arr):
            raise TypeError("%s must be a numpy.ndarray, got %s" % (name, type(arr).__name__))
        a = <cnp.ndarray>arr
        if t < 0:
            t = _ftype(a)
            if t < 0:
                raise TypeError("%s must be native float32 or float64, got %s" % (name, a.dtype))
        if cnp.PyArray_TYPE(a) != t or not cnp.PyArray_ISNOTSWAPPED(a):
            raise TypeError("%s must have the dtype of %s, got %s"
                            % (name, arrays[0][0], a.dtype))
        if cnp.PyArray_NDIM(a) != ndim:
            raise ValueError("%s must be %d-D, got %d-D" % (name, ndim, cnp.PyArray_NDIM(a)))
        if not cnp.PyArray_ISCARRAY_RO(a):
            raise ValueError("%s must be C-contiguous and aligned" % name)
        if written and not cnp.PyArray_ISWRITEABLE(a):
            raise ValueError("%s must be writeable" % name)
    return t == cnp.NPY_FLOAT


cdef inline int check_shape(str name, object a, tuple shape) except -1:
    """A kernel's trusted entry point: ``a`` (an ndarray, or None: skipped)
    has exactly ``shape``."""
    if a is not None and a.shape != shape:
        raise ValueError("%s has shape %s, expected %s" % (name, a.shape, shape))
    return 0


cdef inline Py_ssize_t window_count(Py_ssize_t size, Py_ssize_t window, Py_ssize_t stride,
                                    Py_ssize_t pad) except -1:
    """Windows of ``window`` entries, ``stride`` apart, over ``size`` padded
    by ``pad`` on each side (0 when none fits), for the kernels' checks;
    raises unless window >= 0, stride >= 1 and pad >= 0."""
    if window < 0 or stride < 1 or pad < 0:
        raise ValueError("window %d, stride %d, pad %d: need window >= 0, stride >= 1, "
                         "pad >= 0" % (window, stride, pad))
    if size + 2 * pad < window:
        return 0
    return (size + 2 * pad - window) // stride + 1


cdef inline int check_blas_sizes(Py_ssize_t a, Py_ssize_t b, Py_ssize_t c) except -1:
    """GEMM sizes that fit BLAS's int."""
    if a > INT_MAX or b > INT_MAX or c > INT_MAX:
        raise ValueError("a GEMM size (%d, %d, %d) exceeds BLAS's int" % (a, b, c))
    return 0


cdef inline void* elem_at(const void* base, Py_ssize_t i, bint f32) noexcept nogil:
    """The address of element i of a float32 (f32) or float64 buffer (NULL
    stays NULL), for the kernels' dtype-generic calls."""
    if base == NULL:
        return NULL
    return <char*>base + i * (4 if f32 else 8)


cdef inline bint _disjoint(cnp.ndarray x, cnp.ndarray y) noexcept:
    """Memory of two C-contiguous arrays does not overlap."""
    cdef char* x0 = <char*>cnp.PyArray_DATA(x)
    cdef char* y0 = <char*>cnp.PyArray_DATA(y)
    return x0 + cnp.PyArray_NBYTES(x) <= y0 or y0 + cnp.PyArray_NBYTES(y) <= x0


cdef inline cnp.ndarray _contiguous(cnp.ndarray a):
    """``a`` itself when C-contiguous and aligned, else a C-ordered copy."""
    if cnp.PyArray_ISCARRAY_RO(a):
        return a
    return a.copy(order="C")


# Kernels on fewer elements than NOGIL_MIN keep the GIL: releasing and
# retaking it costs about 0.1 us, a noticeable share of a 100x100 layer
# call, and would let other threads in for only a microsecond or two.
#     cdef PyThreadState* ts = release_gil_if(n >= NOGIL_MIN)
#     ...C only: no Python object, no exception...
#     retake_gil(ts)
# (Cython's ``with nogil(cond)`` takes compile-time conditions only.)
cdef enum:
    NOGIL_MIN = 32768

cdef extern from "Python.h":
    ctypedef struct PyThreadState
    PyThreadState* PyEval_SaveThread() noexcept
    void PyEval_RestoreThread(PyThreadState* state) noexcept


cdef inline PyThreadState* release_gil_if(bint large) noexcept:
    return PyEval_SaveThread() if large else NULL


cdef inline void retake_gil(PyThreadState* state) noexcept:
    if state != NULL:
        PyEval_RestoreThread(state)
