/*
 * ops_conv.c -- convolution and pooling over images (N,C,H,W) and sequences (N,C,L).
 *
 * Convolution goes through im2col: the receptive fields of S samples at a time (a chunk) are
 * copied into the columns of one (C*KH*KW, S*OH*OW) matrix, so the convolution of the chunk is
 * one product with the weights seen as (OC, C*KH*KW), done by the packed gemm (ag_gemm) that
 * matmul uses. The backward runs the same products the other way round and col2im adds the
 * column gradients back into the images. Chunks keep the column buffer under COLS_BUDGET floats
 * whatever the batch; a training batch of small images is one chunk, and its columns then
 * survive from the forward to the backward.
 *
 * Threads: im2col, col2im and the copies between the product's layout (OC, S*P) and the
 * output's (S, OC, P) are split across the samples of the chunk, each task owning whole
 * samples; the products are split by the gemm itself. Every sum over the batch (dW, db) runs
 * in an order fixed by the shapes alone, so the results are the same bits on any thread count.
 * The column and product buffers come from the tape's arena; the gemm's packing memory from
 * the tape's scratch, reserved when the op is recorded: a step asks the allocator for nothing.
 *
 * As in every ops file: the maths and shapes in a comment, the forward, the vector-Jacobian
 * product (vjp) that ADDS into the inputs' gradients, the table entry, the public function.
 */
#include "kernels.h"
#include "ops.h"

#include <math.h>
#include <string.h>

/* Floats the column buffer of a chunk may hold (16 MB): the chunk takes as many samples as fit,
 * at least one. */
#define COLS_BUDGET (1L << 22)

/* The geometry of one convolution or pooling node, kept in its aux. A 1-D op is the 2-D one
 * with H = KH = 1 (no padding, stride or dilation along that axis). */
typedef struct {
    int N, C, H, W;       /* input (N,C,H,W) */
    int OC, KH, KW;       /* weight (OC,C,KH,KW); pooling: OC = C */
    int OH, OW;           /* output (N,OC,OH,OW) */
    int sh, sw, ph, pw, dh, dw; /* stride, zero padding, dilation along H and W */
    int S;                /* conv: samples per chunk */
    float *cols;          /* conv: (C*KH*KW, S*OH*OW) floats of arena memory; pooling: unused */
    float *prod;          /* conv: (OC, S*OH*OW): the chunk's product, or its dy gathered */
    float *bias_plane;    /* conv with a bias: (OC, OH*OW), row o all b[o], added to each sample */
    float *dw_t;          /* conv: (C*KH*KW, OC), a chunk's dW transposed (see conv_vjp) */
    float *db_part;       /* conv with a bias: (N, OC), each sample's sum of dy per channel */
    int *argmax;          /* max_pool2d: (N,C,OH,OW) index into the input plane of each max */
    size_t fwd_floats;    /* conv: scratch one task's per-sample forward product packs into, */
    size_t dx_floats;     /*   and its dcols product (ag_gemm_serial_scratch; 0: not that way) */
    bool cols_hold_x;     /* conv: cols holds the columns of the last chunk's x (the forward) */
    bool dx_fresh;        /* set by the vjp: dx was unwritten (ag_grad_fresh), so each task
                             zeroes its own samples' or planes' part before adding into it */
} conv_geom;

/* The short loops of im2col, col2im and pooling are vectorised where GCC's -O2 would leave them
 * scalar (its cheapest cost model skips loops that need a remainder); clang does it at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#define VECTORISED __attribute__((optimize("tree-vectorize", "vect-cost-model=cheap")))
/* The same, for a loop of float comparisons and selects: GCC turns those into branches (data-
 * dependent, so mispredicted half the time) unless told that comparisons cannot trap. They do
 * not here (no floating-point exception is ever enabled), and the results are the same bits. */
#define VECTORISED_SELECTS                                                                      \
    __attribute__((optimize("tree-vectorize", "tree-loop-if-convert", "no-trapping-math",     \
                            "vect-cost-model=cheap")))
#else
#define VECTORISED
#define VECTORISED_SELECTS
#endif

/* Output length along one axis: floor((in + 2 pad - dil (k - 1) - 1) / stride) + 1, or 0 when
 * the (dilated) kernel is larger than the padded input. */
static int out_len(int in, int k, int stride, int pad, int dil) {
    long span = (long)dil * (k - 1) + 1, padded = (long)in + 2L * pad;
    return padded < span ? 0 : (int)((padded - span) / stride + 1);
}

/* =============================================================================================
 * im2col / col2im for one sample, its P = OH*OW columns at `cols` in a matrix of row stride ld
 * (the chunk's S*P: sample j of the chunk owns columns j*P .. j*P+P-1).
 *   im2col: x (C,H,W) -> cols (C*KH*KW, P)
 *     cols[(c*KH + kh)*KW + kw, oh*OW + ow] = x[c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]
 *     (0 where that falls in the padding)
 *   col2im: dcols (C*KH*KW, P) -> dx (C,H,W), adding each column entry back where it came from
 * =========================================================================================== */

/* The output rows oh0 .. oh1-1 whose input row oh*sh - ph + kh*dh lies inside the image. */
static void rows_inside(const conv_geom *g, int kh, int *oh0, int *oh1) {
    const int top = kh * g->dh - g->ph; /* input row of output row 0 */
    int lo = top >= 0 ? 0 : (-top + g->sh - 1) / g->sh;
    int hi = g->H - top <= 0 ? 0 : (g->H - top + g->sh - 1) / g->sh;
    if (hi > g->OH) hi = g->OH;
    if (lo > hi) lo = hi;
    *oh0 = lo;
    *oh1 = hi;
}

