/*
 * kernels_simd_gemm.h -- the packed matrix product's pieces (packing, the micro-kernel, the
 * macro-kernel, the narrow last panel), part of the kernels_simd.h template: included by it, once
 * per instruction set, with its macros (KV_NAME, VL, MR, NR, LOAD, ...) defined (no include guard
 * on purpose). Split off to keep each file short enough to read; kernels.c drives these pieces.
 */

/* ---- gemm: packing ------------------------------------------------------------------------- */

/* Panels of W lanes from a matrix X: for `count` lanes (rows of op(A), columns of op(B)) and kc
 * steps of k, panel p holds for each k the W values X(p*W + l, k), lanes past count being 0.
 * X(i, k) is X[k*ldx + i] when `along` (the lanes are contiguous: a copy), else X[i*ldx + k]
 * (a transpose: read along each lane's row, write across the panel). */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(pack_panels)(int W, int count, int kc, const float *X, long ldx, bool along, float *dst) {
    if (along) { /* 8 k at a time: 8 runs of X's rows read side by side, each panel's 8 k written
                  * in one piece (k by k would write each k's W values a panel apart, all in the
                  * same cache set when a panel is a multiple of 4 KB; panel by panel would read
                  * one short piece per row, a row's stride apart, a new page every row or two) */
        const int whole = count / W * W, lanes = count - whole;
        for (int k0 = 0; k0 < kc; k0 += 8) {
            const int k1 = kc - k0 < 8 ? kc : k0 + 8;
            for (int p = 0; p < whole; p += W)
                for (int k = k0; k < k1; k++) {
                    const float *s = X + (long)k * ldx + p;
                    float *d = dst + (long)p * kc + (long)k * W;
                    if (W % VL == 0)
                        for (int v = 0; v < W / VL; v++) STORE(d + v * VL, LOAD(s + v * VL));
                    else
                        memcpy(d, s, (size_t)W * sizeof(float));
                }
            if (lanes == 0) continue;
            for (int k = k0; k < k1; k++) { /* the ragged last panel: zeros past its lanes */
                const float *s = X + (long)k * ldx + whole;
                float *d = dst + (long)whole * kc + (long)k * W;
                if (W % VL == 0) {
                    for (int v = 0; v < W / VL; v++) {
                        const int n = lanes - v * VL;
                        vf x = KV_SPLAT(0.0f);
                        if (n >= VL) x = LOAD(s + v * VL);
                        else if (n > 0) x = LOADN(s + v * VL, n);
                        STORE(d + v * VL, x);
                    }
                } else {
                    memcpy(d, s, (size_t)lanes * sizeof(float));
                    for (int l = lanes; l < W; l++) d[l] = 0.0f;
                }
            }
        }
        return;
    }
    for (int p = 0; p < count; p += W) { /* a transpose: panel by panel */
        const int lanes = count - p < W ? count - p : W;
        float *d = dst + (long)p * kc;
        int k0 = 0; /* the k done by 8 x 8 blocks: a whole panel, 8 k at a time */
#ifdef KV_TRANSPOSE8
        if (lanes == W && W % 8 == 0)
            for (; k0 + 8 <= kc; k0 += 8)
                for (int l = 0; l < W; l += 8)
                    KV_TRANSPOSE8(X + (long)(p + l) * ldx + k0, ldx, d + (long)k0 * W + l, W);
#endif
        for (int l = 0; l < W; l++) {
            const float *s = X + (long)(p + l) * ldx;
            if (l < lanes)
                for (int k = k0; k < kc; k++) d[(long)k * W + l] = s[k];
            else
                for (int k = k0; k < kc; k++) d[(long)k * W + l] = 0.0f;
        }
    }
}

KV_TARGET static void KV_NAME(pack_a)(int mc, int kc, const float *A, long lda, bool ta,
                                      float *dst) {
    KV_NAME(pack_panels)(MR, mc, kc, A, lda, ta, dst);
}

KV_TARGET static void KV_NAME(pack_b)(int kc, int nc, const float *B, long ldb, bool tb,
                                      float *dst) {
    KV_NAME(pack_panels)(NR, nc, kc, B, ldb, !tb, dst);
}

/* ---- gemm: the micro-kernel and the macro-kernel --------------------------------------------- */

