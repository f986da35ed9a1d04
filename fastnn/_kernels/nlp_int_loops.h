/* A template (fastnn_common.h: loop templates): included by nlp_simd.h once
 * per integer type of C, with CT and FASTNN_SUF(name) bound (i32, i64); no
 * include guard. */

FASTNN_CLONES static void FASTNN_SUF(fastnn_ppmi_arg)(const CT *C, ptrdiff_t ncols,
        const int64_t *S, int64_t N, double eps, ptrdiff_t r0, ptrdiff_t r1, double *out)
{
    for (ptrdiff_t i = r0; i < r1; i++) {
        const CT *row = C + i * ncols;
        const int64_t si = S[i];
        for (ptrdiff_t j = 0; j < ncols; j++) {
            int64_t num = (int64_t)((uint64_t)(int64_t)row[j] * (uint64_t)N);
            int64_t den = (int64_t)((uint64_t)S[j] * (uint64_t)si);
            *out++ = (double)num / (double)den + eps;
        }
    }
}

FASTNN_CLONES static int64_t FASTNN_SUF(fastnn_colsums)(const CT *C, ptrdiff_t rows,
                                                  ptrdiff_t cols, int64_t *S)
{
    uint64_t total = 0;
    memset(S, 0, (size_t)cols * sizeof(int64_t));
    for (ptrdiff_t i = 0; i < rows; i++) {
        const CT *row = C + i * cols;
        for (ptrdiff_t j = 0; j < cols; j++)
            S[j] = (int64_t)((uint64_t)S[j] + (uint64_t)(int64_t)row[j]);
    }
    for (ptrdiff_t j = 0; j < cols; j++)
        total += (uint64_t)S[j];
    return (int64_t)total;
}
