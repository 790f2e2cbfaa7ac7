/*
 * kernels_simd_small.h -- the matrix product for shapes too small to pack (gemm_small), part of
 * the kernels_simd.h template: included by it, once per instruction set, with its macros
 * (KV_NAME, VL, LOAD, ...) defined (no include guard on purpose). Split off to keep each file
 * short enough to read.
 */

/* ---- gemm: small shapes, no packing --------------------------------------------------------- */

/* One block of D (+)= P @ Q: R rows of D (R a constant after inlining; the first `rows` of them
 * real, the others repeating row 0: computed, never stored) by V vectors of columns (V = 1, 2 or 3,
 * a constant; the last vector w lanes, `full` meaning w == VL, a constant too). P[r,k] =
 * p[r*pr + k*pk] is broadcast (pr is 1 when `unit`, a constant: the rows' offsets are then
 * constants, so 12 of them need no registers), Q's row k (V vectors) is at q + k*ldq. D[r,l] is
 * d[r*ldd + l], or d[l*ldd + r] when `tr` (a constant: D is C^T, stored as C, its lanes
 * copied one by one). R x V accumulators (at most 12) stay in registers while the K rank-1
 * updates go in, k in order: each element is D's old value (or 0) plus its products over k, one
 * multiply-add at a time. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(rv_block)(int R, int V, bool full, long w, bool unit, bool tr, int rows, int K,
                  const float *p, long pr, long pk, const float *q, long ldq, float *d, long ldd,
                  bool accumulate) {
#define QLD(ptr, v) ((v) < V - 1 || full ? LOAD(ptr) : LOADN(ptr, w))
#define LANES(v) ((v) < V - 1 || full ? VL : w)
    vf acc[12][3];
    long off[12];
    if (unit) pr = 1;
#ifdef KV_GATHER
    vi gidx_; /* lane l of a column of D when tr: C's row l */
    for (int l = 0; l < VL; l++) gidx_[l] = (int)(l * ldd);
    const vi *gidx = &gidx_;
#endif
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) off[r] = r < rows ? r * pr : 0;
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) acc[r][v] = KV_SPLAT(0.0f);
    if (accumulate)
#pragma GCC unroll 12
        for (int r = 0; r < R; r++)
            if (r < rows)
#pragma GCC unroll 3
                for (int v = 0; v < V; v++) {
                    if (!tr) {
                        acc[r][v] = QLD(d + r * ldd + v * VL, v);
                        continue;
                    }
#ifdef KV_GATHER
                    if (LANES(v) == VL) {
                        acc[r][v] = (vf)KV_GATHER(d + v * VL * ldd + r, *gidx);
                        continue;
                    }
#endif
                    float t[VL] = {0};
#pragma GCC unroll 16
                    for (long l = 0; l < VL; l++)
                        if (l < LANES(v)) t[l] = d[(v * VL + l) * ldd + r];
                    acc[r][v] = LOAD(t);
                }
    for (int k = 0; k < K; k++) {
        vf b[3];
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) b[v] = QLD(q + k * ldq + v * VL, v);
        const float *pk_ = p + k * pk;
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            const vf a = KV_SPLAT(pk_[off[r]]);
#pragma GCC unroll 3
            for (int v = 0; v < V; v++) acc[r][v] = KV_FMA(a, b[v], acc[r][v]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
        if (r < rows)
#pragma GCC unroll 3
            for (int v = 0; v < V; v++) {
                if (tr) {
                    float t[VL];
                    STORE(t, acc[r][v]);
#pragma GCC unroll 16
                    for (long l = 0; l < VL; l++)
                        if (l < LANES(v)) d[(v * VL + l) * ldd + r] = t[l];
                } else if (v < V - 1 || full) {
                    STORE(d + r * ldd + v * VL, acc[r][v]);
                } else {
                    STOREN(d + r * ldd + v * VL, acc[r][v], w);
                }
            }
#undef QLD
#undef LANES
}

