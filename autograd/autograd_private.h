/*
 * autograd_private.h -- what the autograd sources share and users never see: the node, the op entry,
 * the tape, and the functions each file offers the others, in sections by the file that
 * defines them, lowest layer first (docs/design.md lists who calls whom).
 */
#ifndef BACKPROP_AUTOGRAD_PRIVATE_H
#define BACKPROP_AUTOGRAD_PRIVATE_H

#include "autograd.h"

#include <stdint.h>

/* One entry of the op table: a name, the forward that fills node->out from the inputs, and the
 * vector-Jacobian product that adds J^T * out.grad into the inputs' gradients. The vjp of an
 * input whose grad is NULL is skipped (that input does not require a gradient). */
typedef struct ag_op {
    const char *name;
    void (*forward)(ag_node *n);
    void (*vjp)(ag_node *n);
} ag_op;

/* One recorded op. The output tensor lives inside the node. */
struct ag_node {
    const ag_op *op;
    ag_node *prev;      /* the node recorded before this one (NULL for the first) */
    int index;          /* position on the tape, 0-based */
    int nin;            /* number of inputs */
    bool vjp_stores;    /* the vjp stores into a gradient nobody has written yet (ag_grad_fresh)
                           instead of adding; false: the sweep zeroes such gradients first */
    ag_tensor **in;     /* inputs: points at in2 unless there are more than 2 (concat) */
    ag_tensor *in2[2];
    union {             /* the op's own argument, by op: */
        float constant; /*   scale, add_const, pow: the constant c */
        int axis;       /*   sum_axis, mean_axis, max_axis, concat: the axis, 0-based */
        int offset;     /*   reshape, slice_rows (views): where the output starts in the input */
        struct {
            bool transpose_a, transpose_b; /* matmul: which operand is used transposed */
        } matmul;
        ag_act act;     /*   linear: the activation */
    } arg;
    void *aux;          /* what the backward needs besides inputs and output (arena memory) */
    ag_tensor out;
    float scalar[2];    /* a one-element output's value and gradient live here, in the node */
};

/* The tape: the node list and its arena. */
typedef struct ag_chunk ag_chunk;
struct ag_tape {
    char *bump, *end;       /* the free part of the current chunk: allocation bumps `bump` */
    ag_chunk *first, *cur;  /* arena chunks; cur is the one being filled */
    size_t reserved;        /* bytes held by all chunks */
    float *scratch;         /* kernels' working memory (packed gemm panels), kept across steps */
    size_t scratch_bytes;
    ag_node *last;          /* most recent node */
    int nnodes;
    int sweeps;             /* backward sweeps since the last reset */
    bool unwritten;         /* this sweep handed out a gradient marked AG_GRAD_UNWRITTEN */
    unsigned generation;    /* resets so far: stamped on every tape tensor (stale ones differ) */
    size_t limit;           /* ag_tape_set_limit: most bytes the arena may hold, 0 = no limit */
    bool failed;
    bool check_finite;      /* ag_tape_check_finite: ag_run checks every output */
    bool no_grad;           /* ag_tape_set_grad(t, false): forward only, no gradient flags */
    ag_status status;       /* what kind of failure (AG_OK while not failed) */
    char error[256];
    ag_tensor poison;       /* returned by every op once the tape has failed */
    float poison_value;
    FILE *trace;            /* where ag_backward narrates the sweep (ag_tape_set_trace), or NULL */
};

/* ---- failing (autograd/error.c) ------------------------------------------------------------ */
/* The one idiom for an op that fails: where it finds the fault,
 *     return ag_fail(t, AG_ERR_SHAPE, "op: %s and %s ...", ...);
 * and after a check that has already recorded one (ag_check_inputs, ag_record, a helper that
 * returns false or NULL), return ag_poison(t). Nothing else fails a tape. */

/* Record the first error on t with its status (printf-style) and return the poisoned tensor;
 * a tape that has already failed keeps its first error. NULL for a NULL tape. */