VECTORISED static void im2col(const conv_geom *g, const float *x, float *cols, long ld) {
    for (int c = 0; c < g->C; c++)
        for (int kh = 0; kh < g->KH; kh++)
            for (int kw = 0; kw < g->KW; kw++) {
                float *row = cols + ((long)(c * g->KH + kh) * g->KW + kw) * ld; /* (OH*OW) */
                const float *xc = x + (long)c * g->H * g->W;                   /* (H,W) */
                const int iw0 = kw * g->dw - g->pw;
                if (g->sw == 1 && iw0 >= 0 && iw0 + g->OW <= g->W) {
                    /* no padding along W: a block of rows (OW values, sh*W apart in x), one
                     * vector move or a few per row, and zeros for the rows in the padding */
                    int oh0, oh1;
                    rows_inside(g, kh, &oh0, &oh1);
                    memset(row, 0, (size_t)oh0 * g->OW * sizeof *row);
                    const long top = (long)(oh0 * g->sh - g->ph + kh * g->dh) * g->W + iw0;
                    if (oh1 > oh0)
                        ag_kernels()->copy_rows(oh1 - oh0, g->OW, xc + top, (long)g->sh * g->W,
                                                row + (long)oh0 * g->OW, g->OW, false);
                    memset(row + (long)oh1 * g->OW, 0, (size_t)(g->OH - oh1) * g->OW * sizeof *row);
                    continue;
                }
                for (int oh = 0; oh < g->OH; oh++) {
                    float *r = row + (long)oh * g->OW; /* (OW) */
                    int ih = oh * g->sh - g->ph + kh * g->dh;
                    if (ih < 0 || ih >= g->H) {
                        memset(r, 0, (size_t)g->OW * sizeof *r);
                        continue;
                    }
                    const float *xr = xc + (long)ih * g->W; /* (W) */
                    const int iw0 = kw * g->dw - g->pw;
                    if (g->sw == 1 && iw0 >= 0 && iw0 + g->OW <= g->W) { /* no padding: a copy */
                        const float *src = xr + iw0; /* rows are short: a loop, not a call */
                        for (int ow = 0; ow < g->OW; ow++) r[ow] = src[ow];
                        continue;
                    }
                    int iw = iw0;
                    for (int ow = 0; ow < g->OW; ow++, iw += g->sw)
                        r[ow] = iw >= 0 && iw < g->W ? xr[iw] : 0.0f;
                }
            }
}

/* col2im runs the channels innermost: two kernel columns kw and kw+1 add into overlapping
 * spans of the same rows of dx, and with C*OH rows in between (not OH) the first one's stores
 * have left the store buffer when the second reads them. Each element of dx still receives its
 * terms in the order of (kh, kw), the same bits whatever the loop order over c and oh. */
VECTORISED static void col2im(const conv_geom *g, const float *dcols, long ld, float *dx) {
    const int span = (g->KW - 1) * g->dw + g->OW; /* a kernel row's reach along W */
    if (g->sw == 1 && g->pw == 0 && span <= g->W) {
        /* Stride 1 and no padding along W: each row of dx a kernel row kh reaches gets that
         * row's KW taps in one call (taps_acc), which loads and stores each of its vectors once
         * and adds the taps in order, kw = 0, 1, ...: no store is read back soon after. */
        for (int kh = 0; kh < g->KH; kh++) {
            int oh0, oh1;
            rows_inside(g, kh, &oh0, &oh1);
            for (int oh = oh0; oh < oh1; oh++)
                for (int c = 0; c < g->C; c++) {
                    const float *taps = dcols + (long)(c * g->KH + kh) * g->KW * ld + (long)oh * g->OW;
                    float *dxr = dx + ((long)c * g->H + oh * g->sh - g->ph + kh * g->dh) * g->W;
                    ag_kernels()->taps_acc(span, g->KW, g->dw, g->OW, taps, ld, dxr);
                }
        }
        return;
    }
    for (int kh = 0; kh < g->KH; kh++)
        for (int kw = 0; kw < g->KW; kw++)
            for (int c = 0; c < g->C; c++) {
                const float *row = dcols + ((long)(c * g->KH + kh) * g->KW + kw) * ld; /* (OH*OW) */
                float *dxc = dx + (long)c * g->H * g->W;                              /* (H,W) */
                const int iw0 = kw * g->dw - g->pw;
                if (g->sw == 1 && iw0 >= 0 && iw0 + g->OW <= g->W) { /* as im2col, adding */
                    int oh0, oh1;
                    rows_inside(g, kh, &oh0, &oh1);
                    /* The even rows, then the odd ones: a row's vector load must not reach into
                     * the span of the vector just stored into the row before it (W < 16 floats
                     * apart), which the CPU would wait for (each element's sum is unchanged). */
                    const long top = (long)(oh0 * g->sh - g->ph + kh * g->dh) * g->W + iw0;
                    const long step = (long)g->sh * g->W;
                    const int rows = oh1 - oh0, two = step < 16 ? 2 : 1;
                    for (int first = 0; first < two && first < rows; first++)
                        ag_kernels()->copy_rows((rows - first + two - 1) / two, g->OW,
                                                row + (long)(oh0 + first) * g->OW, two * g->OW,
                                                dxc + top + first * step, two * step, true);
                    continue;
                }
                for (int oh = 0; oh < g->OH; oh++) {
                    int ih = oh * g->sh - g->ph + kh * g->dh;
                    if (ih < 0 || ih >= g->H) continue;
                    const float *r = row + (long)oh * g->OW; /* (OW) */
                    float *dxr = dxc + (long)ih * g->W;      /* (W) */
                    const int iw0 = kw * g->dw - g->pw;
                    if (g->sw == 1 && iw0 >= 0 && iw0 + g->OW <= g->W) {
                        float *d = dxr + iw0;
                        for (int ow = 0; ow < g->OW; ow++) d[ow] += r[ow];
                        continue;
                    }
                    int iw = iw0;
                    for (int ow = 0; ow < g->OW; ow++, iw += g->sw)
                        if (iw >= 0 && iw < g->W) dxr[iw] += r[ow];
                }
            }
}