/* Store or add the first R rows of the MR x NV accumulator tile into C (R = rows <= MR, a
 * constant after inlining; cols <= NR; row stride ldc): directly when its rows are whole, through
 * a buffer at a ragged right edge (the same adds either way). */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(tile_out)(vf acc[MR][KV_NV], float *restrict c, long ldc, int R, int cols, bool add) {
    if (cols == NR) {
#pragma GCC unroll 16
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int v = 0; v < KV_NV; v++) {
                float *p = c + r * ldc + v * VL;
                STORE(p, add ? LOAD(p) + acc[r][v] : acc[r][v]);
            }
        return;
    }
    float tile[MR * NR];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int v = 0; v < KV_NV; v++) STORE(tile + r * NR + v * VL, acc[r][v]);
    for (int r = 0; r < R; r++)
        for (int j = 0; j < cols; j++)
            c[r * ldc + j] = add ? c[r * ldc + j] + tile[r * NR + j] : tile[r * NR + j];
}

/* acc (first R rows of MR x NV) += the k = 0..kc-1 rank-1 updates: row r of A's tile at
 * row[r][k * step], broadcast against the NV vectors of b's k-th row. `R` and `step` are
 * constants after inlining. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(micro_loop)(vf acc[MR][KV_NV], int R, int kc, const float *const row[MR], long step,
                    const float *restrict b) {
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        vf bv[KV_NV];
#pragma GCC unroll 8
        for (int v = 0; v < KV_NV; v++) bv[v] = LOAD(b + (long)k * NR + v * VL);
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            const vf ar = KV_SPLAT(row[r][k * step]);
#pragma GCC unroll 8
            for (int v = 0; v < KV_NV; v++) acc[r][v] = KV_FMA(ar, bv[v], acc[r][v]);
        }
    }
}

/* C (R rows, cols <= NR) (+)= a @ b (kc, NR panel), the micro-kernel, for R <= MR rows (a
 * constant after inlining: a ragged bottom tile computes its own rows only). The R x NV
 * accumulators stay in registers for the whole k loop; each k broadcasts R values of a against
 * NV vectors of b. a is a packed panel (kc, MR) when lda is 0; otherwise it is rows of A itself,
 * row stride lda, which saves packing an A that is already row-major. Both read the same values,
 * so they give the same bits. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(micro)(int kc, const float *restrict a, long lda, const float *restrict b,
               float *restrict c, long ldc, int R, int cols, bool add) {
    vf acc[MR][KV_NV];
    const float *row[MR];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
        for (int v = 0; v < KV_NV; v++) acc[r][v] = KV_SPLAT(0.0f);
        row[r] = lda == 0 ? a + r : a + r * lda;
        __builtin_prefetch(c + r * ldc, 1);
        __builtin_prefetch(c + r * ldc + NR - 1, 1);
    }
    if (lda == 0) KV_NAME(micro_loop)(acc, R, kc, row, MR, b);
    else KV_NAME(micro_loop)(acc, R, kc, row, 1, b);
    KV_NAME(tile_out)(acc, c, ldc, R, cols, add);
}

/* The micro-kernel for a ragged bottom tile of 0 < rows < MR: one copy per row count. */
KV_TARGET static __attribute__((noinline)) void
KV_NAME(micro_rows)(int kc, const float *restrict a, long lda, const float *restrict b,
                    float *restrict c, long ldc, int rows, int cols, bool add) {
    _Static_assert(MR <= 8, "micro_rows has cases for at most 7 rows");
#define KV_MICRO_ROWS(R)                                                                        \
    case R: KV_NAME(micro)(kc, a, lda, b, c, ldc, R, cols, add); return;
    switch (rows) {
        KV_MICRO_ROWS(1) KV_MICRO_ROWS(2) KV_MICRO_ROWS(3) KV_MICRO_ROWS(4) KV_MICRO_ROWS(5)
#if MR > 6
        KV_MICRO_ROWS(6)
#endif
#if MR > 7
        KV_MICRO_ROWS(7)
#endif
    default: break;
    }
#undef KV_MICRO_ROWS
}

/* ---- gemm: a narrow last panel ----------------------------------------------------------------
 *
 * A last panel of VL + w columns, VL/8 < w <= VL/2 (N = 10 with 8-float vectors: w = 2), would
 * run its second vector with only w lanes busy. Instead the rows go VL at a time: each row's
 * first VL columns by a vector as usual, and the w tail columns of G rows share one vector, W
 * lanes a row (W = VL/4 and G = 4 when w <= VL/4, else W = VL/2 and G = 2): lane l holds row
 * l / W, column VL + l % W. Its a is a blend of the G rows' broadcasts, its b the panel's tail
 * columns repeated G times (bt). 8 rows of N = 10 take 10 multiply-adds a step of k instead of
 * 16. Every element is still the same products summed over k in order, then stored or added
 * once, so the bits are those of the ordinary way. */