ag_tensor *ag_fail(ag_tape *t, ag_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The value returned by an op that failed: the tape's poisoned tensor, or NULL with no tape. */
static inline ag_tensor *ag_poison(ag_tape *t) { return t ? &t->poison : NULL; }

/* A NULL tape handed to `who`: "who: tape is NULL" in ag_last_error. The only place that says it. */
void ag_no_tape(const char *who);

/* Shape formatting for messages: writes "(2,3)" into a small buffer. */
typedef struct { char s[64]; } ag_shape_buf;
ag_shape_buf ag_fmt_shape(const ag_tensor *x);

/* Check the common preconditions of an op: t is not NULL (else NULL is returned by the caller),
 * t has not failed, each input is non-NULL, not poisoned, not from another tape and not from an
 * earlier generation of this one (stale: made before its last reset). Records the error and
 * returns false when one fails. (Inline: every op calls it; the _report half, in error.c, runs
 * only when something is wrong, to say what.) */
bool ag_check_inputs_report(ag_tape *t, const char *op, int nin, ag_tensor *const *in);
static inline bool ag_input_ok(const ag_tape *t, const ag_tensor *x) {
    return x && !(x->flags & AG_POISONED) &&
           (!x->tape || (x->tape == t && x->generation == t->generation));
}
static inline bool ag_check_inputs(ag_tape *t, const char *op, int nin, ag_tensor *const *in) {
    if (t && !t->failed) {
        int i = 0;
        while (i < nin && ag_input_ok(t, in[i])) i++;
        if (i == nin) return true;
    }
    return ag_check_inputs_report(t, op, nin, in);
}

/* The most elements a tensor may have on this machine: AG_MAX_NUMEL, or fewer where size_t has
 * 32 bits (wasm32, i386), so that a tensor's bytes, and twice them, never overflow size_t. */
#define AG_NUMEL_HERE                                                                          \
    ((long long)(SIZE_MAX / (2 * sizeof(float))) < AG_MAX_NUMEL                                \
         ? (long long)(SIZE_MAX / (2 * sizeof(float)))                                         \
         : (long long)AG_MAX_NUMEL)

/* Validate a shape (ndim in 1..4, dims >= 1, element count <= AG_NUMEL_HERE) and return its
 * element count, or -1 after recording "op: ..." on t (or as last error when t is NULL).
 * (Inline for the same reason; the _report half says what is wrong.) */
long ag_check_shape_report(ag_tape *t, const char *op, int ndim, const int *shape);
static inline long ag_check_shape(ag_tape *t, const char *op, int ndim, const int *shape) {
    if (shape && ndim >= 1 && ndim <= AG_MAX_DIMS) {
        long long n = 1;
        int k = 0;
        while (k < ndim && shape[k] >= 1 && (n *= shape[k]) <= AG_NUMEL_HERE) k++;
        if (k == ndim) return (long)n;
    }
    return ag_check_shape_report(t, op, ndim, shape);
}

/* ---- the arena (autograd/memory.c) --------------------------------------------------------- */
/* Bump-allocate size bytes with the given alignment (a power of two <= 64) from the tape's
 * arena. NULL (and the tape's error set, naming op) when out of memory. The last of the 64
 * bytes after the block is written, so that the page a kernel's masked move past the end may
 * reach is mapped (see ag_alloc in memory.c; a chunk has 64 bytes of slack after its end). */
void *ag_arena_alloc_slow(ag_tape *t, size_t size, size_t align, const char *op);
static inline void *ag_arena_alloc(ag_tape *t, size_t size, size_t align, const char *op) {
    char *p = (char *)(((uintptr_t)t->bump + align - 1) & ~(uintptr_t)(align - 1));
    if (size > 0 && p <= t->end && (size_t)(t->end - p) >= size) {
        t->bump = p + size;
        ((volatile char *)p)[size + 63] = 0;
        return p;
    }
    return ag_arena_alloc_slow(t, size, align, op);
}
void ag_arena_rewind(ag_tape *t);
void ag_arena_free(ag_tape *t); /* the chunks and the scratch memory */

/* The tape's scratch memory, at least `bytes` long and 64-byte aligned, grown (and its old
 * contents dropped) when too small. NULL (and the tape's error set, naming op) when out of
 * memory. Kernels borrow it for the length of one call; ops reserve it when they record. */
float *ag_tape_scratch(ag_tape *t, size_t bytes, const char *op);

/* ---- the finite check (autograd/finite.c) --------------------------------------------------- */
/* Return the node's output when it holds no NaN or Inf; otherwise fail the tape naming the op,
 * the element and the inputs, and return the poison. ag_run calls it when the tape asks. */
ag_tensor *ag_check_finite(ag_node *n);

/* ---- names for pictures and narration (autograd/dot.c) ------------------------------------- */
/* What a tensor is called in a DOT picture or a trace: its name, else v<node index> for op
 * results, else "param", "data" or "const" for leaves. Returns its name or buf. */
#define AG_LABEL_MAX 32
const char *ag_label(const ag_tensor *x, char buf[AG_LABEL_MAX]);

/* ---- the narrated sweep (autograd/trace.c) ------------------------------------------------- */
/* Run node n's vjp for the sweep from root and print, to t->trace, what it added to each
 * input's gradient and the chain-rule product that gave it. The sweep calls it in place of
 * n->op->vjp(n) when tracing is on. */
void ag_trace_vjp(ag_tape *t, const ag_tensor *root, ag_node *n);

/* ---- recording (autograd/tape.c) ----------------------------------------------------------- */

/* Append a node for op with the given inputs and an output of the given shape. When view is
 * non-NULL the output shares that memory instead of getting its own. Returns NULL (tape
 * failed) on error. The caller sets arg/aux, then calls ag_run. */
ag_node *ag_record(ag_tape *t, const ag_op *op, int nin, ag_tensor *const *in, int ndim,
                   const int *shape, float *view);

/* Run the node's forward and return its output (or the poison: see ag_check_finite). */
ag_tensor *ag_run(ag_node *n);

/* ---- gradients the sweep leaves unzeroed (autograd/tape.c) ---------------------------------
 * The sweep gives each intermediate tensor its gradient memory before any vjp runs, but does
 * not zero it: the tensor is marked AG_GRAD_UNWRITTEN instead (a private flag). Before a node's
 * vjp runs, the sweep zeroes its inputs' unwritten gradients, unless the op opted in when it
 * was recorded (n->vjp_stores = true, or ag_vjp_stores on its output): such a vjp asks
 * ag_grad_fresh for each input and, when true, STORES its whole gradient instead of adding.
 * The results are the same bits as adding into zeros (but for the sign of a zero), and the
 * big activations' gradients are written once instead of zeroed and then added to. */
#define AG_GRAD_UNWRITTEN 8u

/* For a vjp that opted in: true when x's gradient holds nothing yet, so the vjp must store all
 * of it (it then counts as written: a second call says false, and the vjp adds). */
static inline bool ag_grad_fresh(ag_tensor *x) {
    if (!(x->flags & AG_GRAD_UNWRITTEN)) return false;
    x->flags &= ~AG_GRAD_UNWRITTEN;
    return true;
}

/* Mark the node that made y as one whose vjp stores (above); y is returned. Does nothing for
 * the poisoned tensor or a leaf. */
ag_tensor *ag_vjp_stores(ag_tensor *y);

/* ---- the op table (autograd/ops_*.c) -------------------------------------------------------- */
/* Every op entry, for tests and tools that enumerate the table. */
extern const ag_op *const ag_op_table[];
extern const int ag_op_count;

/* ---- threads (autograd/threads.c) --------------------------------------------------------- */

/* ag_parallel (public, autograd.h) runs the kernels' tasks on the pool. */

/* ---- kernels (autograd/kernels.c; the per-instruction-set loops are in kernels.h) ---------- */

/* C (+)= op(A) @ op(B): op(A) is (M,K), op(B) is (K,N), C is (M,N), all row-major and contiguous.
 * A is stored (M,K), or (K,M) when ta; B is stored (K,N), or (N,K) when tb. accumulate = 0
 * overwrites C, 1 adds to it. scratch (scratch_floats floats, 64-byte aligned) holds the packed
 * panels; with less than ag_gemm_scratch asks for it uses fewer threads, or none. The result
 * is the same, bit for bit, whatever the scratch and the thread count. */
void ag_gemm(int M, int N, int K, const float *A, bool ta, const float *B, bool tb, float *C,
             bool accumulate, float *scratch, size_t scratch_floats);

/* ag_gemm with B not transposed and its rows ldb >= N floats apart, on the calling thread only
 * (for a task of ag_parallel that runs products of its own), its packing memory scratch
 * (ag_gemm_serial_scratch floats). The same bits as ag_gemm on the same values, and as each
 * column strip of a wider product with the same M and K. Returns false, doing nothing, when
 * ag_gemm would run the product unpacked (small shapes) or scratch is short. */
bool ag_gemm_serial(int M, int N, int K, const float *A, bool ta, const float *B, long ldb,
                    float *C, bool accumulate, float *scratch, size_t scratch_floats);
size_t ag_gemm_serial_scratch(int M, int N, int K); /* 0: ag_gemm_serial would refuse */

/* Whether ag_gemm packs the (M,N,K) product (B transposed when tb) rather than running it
 * unpacked: two packed products that sum the same terms in the same order (the same K) give
 * the same bits, whichever operand is A and which B. */
bool ag_gemm_packs(int M, int N, int K, bool tb);

/* Floats of scratch ag_gemm wants on up to `threads` threads for an (M,N,K) product and for
 * the products of its gradients, which take the same three sizes in other orders (0 for
 * products too small to pack). */
size_t ag_gemm_scratch(int M, int N, int K, int threads);

#endif /* BACKPROP_AUTOGRAD_PRIVATE_H */