/* C (+)= op(A) op(B) with the tape's scratch memory for the packed panels (as matmul). */
static void gemm(const ag_node *n, int M, int N, int K, const float *A, bool ta, const float *B,
                 bool tb, float *C, bool accumulate) {
    const ag_tape *t = n->out.tape;
    ag_gemm(M, N, K, A, ta, B, tb, C, accumulate, t->scratch, t->scratch_bytes / sizeof(float));
}

/* =============================================================================================
 * conv2d: x (N,C,H,W), w (OC,C,KH,KW), b (OC) or none -> y (N,OC,OH,OW)
 *   y[n,o,oh,ow] = b[o] + sum_{c,kh,kw} w[o,c,kh,kw] x[n,c, oh*s - p + kh*d, ow*s - p + kw*d]
 * Per sample, with Wm = w seen as (OC, K), K = C*KH*KW, P = OH*OW, cols = im2col(x[n]) (K,P):
 *   y[n] (OC,P) = Wm (OC,K) @ cols (K,P)  (+ b[o] on row o)
 *   dWm (OC,K) += dy[n] (OC,P) @ cols^T (P,K)   (done as dWm^T = cols dy^T when K > OC)
 *   dcols (K,P) = Wm^T (K,OC) @ dy[n] (OC,P);  dx[n] += col2im(dcols)
 *   db[o] += sum_{n,p} dy[n,o,p]
 * conv1d is the same op on x (N,C,L) as (N,C,1,L) and w (OC,C,K) as (OC,C,1,K).
 * =========================================================================================== */

/* db_s (OC) = the sums over p of dy_s (OC,P), each row in a fixed order (8 running sums, so the
 * loop vectorises, then the tail). */
static void bias_sums(const conv_geom *g, const float *dy_s, float *db_s) {
    const int P = g->OH * g->OW;
    for (int o = 0; o < g->OC; o++) {
        const float *dy = dy_s + (long)o * P; /* (P) */
        float part[8] = {0};
        int p = 0;
        for (; p + 8 <= P; p += 8)
            for (int k = 0; k < 8; k++) part[k] += dy[p + k];
        float acc = ((part[0] + part[1]) + (part[2] + part[3])) +
                    ((part[4] + part[5]) + (part[6] + part[7]));
        for (; p < P; p++) acc += dy[p];
        db_s[o] = acc;
    }
}

/* The per-sample work of one chunk, split across the pool: task k does samples
 * s0 + k*per .. (fewer in the last task). */
typedef enum { IM2COL, SCATTER, GATHER, COL2IM, FORWARD, DX } chunk_job;
typedef struct {
    const ag_node *n;
    const conv_geom *g;
    chunk_job job;
    int s0, count, per;
    float *scratch; /* FORWARD, DX: task k packs its products in scratch + k * per_task */
    size_t per_task;
} chunk_work;

static void chunk_task(void *ctx, int task) {
    const chunk_work *cw = ctx;
    const conv_geom *g = cw->g;
    const ag_node *n = cw->n;
    const long P = (long)g->OH * g->OW, ld = (long)cw->count * P;
    const long xplane = (long)g->C * g->H * g->W, yplane = (long)g->OC * P;
    const int K = g->C * g->KH * g->KW;
    const int first = task * cw->per;
    const int last = first + cw->per < cw->count ? first + cw->per : cw->count;
    const bool b = n->nin > 2;
    for (int j = first; j < last; j++) {
        const long s = cw->s0 + j;
        switch (cw->job) {
        case IM2COL: /* x[s] (C,H,W) -> columns j*P.. of cols (K, S*P) */
            im2col(g, n->in[0]->data + s * xplane, g->cols + j * P, ld);
            break;
        case SCATTER: /* prod (OC, S*P) columns j*P.. -> y[s] (OC,P), plus the bias plane */
            ag_kernels()->copy_rows(g->OC, P, g->prod + j * P, ld, n->out.data + s * yplane, P,
                                    false);
            if (b) ag_kernels()->acc(yplane, g->bias_plane, n->out.data + s * yplane);
            break;
        case GATHER: /* dy[s] (OC,P) -> prod (OC, S*P) columns j*P.., and db's sums (in cache) */
            ag_kernels()->copy_rows(g->OC, P, n->out.grad + s * yplane, P, g->prod + j * P, ld,
                                    false);
            if (b && n->in[2]->grad) bias_sums(g, n->out.grad + s * yplane, g->db_part + s * g->OC);
            break;
        case COL2IM: /* columns j*P.. of dcols (K, S*P) -> dx[s] (C,H,W) */
            if (g->dx_fresh) memset(n->in[0]->grad + s * xplane, 0, (size_t)xplane * sizeof(float));
            col2im(g, g->cols + j * P, ld, n->in[0]->grad + s * xplane);
            break;
        case FORWARD: { /* IM2COL, then y[s] (OC,P) = Wm (OC,K) @ columns j*P.. (K,P) + b */
            float *y = n->out.data + s * yplane;
            im2col(g, n->in[0]->data + s * xplane, g->cols + j * P, ld);
            ag_gemm_serial(g->OC, (int)P, K, n->in[1]->data, false, g->cols + j * P, ld, y, false,
                           cw->scratch + task * cw->per_task, cw->per_task);
            if (b) ag_kernels()->acc(yplane, g->bias_plane, y);
            break;
        }
        case DX: { /* dcols (K,P) = Wm^T (K,OC) @ dy[s] (OC,P), in the dead cols at j*K*P; col2im.
                    * Wm^T is in dw_t, transposed once for all the samples (not packed for each) */
            float *dcols = g->cols + j * K * P, *dx = n->in[0]->grad + s * xplane;
            ag_gemm_serial(K, (int)P, g->OC, g->dw_t, false, n->out.grad + s * yplane, P,
                           dcols, false, cw->scratch + task * cw->per_task, cw->per_task);
            if (g->dx_fresh) memset(dx, 0, (size_t)xplane * sizeof(float));
            col2im(g, dcols, P, dx);
            break;
        }
        }
    }
}