/* The rows of D for one strip of V vectors of columns (V, full, unit, tr constants): 12 / V rows
 * at a time (8 for one vector unless `unit`: fewer row offsets to keep in registers), the last
 * few by a block of fewer rows. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(rv_strip)(int V, bool full, long w, bool unit, bool tr, int Rt, int K, const float *p,
                  long pr, long pk, const float *q, long ldq, float *d, long ldd, bool accumulate) {
    const int R = V == 1 && !unit ? 8 : 12 / V;
    const long dr = tr ? 1 : ldd; /* D's next row */
    int i = 0;
    for (; i + R <= Rt; i += R)
        KV_NAME(rv_block)(R, V, full, w, unit, tr, R, K, p + i * pr, pr, pk, q, ldq, d + i * dr, ldd, accumulate);
    const int rows = Rt - i;
    if (rows == 0) return;
    p += i * pr, d += i * dr;
    if (rows <= R / 4) KV_NAME(rv_block)(R / 4, V, full, w, unit, tr, rows, K, p, pr, pk, q, ldq, d, ldd, accumulate);
    else if (rows <= R / 2) KV_NAME(rv_block)(R / 2, V, full, w, unit, tr, rows, K, p, pr, pk, q, ldq, d, ldd, accumulate);
    else KV_NAME(rv_block)(R, V, full, w, unit, tr, rows, K, p, pr, pk, q, ldq, d, ldd, accumulate);
}

/* Vectors in the next strip of columns when `left` vectors are left: three, or two of four. */
static inline int KV_NAME(rv_width)(int left) { return left >= 5 || left == 3 ? 3 : left >= 2 ? 2 : 1; }

/* Rows of the last block of a strip when `rows` (0 < rows < R) are left: R/4, R/2 or R. */
static inline int KV_NAME(rv_tail)(int R, int rows) { return rows <= R / 4 ? R / 4 : rows <= R / 2 ? R / 2 : R; }

/* D (Rt, L) (+)= P (Rt, K) @ Q (K, L; row stride ldq), P[r,k] = p[r*pr + k*pk], D as rv_block
 * (C^T when tr): strips of one to three vectors of columns (the last one ragged), each by
 * rv_strip. */
KV_TARGET static void KV_NAME(rv_gemm)(bool tr, int Rt, int L, int K, const float *p, long pr,
                                       long pk, const float *q, long ldq, float *d, long ldd,
                                       bool accumulate) {
    const long dl = tr ? ldd : 1; /* D's next column */
    for (int j = 0; j < L;) {
        const int V = KV_NAME(rv_width)((L - j + VL - 1) / VL);
        const long w = L - j - (V - 1) * VL;
        float *dj = d + j * dl;
#define RV_STRIP(Vc, U, T)                                                                      \
    if (w >= VL) KV_NAME(rv_strip)(Vc, true, VL, U, T, Rt, K, p, pr, pk, q + j, ldq, dj, ldd, accumulate); \
    else KV_NAME(rv_strip)(Vc, false, w, U, T, Rt, K, p, pr, pk, q + j, ldq, dj, ldd, accumulate);
#define RV_STRIPS(U, T)                                                                         \
    if (V == 1) { RV_STRIP(1, U, T) }                                                           \
    else if (V == 2) { RV_STRIP(2, U, T) }                                                      \
    else { RV_STRIP(3, U, T) }
        if (tr) { RV_STRIPS(false, true) }
        else if (pr == 1) { RV_STRIPS(true, false) }
        else { RV_STRIPS(false, false) }
#undef RV_STRIPS
#undef RV_STRIP
        j += V * VL;
    }
}

/* Instructions rv_gemm takes, roughly, for D (Rt, L) with K steps: per step of k and block, its
 * broadcasts, loads of Q, multiply-adds and loop; per block, D's loads and stores. */
static inline long KV_NAME(rv_cost)(bool unit, int Rt, int L, int K, bool accumulate) {
    long cost = 0;
    for (int j = 0; j < L;) {
        const int V = KV_NAME(rv_width)((L - j + VL - 1) / VL), R = V == 1 && !unit ? 8 : 12 / V;
        const int blocks = Rt / R, Rl = Rt % R ? KV_NAME(rv_tail)(R, Rt % R) : 0;
        cost += (long)K * (blocks * (R + V + R * V + 4) + (Rl ? Rl + V + Rl * V + 4 : 0));
        cost += (long)(blocks * R + Rl) * V * (accumulate ? 2 : 1) + 12 * (blocks + (Rl > 0));
        j += V * VL;
    }
    return cost;
}