/* Row i of A's block: the packed panels (step MR) when lda is 0, else A itself (step 1). */
#define KV_A_ROW(a, lda, kc, i)                                                                 \
    ((lda) == 0 ? (a) + (long)((i) / MR) * MR * (kc) + (i) % MR : (a) + (long)(i) * (lda))

/* The narrow panel needs blends with constant lane lists: where the compiler has
 * __builtin_shufflevector (GCC 12, Clang); elsewhere such a panel goes the ordinary way. */
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define KV_HAS_BLEND 1
#endif
#endif

#ifdef KV_HAS_BLEND
/* x with the lanes l whose row in a tail vector, l / W, has bit V set taken from y instead
 * (W and V integer constants): one blend instruction with an immediate mask. */
#define KV_BLEND_LANE(l, W, V) ((((l) / (W)) >> (V)) & 1 ? (l) + VL : (l))
/* the lane list F(l, W, V) for l = 0 .. VL-1 */
#if VL == 4
#define KV_LANES(F, W, V) F(0, W, V), F(1, W, V), F(2, W, V), F(3, W, V)
#elif VL == 8
#define KV_LANES(F, W, V)                                                                       \
    F(0, W, V), F(1, W, V), F(2, W, V), F(3, W, V), F(4, W, V), F(5, W, V), F(6, W, V), F(7, W, V)
#else
#define KV_LANES(F, W, V)                                                                       \
    F(0, W, V), F(1, W, V), F(2, W, V), F(3, W, V), F(4, W, V), F(5, W, V), F(6, W, V),         \
        F(7, W, V), F(8, W, V), F(9, W, V), F(10, W, V), F(11, W, V), F(12, W, V), F(13, W, V), \
        F(14, W, V), F(15, W, V)
#endif
#define KV_BLEND(x, y, W, V) __builtin_shufflevector(x, y, KV_LANES(KV_BLEND_LANE, W, V))
/* x's first W lanes repeated across the vector (W a constant) */
#define KV_REPEAT_LANE(l, W, V) ((l) & ((W) - 1))
#define KV_REPEAT(x, W) __builtin_shufflevector(x, x, KV_LANES(KV_REPEAT_LANE, W, 0))
/* A broadcast the compiler must keep as one (a load-broadcast, then blends): left to itself,
 * GCC builds the tail vector from the scalars by a chain of shuffles instead, which all queue
 * for the one or two shuffle units. */
#if defined(__x86_64__)
#define KV_OPAQUE(v) __asm__("" : "+v"(v))
#else
#define KV_OPAQUE(v) ((void)0)
#endif

/* C rows ir .. ir+rows-1 (rows <= VL; rows past `rows` repeat row ir: computed, never stored),
 * columns 0 .. VL+w-1, (+)= A's rows @ the panel b (kc, NR) whose tail columns bt holds as
 * above; A's rows at KV_A_ROW, k steps `step` apart. W (VL/2 or VL/4) and step are constants
 * after inlining. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(narrow_tile)(int W, int kc, const float *restrict a, long lda, long step, int ir, int rows,
                     const float *restrict b, const float *restrict bt, float *restrict c,
                     long ldc, int w, bool add) {
    const int G = VL / W, T = W; /* rows per tail vector (2 or 4); tail vectors (G * T = VL) */
    vf acc[VL], tacc[VL / 2];
    const float *row[VL];
#pragma GCC unroll 16
    for (int r = 0; r < VL; r++) {
        acc[r] = KV_SPLAT(0.0f);
        row[r] = KV_A_ROW(a, lda, kc, ir + (r < rows ? r : 0));
    }
#pragma GCC unroll 8
    for (int g = 0; g < T; g++) tacc[g] = KV_SPLAT(0.0f);
    for (int k = 0; k < kc; k++) {
        const vf b0 = LOAD(b + (long)k * NR), b1 = LOAD(bt + (long)k * VL);
#pragma GCC unroll 4
        for (int q = 0; q < VL / 4; q++) { /* rows 4q .. 4q+3: two tail vectors, or one */
            vf s[4];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                s[i] = KV_SPLAT(row[4 * q + i][k * step]);
                KV_OPAQUE(s[i]);
                acc[4 * q + i] = KV_FMA(s[i], b0, acc[4 * q + i]);
            }
            if (G == 2) {
                tacc[2 * q] = KV_FMA(KV_BLEND(s[0], s[1], VL / 2, 0), b1, tacc[2 * q]);
                tacc[2 * q + 1] = KV_FMA(KV_BLEND(s[2], s[3], VL / 2, 0), b1, tacc[2 * q + 1]);
            } else {
                const vf lo = KV_BLEND(s[0], s[1], VL / 4, 0), hi = KV_BLEND(s[2], s[3], VL / 4, 0);
                tacc[q] = KV_FMA(KV_BLEND(lo, hi, VL / 4, 1), b1, tacc[q]);
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        float *p = c + (long)(ir + r) * ldc;
        STORE(p, add ? LOAD(p) + acc[r] : acc[r]);
    }
    for (int g = 0; g < T; g++) {
        float t[VL];
        STORE(t, tacc[g]);
        for (int l = 0; l < VL; l++) {
            const int r = g * G + l / W, j = l % W;
            float *p = c + (long)(ir + r) * ldc + VL + j;
            if (r < rows && j < w) *p = add ? *p + t[l] : t[l];
        }
    }
}