/* Run `job` over the samples s0 .. s0+count-1 on the pool. FORWARD and DX, which run a product
 * per sample, need per_task floats of scratch for each task: false (nothing done) when the
 * product is not one ag_gemm_serial runs (per_task 0) or the tape's scratch is short. */
static bool per_sample(const ag_node *n, chunk_job job, int s0, int count, size_t per_task) {
    const int threads = ag_get_threads(), tasks = threads < count ? threads : count;
    const ag_tape *t = n->out.tape;
    if ((job == FORWARD || job == DX) &&
        (!per_task || (size_t)tasks * per_task > t->scratch_bytes / sizeof(float)))
        return false;
    chunk_work cw = {n, n->aux, job, s0, count, (count + tasks - 1) / tasks, t->scratch, per_task};
    if (tasks <= 1) chunk_task(&cw, 0);
    else ag_parallel(tasks, chunk_task, &cw);
    return true;
}

static void conv_fwd(ag_node *n) {
    conv_geom *g = n->aux;
    const int K = g->C * g->KH * g->KW, P = g->OH * g->OW;
    if (n->nin > 2)
        for (int o = 0; o < g->OC; o++)
            for (int p = 0; p < P; p++) g->bias_plane[(long)o * P + p] = n->in[2]->data[o];
    for (int s0 = 0; s0 < g->N; s0 += g->S) {
        const int count = g->N - s0 < g->S ? g->N - s0 : g->S;
        /* Each sample's product straight into y[s] (the same bits as one product for the
         * chunk, whose columns these are), while its columns are in cache; else the chunk's. */
        if (per_sample(n, FORWARD, s0, count, g->fwd_floats)) continue;
        per_sample(n, IM2COL, s0, count, 0);
        gemm(n, g->OC, count * P, K, n->in[1]->data, false, g->cols, false, g->prod, false);
        per_sample(n, SCATTER, s0, count, 0); /* prod (OC, count*P) -> y[s0..] (OC,P) + b */
    }
    g->cols_hold_x = true;
}

/* db (OC) += the samples' sums, in the order of the samples. */
static void add_bias_sums(const conv_geom *g, ag_tensor *B) {
    if (!B || !B->grad) return;
    for (int s = 0; s < g->N; s++)
        for (int o = 0; o < g->OC; o++) B->grad[o] += g->db_part[(long)s * g->OC + o];
}

/* Recorded with vjp_stores: dx, unwritten, is zeroed a sample at a time just before col2im adds
 * into it (while that sample is in cache); dW and db, small, are zeroed at once. */
static void conv_vjp(ag_node *n) {
    conv_geom *g = n->aux;
    const int K = g->C * g->KH * g->KW, P = g->OH * g->OW;
    ag_tensor *X = n->in[0], *Wt = n->in[1], *B = n->nin > 2 ? n->in[2] : NULL;
    for (int i = 1; i < n->nin; i++)
        if (n->in[i]->grad && ag_grad_fresh(n->in[i]))
            memset(n->in[i]->grad, 0, (size_t)n->in[i]->numel * sizeof(float));
    g->dx_fresh = X->grad && ag_grad_fresh(X);
    /* db: each sample's sums (by the gather below, which reads dy anyway, or here), then added
     * in the order of the samples */
    if (B && B->grad && !Wt->grad)
        for (int s = 0; s < g->N; s++)
            bias_sums(g, n->out.grad + (long)s * g->OC * P, g->db_part + (long)s * g->OC);
    if (!X->grad && !Wt->grad) {
        add_bias_sums(g, B);
        return;
    }
    /* One chunk: cols still holds the forward's columns (the forward ran it last), unless an
     * earlier sweep over this recording wrote dcols over them. */
    const bool cols_kept = g->S >= g->N && g->cols_hold_x;
    for (int s0 = 0; s0 < g->N; s0 += g->S) {
        const int count = g->N - s0 < g->S ? g->N - s0 : g->S;
        const int cp = count * P;
        if (Wt->grad) {
            per_sample(n, GATHER, s0, count, 0); /* dy[s0..] -> prod (OC, count*P) */
            if (!cols_kept) per_sample(n, IM2COL, s0, count, 0);
            if (K > g->OC) { /* dW^T = cols dy^T: packs dy (OC rows), not the K rows of cols */
                gemm(n, K, g->OC, cp, g->cols, false, g->prod, true, g->dw_t, false);
                for (int o = 0; o < g->OC; o++)
                    for (int k = 0; k < K; k++) Wt->grad[(long)o * K + k] += g->dw_t[(long)k * g->OC + o];
            } else if (ag_gemm_packs(K, g->OC, cp, true) && ag_gemm_packs(g->OC, K, cp, true)) {
                /* dW^T += cols dy^T, on dW^T copied out and back: the same sums as dW += dy
                 * cols^T, but N = OC fills the micro-tile's columns where K (9 for a 3x3 kernel
                 * on one channel) would leave most of them padding */
                float *dw = Wt->grad, *dw_t = g->dw_t; /* (OC,K), (K,OC) */
                for (int o = 0; o < g->OC; o++)
                    for (int k = 0; k < K; k++) dw_t[(long)k * g->OC + o] = dw[(long)o * K + k];
                gemm(n, K, g->OC, cp, g->cols, false, g->prod, true, dw_t, true);
                for (int o = 0; o < g->OC; o++)
                    for (int k = 0; k < K; k++) dw[(long)o * K + k] = dw_t[(long)k * g->OC + o];
            } else {
                gemm(n, g->OC, K, cp, g->prod, false, g->cols, true, Wt->grad, true); /* dW += dy cols^T */
            }
        }
        /* dx a sample at a time, from dy[s] itself, its dcols in cache (the same bits) */
        if (X->grad && g->dx_floats)
            for (int o = 0; o < g->OC; o++) /* Wm (OC,K) -> dw_t (K,OC), free again by now */
                for (int k = 0; k < K; k++) g->dw_t[(long)k * g->OC + o] = Wt->data[(long)o * K + k];
        if (X->grad && !per_sample(n, DX, s0, count, g->dx_floats)) {
            if (!Wt->grad) per_sample(n, GATHER, s0, count, 0);
            gemm(n, K, cp, g->OC, Wt->data, true, g->prod, false, g->cols, false); /* dcols = W^T dy */
            per_sample(n, COL2IM, s0, count, 0);
        }
        if (X->grad) g->cols_hold_x = false; /* dcols were written over them */
    }
    add_bias_sums(g, B);
}
const ag_op ag_op_conv2d = {"conv2d", conv_fwd, conv_vjp};
const ag_op ag_op_conv1d = {"conv1d", conv_fwd, conv_vjp};

