/* Shared C of fastnn's kernels: the SIMD clone gate, the float32/float64
 * dispatch (FASTNN_BY_DTYPE) and the loop attributes.
 * Every per-family header (activations_simd.h, affine_simd.h,
 * batchnorm_simd.h, dropout_simd.h, optim_simd.h, softmax_simd.h) includes this one.
 *
 * FASTNN_CLONES compiles a loop twice, for baseline x86-64 (SSE2) and for
 * AVX2, and picks the clone at load time (GCC's target_clones, an ifunc:
 * needs GCC or clang, ELF and glibc -- musl has no ifunc).  Building with
 * -DFASTNN_CLONES= (empty) turns the dispatch off: the baseline loops only,
 * which is how their results are tested on an AVX2 machine.
 *
 * No FMA clone: "avx2" alone does not enable FMA, so GCC cannot contract
 * a*b+c and every operation rounds as NumPy's does.
 */
#ifndef FASTNN_COMMON_H
#define FASTNN_COMMON_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(FASTNN_CLONES) && defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#  if __has_attribute(target_clones)
#    define FASTNN_CLONES __attribute__((target_clones("avx2", "default")))
#  endif
#endif
#ifndef FASTNN_CLONES
#  define FASTNN_CLONES
#endif

/* Prefetch the cache lines of bytes from p (for writing when write is 1):
 * the row loops over ids (an embedding's gather and scatter) read rows of
 * a large matrix in no order the hardware can guess, one miss at a time
 * without it. */
static inline void fastnn_prefetch_row(const void *p, size_t bytes, int write)
{
    const char *c = (const char *)p;
    for (size_t o = 0; o < bytes; o += 64) {
        if (write)
            __builtin_prefetch(c + o, 1, 3);
        else
            __builtin_prefetch(c + o, 0, 3);
    }
}

/* The one float32/float64 dispatch of the kernels.  A family header
 * instantiates each loop for both element types (name_f on float, name_d on
 * double) and binds the dtype-generic name once:
 *
 *     #define fastnn_relu_fwd(f32, ...) FASTNN_BY_DTYPE(f32, fastnn_relu_fwd, __VA_ARGS__)
 *
 * which the Cython drivers call with a flag and untyped array pointers:
 * fastnn_relu_fwd(f32, x, out, mask, n).  The void pointers take the
 * callee's element type; double scalars passed to an _f loop are rounded to
 * float by the call's conversion (what <float> did in Cython, and how NumPy 2
 * rounds a Python float operand). */
#define FASTNN_BY_DTYPE(f32, name, ...) \
    ((f32) ? name##_f(__VA_ARGS__) : name##_d(__VA_ARGS__))

/* Loop templates.  A family's loops are written once, as ordinary C
 * functions, in <family>_loops.h, in terms of the element type T and
 * FASTNN_SUF(name) (name_d or name_f); the family header includes that file
 * twice, once per type:
 *
 *     #define T double
 *     #define FASTNN_SUFFIX d
 *     #include "activations_loops.h"
 *     #undef T
 *     #undef FASTNN_SUFFIX
 *     ... the same with float, f ...
 *
 * Why a template header rather than a macro per loop (what these headers
 * were) or a build-time generator: the preprocessor keeps the template's own
 * line numbers, so a compiler error or a debugger's line points at the
 * statement in <family>_loops.h (a macro put every statement of a loop on
 * its instantiation line); the loops stay plain C that an editor and grep
 * read; and the build needs no extra step or generated file.  The expanded
 * tokens are the ones the macros produced, so the object code is the same
 * (checked with objdump on every function when the macros went). */
#define FASTNN_PASTE_(a, b) a##_##b
#define FASTNN_PASTE(a, b) FASTNN_PASTE_(a, b)
#define FASTNN_SUF(name) FASTNN_PASTE(name, FASTNN_SUFFIX)

/* GCC's -O3 unroll-and-jam fuses two rows of a row-by-column nest into one
 * scalar inner loop, which the vectorizer then leaves scalar (measured:
 * batch norm's Welford pass 3x slower); FASTNN_NOJAM keeps each row's
 * column loop whole. */
#if defined(__GNUC__) && !defined(__clang__)
#  define FASTNN_NOJAM __attribute__((optimize("no-loop-unroll-and-jam")))
#else
#  define FASTNN_NOJAM
#endif

/* GCC turns a copy or zeroing loop into a call of memcpy/memset; for the
 * short runs of the convolution's loops (20-60 bytes) the call costs more
 * than the copy.  FASTNN_NOLIBCALL keeps such a loop inline. */
#if defined(__GNUC__) && !defined(__clang__)
#  define FASTNN_NOLIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#  define FASTNN_NOLIBCALL
#endif

/* FASTNN_IVDEP: the next loop's iterations are independent.  For a loop
 * that writes many planes of one array (Winograd's 16), where GCC would
 * otherwise need more run-time overlap checks than it is willing to emit
 * and leaves the loop scalar. */
#if defined(__clang__)
#  define FASTNN_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#  define FASTNN_IVDEP _Pragma("GCC ivdep")
#else
#  define FASTNN_IVDEP
#endif

#endif /* FASTNN_COMMON_H */
