/* A template (fastnn_common.h: loop templates): included by maxpool_simd.h once
 * per element type and index type, with T, FASTNN_SUF(name), IT (the index
 * type: unsigned char or ptrdiff_t) and FASTNN_INDEX (its name suffix: u8 or
 * ip) bound, so that FASTNN_SUF(FASTNN_PASTE(fastnn_maxpool_plane,
 * FASTNN_INDEX)) is fastnn_maxpool_plane_u8_d, ..._ip_f; no include guard. */

/* Max pooling of one plane x (H x W) into out (OH x OW) and am, the index
   fh·PW + fw of each window's first maximum (padding counts as 0).  IT is
   the index type: unsigned char (windows of up to 256 entries: 2x2 windows
   of stride 2 without padding, the book's, take the vectorized row loops)
   or ptrdiff_t. */
static void FASTNN_SUF(FASTNN_PASTE(fastnn_maxpool_plane, FASTNN_INDEX))(
        const T *restrict x, ptrdiff_t H, ptrdiff_t W, ptrdiff_t PH, ptrdiff_t PW,
        ptrdiff_t s, ptrdiff_t pad, ptrdiff_t OH, ptrdiff_t OW, T *restrict out,
        IT *restrict am)
{
    if (sizeof(IT) == 1 && pad == 0 && PH == 2 && PW == 2 && s == 2) {
        for (ptrdiff_t oh = 0; oh < OH; oh++) {
            const T *r0 = x + 2 * oh * W, *r1 = r0 + W;
            if (!FASTNN_SUF(fastnn_pool2x2_row)(r0, r1, OW, out + oh * OW,
                                         (unsigned char *)am + oh * OW))
                continue;
            for (ptrdiff_t ow = 0; ow < OW; ow++) {  /* a row with a NaN */
                T best = r0[2 * ow];
                ptrdiff_t k = 0;
                FASTNN_PICK(r0[2 * ow + 1], 1, best, k);
                FASTNN_PICK(r1[2 * ow], 2, best, k);
                FASTNN_PICK(r1[2 * ow + 1], 3, best, k);
                out[oh * OW + ow] = best;
                am[oh * OW + ow] = (IT)k;
            }
        }
        return;
    }
    for (ptrdiff_t oh = 0; oh < OH; oh++)
    for (ptrdiff_t ow = 0; ow < OW; ow++) {
        T best = 0;
        ptrdiff_t best_k = -1, k = 0;
        if (pad == 0) {      /* every window inside the image */
            const T *win = x + oh * s * W + ow * s;
            best = win[0];
            best_k = 0;
            for (ptrdiff_t fh = 0; fh < PH; fh++)
                for (ptrdiff_t fw = 0; fw < PW; fw++, k++)
                    FASTNN_PICK(win[fh * W + fw], k, best, best_k);
        } else {
            for (ptrdiff_t fh = 0; fh < PH; fh++) {
                ptrdiff_t ih = oh * s + fh - pad;
                for (ptrdiff_t fw = 0; fw < PW; fw++, k++) {
                    ptrdiff_t iw = ow * s + fw - pad;
                    T v = (ih < 0 || ih >= H || iw < 0 || iw >= W)
                          ? (T)0 : x[ih * W + iw];
                    if (best_k < 0 || v > best || (v != v && best == best)) {
                        best = v;
                        best_k = k;
                    }
                }
            }
        }
        out[oh * OW + ow] = best;
        am[oh * OW + ow] = (IT)best_k;
    }
}

/* Its backward on one plane: g (H x W) gets each dout entry at its window's
   arg_max (positions in the padding dropped, as col2im crops them).  When
   the windows tile the image (stride = window, no padding) every pixel is
   written once, dout or 0, with no zeroing pass; otherwise g is zeroed and
   the entries added. */
static void FASTNN_SUF(FASTNN_PASTE(fastnn_unpool_plane, FASTNN_INDEX))(
        const T *restrict d, const IT *restrict am, ptrdiff_t H, ptrdiff_t W,
        ptrdiff_t PH, ptrdiff_t PW, ptrdiff_t s, ptrdiff_t pad, ptrdiff_t OH, ptrdiff_t OW,
        T *restrict g)
{
    if (!(pad == 0 && s == PH && s == PW && OH * OW > 0)) {
        memset(g, 0, (size_t)(H * W) * sizeof(T));
        for (ptrdiff_t oh = 0; oh < OH; oh++)
        for (ptrdiff_t ow = 0; ow < OW; ow++) {
            ptrdiff_t k = (ptrdiff_t)am[oh * OW + ow];
            ptrdiff_t ih = oh * s + k / PW - pad, iw = ow * s + k % PW - pad;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                g[ih * W + iw] += d[oh * OW + ow];
        }
        return;
    }
    for (ptrdiff_t oh = 0; oh < OH; oh++) {
        if (sizeof(IT) == 1 && PH == 2 && PW == 2) {
            T *row = g + oh * 2 * W;
            FASTNN_SUF(fastnn_unpool2x2_row)(d + oh * OW,
                                      (const unsigned char *)am + oh * OW, OW,
                                      row, row + W);
            for (ptrdiff_t fw = OW * 2; fw < W; fw++) {  /* uncovered columns */
                row[fw] = 0;
                row[W + fw] = 0;
            }
            continue;
        }
        for (ptrdiff_t fh = 0; fh < PH; fh++) {
            T *row = g + (oh * PH + fh) * W;
            for (ptrdiff_t ow = 0; ow < OW; ow++) {
                ptrdiff_t k = (ptrdiff_t)am[oh * OW + ow] - fh * PW;
                T v = d[oh * OW + ow];
                for (ptrdiff_t fw = 0; fw < PW; fw++)
                    row[ow * PW + fw] = k == fw ? v : (T)0;
            }
            for (ptrdiff_t fw = OW * PW; fw < W; fw++)
                row[fw] = 0;
        }
    }
    for (ptrdiff_t r = OH * PH; r < H; r++)       /* uncovered rows */
        memset(g + r * W, 0, (size_t)W * sizeof(T));
}