/* Check the arguments shared by the convolutions and the poolings; false (error recorded). */
static bool check_steps(ag_tape *t, const char *op, const ag_tensor *x, int stride, int padding,
                        int dilation) {
    if (stride < 1) {
        ag_fail(t, AG_ERR_RANGE, "%s: input %s: stride %d must be >= 1", op, ag_fmt_shape(x).s, stride);
        return false;
    }
    if (padding < 0) {
        ag_fail(t, AG_ERR_RANGE, "%s: input %s: padding %d must be >= 0", op, ag_fmt_shape(x).s, padding);
        return false;
    }
    if (dilation < 1) {
        ag_fail(t, AG_ERR_RANGE, "%s: input %s: dilation %d must be >= 1", op, ag_fmt_shape(x).s,
                dilation);
        return false;
    }
    return true;
}

/* Record a convolution of geometry g (inputs and steps already checked except the output size)
 * and run it. dims is 2 (conv2d) or 1 (conv1d). */
static ag_tensor *conv_record(ag_tape *t, const ag_op *op, ag_tensor *const *in, int nin,
                              conv_geom g, int dims) {
    if (g.OH < 1 || g.OW < 1) {
        if (dims == 2)
            return ag_fail(t, AG_ERR_SHAPE,
                           "%s: kernel %dx%d (dilation %d) is larger than the padded input %dx%d "
                           "(%s with padding %d)",
                           op->name, g.KH, g.KW, g.dw, g.H + 2 * g.ph, g.W + 2 * g.pw,
                           ag_fmt_shape(in[0]).s, g.pw);
        return ag_fail(t, AG_ERR_SHAPE,
                       "%s: kernel %d (dilation %d) is larger than the padded input %d (%s with "
                       "padding %d)",
                       op->name, g.KW, g.dw, g.W + 2 * g.pw, ag_fmt_shape(in[0]).s, g.pw);
    }
    const long K = (long)g.C * g.KH * g.KW, P = (long)g.OH * g.OW;
    int shape4[4] = {g.N, g.OC, g.OH, g.OW}, shape3[3] = {g.N, g.OC, g.OW};
    const int *shape = dims == 2 ? shape4 : shape3;
    if (ag_check_shape(t, op->name, dims + 2, shape) < 0) return ag_poison(t);
    if (K * P > AG_MAX_NUMEL)
        return ag_fail(t, AG_ERR_SIZE, "%s: its column buffer (%ld,%ld) for input %s is too large",
                       op->name, K, P, ag_fmt_shape(in[0]).s);
    /* Samples per chunk: as many as keep the columns within COLS_BUDGET (and every buffer
     * within AG_MAX_NUMEL), at least one. */
    const long most = (K > g.OC ? K : g.OC) * P;
    long S = COLS_BUDGET / (K * P);
    if (S * most > AG_MAX_NUMEL) S = AG_MAX_NUMEL / most;
    g.S = S < 1 ? 1 : S > g.N ? g.N : (int)S;
    /* The gemm's packing memory for the forward and both backward products (the same three
     * sizes in other orders), reserved now so that the sweep never asks for memory. */
    size_t need = ag_gemm_scratch(g.OC, (int)(g.S * P), (int)K, ag_get_threads());
    /* and for the per-sample products, one task's share per thread */
    g.fwd_floats = ag_gemm_serial_scratch(g.OC, (int)P, (int)K);
    g.dx_floats = ag_gemm_serial_scratch((int)K, (int)P, g.OC);
    const size_t per = g.fwd_floats > g.dx_floats ? g.fwd_floats : g.dx_floats;
    if ((size_t)ag_get_threads() * per > need) need = (size_t)ag_get_threads() * per;
    if (need && !ag_tape_scratch(t, need * sizeof(float), op->name)) return ag_poison(t);
    ag_node *n = ag_record(t, op, nin, in, dims + 2, shape, NULL);
    if (!n) return ag_poison(t);
    n->vjp_stores = true;
    conv_geom *gp = ag_arena_alloc(t, sizeof *gp, _Alignof(conv_geom), op->name);
    if (!gp) return ag_poison(t);
    *gp = g;
    gp->cols = ag_arena_alloc(t, (size_t)(K * P * g.S) * sizeof(float), 64, op->name);
    gp->prod = gp->cols ? ag_arena_alloc(t, (size_t)(g.OC * P * g.S) * sizeof(float), 64, op->name)
                        : NULL;
    if (!gp->prod) return ag_poison(t);
    gp->dw_t = ag_arena_alloc(t, (size_t)(K * g.OC) * sizeof(float), 64, op->name);
    if (!gp->dw_t) return ag_poison(t);
    if (nin > 2) {
        gp->bias_plane = ag_arena_alloc(t, (size_t)(g.OC * P) * sizeof(float), 64, op->name);
        gp->db_part = ag_arena_alloc(t, (size_t)g.N * g.OC * sizeof(float), 64, op->name);
        if (!gp->bias_plane || !gp->db_part) return ag_poison(t);
    }
    n->aux = gp;
    return ag_run(n);
}