/* Columns j .. j+w-1 (w <= VL; `full`, w == VL, and R, 1 or 2, are constants after inlining) of
 * C (R rows, row stride N) (+)= a (R, K) @ B (K, .), B's rows ldb apart, op(a)[r,k] being
 * a[r*sr + k*sk]: one vector of each row of C, its K multiply-adds in order. When `gathered`
 * (a constant; full strips only), B is given as its transpose, rows K apart: element (k, l) is
 * B[k + l*K], a gather with the offsets gidx. */
#ifdef KV_GATHER
#define FEW_ROWS_B(k) (gathered ? (vf)KV_GATHER(B + (k), *gidx) : LD(B + (k) * ldb))
#else
#define FEW_ROWS_B(k) LD(B + (k) * ldb)
#endif
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(few_rows_strip)(int R, bool full, long w, int N, int K, const float *a, long sr, long sk,
                        const float *B, long ldb, float *C, bool accumulate, bool gathered,
                        const vi *gidx) {
    (void)gathered, (void)gidx;
#define LD(p) (full ? LOAD(p) : LOADN(p, w))
#define STEP(k)                                                                                 \
    do {                                                                                        \
        const vf b_ = FEW_ROWS_B(k);                                                            \
        c0 = KV_FMA(KV_SPLAT(a[(k) * sk]), b_, c0);                                             \
        if (R > 1) c1 = KV_FMA(KV_SPLAT(a[sr + (k) * sk]), b_, c1);                             \
    } while (0)
    vf c0 = KV_SPLAT(0.0f), c1 = c0;
    if (accumulate) {
        c0 = LD(C);
        if (R > 1) c1 = LD(C + N);
    }
    int k = 0;
    for (; k + 4 <= K; k += 4) { /* four steps at a time: fewer instructions on the loop */
        STEP(k);
        STEP(k + 1);
        STEP(k + 2);
        STEP(k + 3);
    }
    for (; k < K; k++) STEP(k);
    if (full) {
        STORE(C, c0);
        if (R > 1) STORE(C + N, c1);
    } else {
        STOREN(C, c0, w);
        if (R > 1) STOREN(C + N, c1, w);
    }
#undef STEP
#undef LD
}
/* C (R rows, N columns) (+)= op(a) (R, K) @ B (K, N), a strip of VL columns at a time. Made for
 * the transposes of one- and two-column products (gemm_small), whose rows are long and whose
 * k loops may be as short as one step. */
KV_TARGET static inline __attribute__((always_inline)) void
KV_NAME(few_rows_with)(int R, int N, int K, const float *a, long sr, long sk, const float *B,
                       long ldb, float *C, bool accumulate) {
    long j = 0;
    for (; j + VL <= N; j += VL)
        KV_NAME(few_rows_strip)(R, true, VL, N, K, a, sr, sk, B + j, ldb, C + j, accumulate, false, NULL);
    if (j < N)
        KV_NAME(few_rows_strip)(R, false, N - j, N, K, a, sr, sk, B + j, ldb, C + j, accumulate, false, NULL);
}
/* C (M = 1 or 2 rows, N) (+)= op(A) (M,K) @ B (K,N), B not transposed (row stride N). */
KV_TARGET static void KV_NAME(few_rows)(int M, int N, int K, const float *A, bool ta,
                                        const float *B, float *C, bool accumulate) {
    const long sr = ta ? 1 : K, sk = ta ? M : 1;
    if (M > 1) KV_NAME(few_rows_with)(2, N, K, A, sr, sk, B, N, C, accumulate);
    else KV_NAME(few_rows_with)(1, N, K, A, sr, sk, B, N, C, accumulate);
}
#ifdef KV_GATHER
/* The same with B given as its transpose Bt, row-major (N, K) (a layer's input X, when C^T is
 * (X W)^T): each vector of B's row k gathered from Bt's column k. N is a multiple of VL. */
KV_TARGET static void KV_NAME(few_rows_gathered)(int M, int N, int K, const float *A, bool ta,
                                                 const float *Bt, float *C, bool accumulate) {
    const long sr = ta ? 1 : K, sk = ta ? M : 1;
    vi idx;
    for (int l = 0; l < VL; l++) idx[l] = l * K;
    for (long j = 0; j < N; j += VL)
        if (M > 1)
            KV_NAME(few_rows_strip)(2, true, VL, N, K, A, sr, sk, Bt + j * K, 0, C + j, accumulate, true, &idx);
        else
            KV_NAME(few_rows_strip)(1, true, VL, N, K, A, sr, sk, Bt + j * K, 0, C + j, accumulate, true, &idx);
}
#endif
#undef FEW_ROWS_B