/* All rows of C (mc) for the last panel b (kc, NR) when it has VL + w columns, W >= w (a power
 * of two, VL/4 <= W <= VL/2) lanes per row in the tail vector. */
KV_TARGET static __attribute__((noinline)) void
KV_NAME(narrow_panel)(int W, int mc, int kc, const float *a, long lda, const float *b, float *C,
                      long ldc, int w, bool add) {
    float bt[KV_KC * VL];
#define KV_NARROW(Wc)                                                                           \
    if (W == (Wc)) {                                                                            \
        for (int k = 0; k < kc; k++)                                                            \
            STORE(bt + (long)k * VL, KV_REPEAT(LOAD(b + (long)k * NR + VL), Wc));               \
        for (int ir = 0; ir < mc; ir += VL) {                                                   \
            const int rows = mc - ir < VL ? mc - ir : VL;                                       \
            if (lda == 0) KV_NAME(narrow_tile)(Wc, kc, a, 0, MR, ir, rows, b, bt, C, ldc, w, add); \
            else KV_NAME(narrow_tile)(Wc, kc, a, lda, 1, ir, rows, b, bt, C, ldc, w, add);      \
        }                                                                                       \
        return;                                                                                 \
    }
    KV_NARROW(VL / 2)
    KV_NARROW(VL / 4)
#undef KV_NARROW
}

#endif /* KV_HAS_BLEND */

/* Rows from which a micro-tile keeps the FMA units busy: each row's KV_NV sums are chains of
 * dependent multiply-adds, and two units with a latency of four cycles need eight in flight. */
#define BUSY_ROWS (8 / KV_NV > 1 ? 8 / KV_NV : 1)

/* C (mc, nc) (+)= A (mc, kc) @ packed B (kc, nc): every micro-tile. A is packed panels when
 * lda is 0, else row-major with row stride lda. The B panel of a column strip stays in L1
 * while the A panels stream past it. A narrow last panel goes by narrow_panel. When A is read in
 * place, the last MR + r rows with r < BUSY_ROWS go as two tiles of about equal height (M = 128
 * with MR = 6: ... 6, 4, 4 rather than ... 6, 6, 2, whose last tile would wait on latency). */
KV_TARGET static void KV_NAME(macro)(int mc, int nc, int kc, const float *a, long lda,
                                     const float *pb, float *C, long ldc, bool add) {
    for (int jr = 0; jr < nc; jr += NR) {
        const int cols = nc - jr < NR ? nc - jr : NR, w = cols - VL;
#ifdef KV_HAS_BLEND
        if (KV_NV == 2 && w > VL / 8 && w <= VL / 2 && kc <= KV_KC && mc >= VL) {
            KV_NAME(narrow_panel)(w > VL / 4 ? VL / 2 : VL / 4, mc, kc, a, lda, pb + (long)jr * kc,
                                  C + jr, ldc, w, add);
            continue;
        }
#else
        (void)w;
#endif
        for (int ir = 0, rows; ir < mc; ir += rows) {
            const int left = mc - ir;
            rows = left < MR ? left : MR;
            if (lda != 0 && left > MR && left - MR < BUSY_ROWS) rows = (left + 1) / 2;
            const float *ai = lda == 0 ? a + (long)ir * kc : a + (long)ir * lda;
            const float *bj = pb + (long)jr * kc;
            float *cij = C + ir * ldc + jr;
            if (rows < MR) KV_NAME(micro_rows)(kc, ai, lda, bj, cij, ldc, rows, cols, add);
            else if (lda == 0) KV_NAME(micro)(kc, ai, 0, bj, cij, ldc, MR, cols, add);
            else KV_NAME(micro)(kc, ai, lda, bj, cij, ldc, MR, cols, add);
        }
    }
}

#undef BUSY_ROWS
#undef KV_A_ROW
#undef KV_BLEND_LANE
#undef KV_LANES
#undef KV_REPEAT_LANE
#undef KV_REPEAT
#undef KV_BLEND
#undef KV_OPAQUE
#undef KV_HAS_BLEND