/* The inputs as a list of 2 (no bias) or 3; false (error recorded) when one is bad. */
static int conv_inputs(ag_tape *t, const char *op, ag_tensor *x, ag_tensor *w, ag_tensor *bias,
                       ag_tensor **in) {
    in[0] = x;
    in[1] = w;
    in[2] = bias;
    int nin = bias ? 3 : 2;
    return ag_check_inputs(t, op, nin, in) ? nin : 0;
}

/* Check w (OC,C,...) and bias (OC) against x (N,C,...); false (error recorded). */
static bool check_conv_shapes(ag_tape *t, const char *op, const ag_tensor *x, const ag_tensor *w,
                              const ag_tensor *bias, int ndim, const char *xdims,
                              const char *wdims) {
    if (x->ndim != ndim) {
        ag_fail(t, AG_ERR_SHAPE, "%s: input %s must be %d-D %s", op, ag_fmt_shape(x).s, ndim, xdims);
        return false;
    }
    if (w->ndim != ndim) {
        ag_fail(t, AG_ERR_SHAPE, "%s: weight %s must be %d-D %s", op, ag_fmt_shape(w).s, ndim, wdims);
        return false;
    }
    if (w->shape[1] != x->shape[1]) {
        ag_fail(t, AG_ERR_SHAPE, "%s: input %s has %d channels but weight %s takes %d", op,
                ag_fmt_shape(x).s, x->shape[1], ag_fmt_shape(w).s, w->shape[1]);
        return false;
    }
    if (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0])) {
        ag_fail(t, AG_ERR_SHAPE, "%s: bias %s must be (%d), one per output channel of weight %s",
                op, ag_fmt_shape(bias).s, w->shape[0], ag_fmt_shape(w).s);
        return false;
    }
    return true;
}

ag_tensor *ag_conv2d(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *bias, int stride,
                     int padding, int dilation) {
    ag_tensor *in[3];
    int nin = conv_inputs(t, "conv2d", x, w, bias, in);
    if (!nin) return ag_poison(t);
    if (!check_conv_shapes(t, "conv2d", x, w, bias, 4, "(N,C,H,W)", "(OC,C,KH,KW)") ||
        !check_steps(t, "conv2d", x, stride, padding, dilation))
        return ag_poison(t);
    conv_geom g = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2],
                   w->shape[3], 0, 0, stride, stride, padding, padding, dilation, dilation,
                   0, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, false, false};
    g.OH = out_len(g.H, g.KH, stride, padding, dilation);
    g.OW = out_len(g.W, g.KW, stride, padding, dilation);
    return conv_record(t, &ag_op_conv2d, in, nin, g, 2);
}

ag_tensor *ag_conv1d(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *bias, int stride,
                     int padding, int dilation) {
    ag_tensor *in[3];
    int nin = conv_inputs(t, "conv1d", x, w, bias, in);
    if (!nin) return ag_poison(t);
    if (!check_conv_shapes(t, "conv1d", x, w, bias, 3, "(N,C,L)", "(OC,C,K)") ||
        !check_steps(t, "conv1d", x, stride, padding, dilation))
        return ag_poison(t);
    conv_geom g = {x->shape[0], x->shape[1], 1, x->shape[2], w->shape[0], 1, w->shape[2],
                   1, 0, 1, stride, 0, padding, 1, dilation, 0, NULL, NULL, NULL, NULL, NULL, NULL,
                   0, 0, false, false};
    g.OW = out_len(g.W, g.KW, stride, padding, dilation);
    return conv_record(t, &ag_op_conv1d, in, nin, g, 1);
}

/* =============================================================================================
 * Pooling: x (N,C,H,W) -> y (N,C,OH,OW), a KxK window moved by the stride over the input with
 * `padding` on every side; OH = floor((H + 2 padding - K) / stride) + 1.
 * max_pool2d: y = the largest input in the window (padding never wins: it counts as -inf);
 *   argmax keeps where it is (the first one in row-major order on ties);  dx[argmax] += dy
 * avg_pool2d: y = (sum of the inputs in the window) / (K*K), the padding counting as zeros
 *   (PyTorch's count_include_pad=True);  dx[i] += dy / (K*K) for each input i in the window
 * =========================================================================================== */

/* The window of output (oh,ow) clipped to the input: rows h0..h1-1, columns w0..w1-1. */
static void window(const conv_geom *g, int oh, int ow, int *h0, int *h1, int *w0, int *w1) {
    int hs = oh * g->sh - g->ph, ws = ow * g->sw - g->pw;
    *h0 = hs < 0 ? 0 : hs;
    *h1 = hs + g->KH > g->H ? g->H : hs + g->KH;
    *w0 = ws < 0 ? 0 : ws;
    *w1 = ws + g->KW > g->W ? g->W : ws + g->KW;
}

/* The planes nc0 .. nc1-1 of a pooling node, one task of the pool's split (see per_plane). */
typedef void (*plane_fn)(const ag_node *n, long nc0, long nc1);
typedef struct {
    const ag_node *n;
    plane_fn fn;
    long planes, per;
} plane_work;

static void plane_task(void *ctx, int task) {
    const plane_work *pw = ctx;
    const long lo = task * pw->per, hi = lo + pw->per < pw->planes ? lo + pw->per : pw->planes;
    if (lo < hi) pw->fn(pw->n, lo, hi);
}