/* ZIP_LO(a, b) = a0 b0 a1 b1 ... over the first halves of a and b, ZIP_HI the same over the
 * second halves; UNZIP_EVEN(a, b) the even lanes of a then of b, UNZIP_ODD the odd ones (where
 * the compiler has __builtin_shufflevector). */
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#if KV_BYTES == 16
#define ZIP_LO(a, b) __builtin_shufflevector(a, b, 0, 4, 1, 5)
#define ZIP_HI(a, b) __builtin_shufflevector(a, b, 2, 6, 3, 7)
#define UNZIP_EVEN(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6)
#define UNZIP_ODD(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7)
#elif KV_BYTES == 32
#define ZIP_LO(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define ZIP_HI(a, b) __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
#define UNZIP_EVEN(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define UNZIP_ODD(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
#elif KV_BYTES == 64
#define ZIP_LO(a, b) __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define ZIP_HI(a, b) __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
#define UNZIP_EVEN(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
#define UNZIP_ODD(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
#endif
#endif
#endif

/* xt (cols, rows) = x (rows, cols) transposed, VL rows at a time: two columns by splitting two
 * vectors into their even and odd lanes, more by gathers (a column of VL rows is one strided
 * load) where the instruction set has them; the rest element by element. */
KV_TARGET static void KV_NAME(transpose)(int rows, int cols, const float *x, float *xt) {
    int i = 0;
#ifdef UNZIP_EVEN
    if (cols == 2) /* two columns: VL rows are two vectors, their even and odd lanes */
        for (; i + VL <= rows; i += VL) {
            const vf a = LOAD(x + 2 * i), b = LOAD(x + 2 * i + VL);
            STORE(xt + i, UNZIP_EVEN(a, b));
            STORE(xt + rows + i, UNZIP_ODD(a, b));
        }
#endif
#ifdef KV_GATHER
    vi idx;
    for (int l = 0; l < VL; l++) idx[l] = l * cols;
    for (; i + VL <= rows; i += VL)
        for (int j = 0; j < cols; j++) STORE(xt + (long)j * rows + i, KV_GATHER(x + (long)i * cols + j, idx));
#endif
    for (int j = 0; j < cols; j++)
        for (int r = i; r < rows; r++) xt[(long)j * rows + r] = x[(long)r * cols + j];
}

/* Whether C (M,N) is better computed as its transpose, C^T = op(B)^T @ op(A)^T (N,M), with C's
 * rows along the vectors' lanes: when C has one or two columns, they fill one or two lanes of
 * each vector, while its rows would fill them all. The price is copies: C^T back into C (not
 * for one column: C and C^T are the same memory then), C into C^T first when accumulating,
 * and op(A)^T unless A is stored transposed (its rows are op(A)'s columns then). Counted in
 * vector steps: a row of vectors costs its K multiply-adds plus its loads and stores (masked
 * ones, at the ragged edge of a narrow C, count three); a copied element half a step with
 * gathers and interleaving vectors (KV_GATHER, ZIP_LO), two without. */
KV_TARGET static inline bool KV_NAME(rows_in_lanes)(int M, int N, int K, bool ta, bool accumulate) {
    if (N > 2 || (long)M * N > AG_SMALL_BT || (!ta && (long)M * K > AG_SMALL_BT)) return false;
#ifdef KV_GATHER
    const long gather2 = 1; /* twice the cost of an element copied by a gather */
#else
    const long gather2 = 4;
#endif
#ifdef ZIP_LO
    const long zip2 = 1;
#else
    const long zip2 = 4;
#endif
    const long acc = accumulate ? 1 : 0;
    const long by_cols = 2 * (long)M * ((N + VL - 1) / VL) * (K + 3 * acc + 3);
    long by_rows = 2 * (long)N * ((M + VL - 1) / VL) * (K + acc + 1);
    if (!ta) by_rows += gather2 * (long)M * K;
    if (N == 2) by_rows += zip2 * (long)M * N + acc * gather2 * (long)M * N;
    return by_rows < by_cols;
}