/* Run fn over the N*C planes of a pooling node, split across the pool: each task owns whole
 * planes of the output (and of dx), so the results do not depend on the thread count. */
static void per_plane(const ag_node *n, plane_fn fn) {
    const conv_geom *g = n->aux;
    const long planes = (long)g->N * g->C;
    const int threads = ag_get_threads();
    const int tasks = planes < threads ? (int)planes : threads;
    plane_work pw = {n, fn, planes, (planes + tasks - 1) / tasks};
    if (tasks <= 1) plane_task(&pw, 0);
    else ag_parallel(tasks, plane_task, &pw);
}

/* One output row of a 2x2, stride-2 max pool without padding: r0 and r1 the window's two input
 * rows (2*OW values each; top is r0's offset in its plane, W the plane's width), y (OW) the
 * maxima, am (OW) where each came from in the plane. The first largest of a, b, c, d wins (a
 * NaN never does, unless it is a), as in the general loop below; selects, not branches. */
VECTORISED_SELECTS static void pool2x2_row(const float *restrict r0, const float *restrict r1,
                                           float *restrict y, int *restrict am, int OW, int top,
                                           int W) {
    for (int ow = 0; ow < OW; ow++) {
        const float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
        float m = a;
        int off = 0; /* b: 1, c: W, d: W + 1 */
        const int gb = b > m;
        m = gb ? b : m;
        off = gb ? 1 : off;
        const int gc = c > m;
        m = gc ? c : m;
        off = gc ? W : off;
        const int gd = d > m;
        m = gd ? d : m;
        off = gd ? W + 1 : off;
        y[ow] = m;
        am[ow] = top + 2 * ow + off;
    }
}

VECTORISED static void max_pool_planes(const ag_node *n, long nc0, long nc1) {
    const conv_geom *g = n->aux;
    const long plane = (long)g->H * g->W, oplane = (long)g->OH * g->OW;
    const bool inside = g->ph == 0 && g->pw == 0; /* no padding: every window lies inside */
    const bool two = inside && g->KH == 2 && g->KW == 2 && g->sh == 2 && g->sw == 2;
    for (long nc = nc0; nc < nc1; nc++) {
        const float *x = n->in[0]->data + nc * plane; /* (H,W) */
        float *y = n->out.data + nc * oplane;         /* (OH,OW) */
        int *am = g->argmax + nc * oplane;            /* (OH,OW) */
        if (two) { /* the common 2x2 window, stride 2: the same first-largest rule, unrolled */
            for (int oh = 0; oh < g->OH; oh++) {
                const int top = 2 * oh * g->W;
                pool2x2_row(x + top, x + top + g->W, y + oh * g->OW, am + oh * g->OW, g->OW, top,
                            g->W);
            }
            continue;
        }
        for (int oh = 0; oh < g->OH; oh++)
            for (int ow = 0; ow < g->OW; ow++) {
                int best;
                if (inside) {
                    const int h0 = oh * g->sh, w0 = ow * g->sw;
                    best = h0 * g->W + w0;
                    float m = x[best];
                    for (int h = h0; h < h0 + g->KH; h++)
                        for (int w = w0; w < w0 + g->KW; w++)
                            if (x[h * g->W + w] > m) m = x[best = h * g->W + w];
                } else {
                    int h0, h1, w0, w1;
                    window(g, oh, ow, &h0, &h1, &w0, &w1);
                    best = h0 * g->W + w0; /* never empty: padding <= K/2 */
                    for (int h = h0; h < h1; h++)
                        for (int w = w0; w < w1; w++)
                            if (x[h * g->W + w] > x[best]) best = h * g->W + w;
                }
                y[oh * g->OW + ow] = x[best];
                am[oh * g->OW + ow] = best;
            }
    }
}
static void max_pool_fwd(ag_node *n) { per_plane(n, max_pool_planes); }

/* The backward of pool2x2_row into an unwritten dx: the window's two rows d0 and d1 (2*OW
 * values each) get dy where the maximum was and 0 elsewhere, stored (windows do not overlap). */
VECTORISED_SELECTS static void pool2x2_vjp_row(const float *restrict dy, const int *restrict am,
                                               float *restrict d0, float *restrict d1, int OW,
                                               int top, int W) {
    for (int ow = 0; ow < OW; ow++) {
        const int off = am[ow] - top - 2 * ow; /* 0, 1, W or W + 1 */
        const float d = dy[ow];
        d0[2 * ow] = off == 0 ? d : 0.0f;
        d0[2 * ow + 1] = off == 1 ? d : 0.0f;
        d1[2 * ow] = off == W ? d : 0.0f;
        d1[2 * ow + 1] = off == W + 1 ? d : 0.0f;
    }
}

/* The pooling nodes are recorded with vjp_stores: an unwritten dx is stored window by window
 * for the common 2x2 pool (and zeroed where no window reaches), else zeroed a plane at a time
 * just before the plane's gradients are added into it (while it is in cache). */
static void max_pool_vjp_planes(const ag_node *n, long nc0, long nc1) {
    const conv_geom *g = n->aux;
    float *dx = n->in[0]->grad;
    const long plane = (long)g->H * g->W, oplane = (long)g->OH * g->OW;
    const bool two = g->ph == 0 && g->pw == 0 && g->KH == 2 && g->KW == 2 && g->sh == 2 &&
                     g->sw == 2;
    if (g->dx_fresh && two) {
        for (long nc = nc0; nc < nc1; nc++) {
            float *d = dx + nc * plane; /* (H,W) */
            const float *dy = n->out.grad + nc * oplane;
            const int *am = g->argmax + nc * oplane;
            for (int oh = 0; oh < g->OH; oh++) {
                const int top = 2 * oh * g->W;
                pool2x2_vjp_row(dy + oh * g->OW, am + oh * g->OW, d + top, d + top + g->W, g->OW,
                                top, g->W);
                for (int r = 0; r < 2; r++) /* a last odd column, in no window */
                    for (int w = 2 * g->OW; w < g->W; w++) d[top + r * g->W + w] = 0.0f;
            }
            memset(d + 2L * g->OH * g->W, 0, (size_t)(g->H - 2 * g->OH) * g->W * sizeof(float));
        }
        return;
    }
    if (g->dx_fresh) memset(dx + nc0 * plane, 0, (size_t)((nc1 - nc0) * plane) * sizeof(float));
    for (long nc = nc0; nc < nc1; nc++) /* (OH,OW) -> (H,W) */
        for (long o = 0; o < oplane; o++)
            dx[nc * plane + g->argmax[nc * oplane + o]] += n->out.grad[nc * oplane + o];
}
static void max_pool_vjp(ag_node *n) {
    if (!n->in[0]->grad) return;
    ((conv_geom *)n->aux)->dx_fresh = ag_grad_fresh(n->in[0]);
    per_plane(n, max_pool_vjp_planes);
}
const ag_op ag_op_max_pool2d = {"max_pool2d", max_pool_fwd, max_pool_vjp};

static void avg_pool_fwd(ag_node *n) {
    const conv_geom *g = n->aux;
    const long plane = (long)g->H * g->W, oplane = (long)g->OH * g->OW;
    const float inv = 1.0f / (float)(g->KH * g->KW);
    for (long nc = 0; nc < (long)g->N * g->C; nc++) {
        const float *x = n->in[0]->data + nc * plane; /* (H,W) */
        float *y = n->out.data + nc * oplane;         /* (OH,OW) */
        for (int oh = 0; oh < g->OH; oh++)
            for (int ow = 0; ow < g->OW; ow++) {
                int h0, h1, w0, w1;
                window(g, oh, ow, &h0, &h1, &w0, &w1);
                float s = 0.0f;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) s += x[h * g->W + w];
                y[oh * g->OW + ow] = s * inv;
            }
    }
}
static void avg_pool_vjp(ag_node *n) {
    float *dx = n->in[0]->grad;
    if (!dx) return;
    if (ag_grad_fresh(n->in[0])) memset(dx, 0, (size_t)n->in[0]->numel * sizeof(float));
    const conv_geom *g = n->aux;
    const long plane = (long)g->H * g->W, oplane = (long)g->OH * g->OW;
    const float inv = 1.0f / (float)(g->KH * g->KW);
    for (long nc = 0; nc < (long)g->N * g->C; nc++) { /* (OH,OW) -> (H,W) */
        float *dxp = dx + nc * plane;
        for (int oh = 0; oh < g->OH; oh++)
            for (int ow = 0; ow < g->OW; ow++) {
                int h0, h1, w0, w1;
                window(g, oh, ow, &h0, &h1, &w0, &w1);
                const float d = n->out.grad[nc * oplane + oh * g->OW + ow] * inv;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) dxp[h * g->W + w] += d;
            }
    }
}
const ag_op ag_op_avg_pool2d = {"avg_pool2d", avg_pool_fwd, avg_pool_vjp};

static ag_tensor *pool(ag_tape *t, const ag_op *op, ag_tensor *x, int kernel, int stride,
                       int padding) {
    if (!ag_check_inputs(t, op->name, 1, &x)) return ag_poison(t);
    if (x->ndim != 4)
        return ag_fail(t, AG_ERR_SHAPE, "%s: input %s must be 4-D (N,C,H,W)", op->name,
                       ag_fmt_shape(x).s);
    if (kernel < 1)
        return ag_fail(t, AG_ERR_RANGE, "%s: input %s: kernel %d must be >= 1", op->name,
                       ag_fmt_shape(x).s, kernel);
    if (!check_steps(t, op->name, x, stride, padding, 1)) return ag_poison(t);
    if (padding > kernel / 2)
        return ag_fail(t, AG_ERR_RANGE, "%s: input %s: padding %d must be at most half the kernel %d",
                       op->name, ag_fmt_shape(x).s, padding, kernel);
    conv_geom g = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], x->shape[1], kernel, kernel,
                   0, 0, stride, stride, padding, padding, 1, 1, 0, NULL, NULL, NULL, NULL, NULL,
                   NULL, 0, 0, false, false};
    g.OH = out_len(g.H, kernel, stride, padding, 1);
    g.OW = out_len(g.W, kernel, stride, padding, 1);
    if (g.OH < 1 || g.OW < 1)
        return ag_fail(t, AG_ERR_SHAPE,
                       "%s: kernel %dx%d is larger than the padded input %dx%d (%s with padding %d)",
                       op->name, kernel, kernel, g.H + 2 * padding, g.W + 2 * padding,
                       ag_fmt_shape(x).s, padding);
    int shape[4] = {g.N, g.C, g.OH, g.OW};
    ag_node *n = ag_record(t, op, 1, &x, 4, shape, NULL);
    if (!n) return ag_poison(t);
    n->vjp_stores = true;
    conv_geom *gp = ag_arena_alloc(t, sizeof *gp, _Alignof(conv_geom), op->name);
    if (!gp) return ag_poison(t);
    *gp = g;
    if (op == &ag_op_max_pool2d) {
        gp->argmax = ag_arena_alloc(t, (size_t)n->out.numel * sizeof(int), _Alignof(int), op->name);
        if (!gp->argmax) return ag_poison(t);
    }
    n->aux = gp;
    return ag_run(n);
}

ag_tensor *ag_max_pool2d(ag_tape *t, ag_tensor *x, int kernel, int stride, int padding) {
    return pool(t, &ag_op_max_pool2d, x, kernel, stride, padding);
}
ag_tensor *ag_avg_pool2d(ag_tape *t, ag_tensor *x, int kernel, int stride, int padding) {
    return pool(t, &ag_op_avg_pool2d, x, kernel, stride, padding);
}