/* C (+)= op(A) @ op(B) by rv_gemm, as it is or as its transpose (when A is stored transposed, so
 * that op(A)^T's rows are A's), whichever rv_cost finds cheaper. A transposed B is first copied
 * to the stack the right way round (or, when too big for that, each element is a dot product). */
KV_TARGET static void KV_NAME(small_rows)(int M, int N, int K, const float *A, bool ta,
                                          const float *B, bool tb, float *C, bool accumulate) {
    const long lda = ta ? M : K;
    const long pr = ta ? 1 : lda, pk = ta ? lda : 1; /* op(A)[i,k] = A[i*pr + k*pk] */
    /* C^T (N,M) = op(B)^T @ op(A)^T when A is stored transposed (op(A)^T's rows are A's rows)
     * and that costs less, counting C's copies to and from C^T */
    if (ta && KV_NAME(rv_cost)(false, N, M, K, accumulate) + 3L * M * N * (accumulate ? 2 : 1) <
                  KV_NAME(rv_cost)(true, M, N, K, accumulate) + (tb ? 3L * N * K : 0)) {
        /* op(B)^T[j,k] = B[j*K + k] when tb, else B[k*N + j] */
        KV_NAME(rv_gemm)(true, N, M, K, B, tb ? K : 1, tb ? 1 : N, A, M, C, N, accumulate);
        return;
    }
    long ldb = tb ? K : N;
    float bt[AG_SMALL_BT];
    if (tb && (long)N * K <= AG_SMALL_BT) {
        for (int j = 0; j < N; j++)
            for (int k = 0; k < K; k++) bt[(long)k * N + j] = B[(long)j * K + k];
        B = bt, ldb = N, tb = false;
    }
    if (tb) { /* C[i,j] (+)= sum_k op(A)[i,k] B[j,k] */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float s = accumulate ? C[(long)i * N + j] : 0.0f;
                for (int k = 0; k < K; k++)
                    s += (ta ? A[(long)k * lda + i] : A[(long)i * lda + k]) * B[(long)j * ldb + k];
                C[(long)i * N + j] = s;
            }
        return;
    }
    KV_NAME(rv_gemm)(false, M, N, K, A, pr, pk, B, ldb, C, N, accumulate);
}

/* C (+)= op(A) @ op(B), small shapes: as it is (small_rows), or as its transpose (rows_in_lanes,
 * few_rows). Either way each element of C is C's old value (or 0) plus the products over k in
 * order, one fused multiply-add at a time: the same bits whichever way it is computed. */
KV_TARGET static void KV_NAME(gemm_small)(int M, int N, int K, const float *A, bool ta,
                                          const float *B, bool tb, float *C, bool accumulate) {
    if (K == 1) ta = true, tb = false; /* (M,1) and (1,N) read the same either way round */
    if (!KV_NAME(rows_in_lanes)(M, N, K, ta, accumulate)) {
        KV_NAME(small_rows)(M, N, K, A, ta, B, tb, C, accumulate);
        return;
    }
    float at[AG_SMALL_BT], ct[AG_SMALL_BT];
    float *c = N == 1 ? C : ct;
    if (N > 1 && accumulate) KV_NAME(transpose)(M, N, C, ct);
    /* C^T (N,M) = op(B)^T (N,K) @ op(A)^T (K,M): B is op(B)^T stored transposed unless tb */
    bool done = false;
#ifdef KV_GATHER
    if (!ta && K > 2 && M % VL == 0) { /* op(A)^T's rows gathered from A as they are needed */
        KV_NAME(few_rows_gathered)(N, M, K, B, !tb, A, c, accumulate);
        done = true;
    }
#endif
    if (!done) {
        if (!ta) KV_NAME(transpose)(M, K, A, at), A = at; /* op(A)^T, stored (K,M) */
        KV_NAME(few_rows)(N, M, K, B, !tb, A, c, accumulate);
    }
    if (N == 2) { /* C's rows are the two rows of C^T side by side: interleave them */
        int i = 0;
#ifdef ZIP_LO
        for (; i + VL <= M; i += VL) {
            const vf a = LOAD(ct + i), b = LOAD(ct + M + i);
            STORE(C + 2 * i, ZIP_LO(a, b));
            STORE(C + 2 * i + VL, ZIP_HI(a, b));
        }
#endif
        for (; i < M; i++) C[2 * i] = ct[i], C[2 * i + 1] = ct[M + i];
    }
}
