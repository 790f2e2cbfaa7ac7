/*
 * autograd.h -- reverse-mode automatic differentiation on a tape (prefix ag_).
 *
 * This header is the manual for the autograd half of backprop. Read it top to bottom once:
 *
 *   ag_tape *t = ag_tape_new();
 *   ag_tensor *w = ag_scalar_param(0.5);                 // a parameter: you own it
 *   ag_tensor *y = ag_sigmoid(t, ag_mul(t, w, ag_scalar(t, 2.0)));
 *   ag_backward(t, y);                                   // the reverse sweep
 *   printf("dy/dw = %g\n", ag_grad_item(w));             // = y (1 - y) * 2
 *   ag_tape_free(t); ag_tensor_free(w);
 *
 * THE MODEL. Every op takes the tape as its first argument, computes its result at once
 * (define-by-run) and appends one node to the tape: the op, its inputs and its output.
 * ag_backward walks the tape from the last node to the first and calls each node's
 * vector-Jacobian product, which ADDS into its inputs' gradients. A tensor used twice therefore
 * receives the sum of both gradients.
 *
 * LIFETIMES. There are exactly two kinds of tensor:
 *   - user-owned tensors (ag_tensor_new, ag_scalar_param, ...): parameters and data. You free
 *     them with ag_tensor_free. They survive ag_tape_reset.
 *   - tape tensors: every op result, plus constants made with ag_tape_tensor / ag_scalar. They
 *     live in the tape's arena and are ALL invalid after ag_tape_reset or ag_tape_free. Never
 *     free them, never keep them across a reset.
 * Pointers you pass in (index arrays, label arrays, seed values) are copied; you keep ownership.
 * Two are kept instead: the name of a tape tensor (ag_tensor_set_name), which must outlive the
 * step, and the FILE of ag_tape_set_trace, which must stay open while it is set.
 *
 * ERRORS (sticky, per tape). No user error aborts the process. The first error on a tape (NULL
 * argument, mismatched shapes, bad axis or index, absurd size, out of memory, a tensor kept
 * from before the last reset) is recorded with the op's name and the shapes involved, e.g.
 * "matmul: (2,3) @ (4,5): inner dimensions differ", and a status code (ag_tape_status).
 * After that every op on the tape records nothing and returns the tape's poisoned tensor (one
 * element holding NaN), ag_backward changes no gradient, and ag_tape_error returns the message.
 * Check once per step. ag_tape_reset clears the error along with the tape.
 * Functions that have no tape (tensor creation) return NULL on failure and leave the reason in
 * ag_last_error(); passing that NULL to an op then fails the op's tape with a clear message.
 *
 * SHAPES. float32, contiguous, row-major, 1 to AG_MAX_DIMS dimensions, every dimension >= 1.
 * In 2-D the rows are the batch. Element counts above AG_MAX_NUMEL are refused.
 *
 * THREADS. A tape, and the tensors recorded on it, belong to one thread at a time. Different
 * threads may use different tapes and different parameters freely: the library keeps no hidden
 * mutable global state (the allocator hook and the thread count are set once, at start-up).
 * Large kernels (matrix products) may also split their work over a small pool of worker
 * threads: see ag_set_threads. Results are the same, bit for bit, whatever the thread count.
 *
 * SPEED. The kernels use the widest vector instructions the CPU has (AVX-512, AVX2+FMA, or
 * plain C with 16-byte vectors), chosen at run time; BACKPROP_ISA=generic|avx2|avx512 in the
 * environment asks for a narrower set. docs/performance.md has the figures.
 */
#ifndef BACKPROP_AUTOGRAD_H
#define BACKPROP_AUTOGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden symbols; what this header declares is its public face. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define AG_MAX_DIMS 4
#define AG_MAX_NUMEL 2147483647 /* at most 2^31 - 1 elements per tensor */

/* ---------------------------------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------------------------------- */

typedef struct ag_tape ag_tape; /* opaque: the Wengert list and its arena */
typedef struct ag_node ag_node; /* opaque: one recorded op */

/* Flags of a tensor (the `flags` field). */
#define AG_REQUIRES_GRAD 1u /* gradients flow into this tensor */
#define AG_POISONED 2u      /* the poisoned result of an op on a failed tape */
#define AG_USER_OWNED 4u    /* made by ag_tensor_new & co; free with ag_tensor_free */

/* A tensor. Read any field; write only the VALUES of user-owned tensors (data[i] = ...)
 * and, between steps, their gradients. Everything else is managed by the library. */
typedef struct ag_tensor {
    float *data;              /* numel values, row-major */
    float *grad;              /* numel gradients; NULL until a gradient is needed */
    int ndim;                 /* 1..AG_MAX_DIMS */
    int shape[AG_MAX_DIMS];   /* shape[0..ndim-1]; unused entries are 1 */
    int numel;                /* product of the shape */
    unsigned flags;           /* AG_REQUIRES_GRAD | AG_POISONED | AG_USER_OWNED */
    const char *name;         /* optional label (ag_tensor_set_name), or NULL */
    ag_node *node;            /* the op that produced it, NULL for leaves */
    ag_tape *tape;            /* the tape that owns it, NULL when user-owned */
    unsigned generation;      /* tape tensors: the tape's reset count when it was made */
} ag_tensor;

/* ---------------------------------------------------------------------------------------------
 * Memory
 * ------------------------------------------------------------------------------------------- */

/* Replace the allocator every byte of the library goes through. alloc(size, ctx) returns NULL
 * on failure; release(ptr, size, ctx) gets the size that was asked for. Pass NULLs to restore
 * malloc/free. Call it before creating any tape or tensor, and free everything made with one
 * allocator before switching to another. Not thread-safe: set it once at start-up. */
void ag_set_allocator(void *(*alloc)(size_t size, void *ctx),
                      void (*release)(void *ptr, size_t size, void *ctx), void *ctx);

/* Memory from the allocator above, 64-byte aligned, NULL on failure; free it with ag_free
 * (NULL is a no-op). For code built on the library that wants its memory counted with ours. */
void *ag_alloc(size_t size);
void ag_free(void *p);

/* The reason the last tape-less call on this thread failed (tensor creation), or "" if none;
 * a buffer of this thread's that the next failure on it overwrites. */
const char *ag_last_error(void);

/* Set that reason (printf-style); for code built on the library (the nn layer uses it). */
void ag_set_last_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* ---------------------------------------------------------------------------------------------
 * Threads
 * ------------------------------------------------------------------------------------------- */

/* Let large kernels use n threads: the calling thread plus n-1 workers that the library starts
 * now (POSIX threads) and keeps idle between kernels (after a kernel, a worker stays awake for a
 * millisecond or two, yielding its CPU to any thread that wants it, then sleeps until the next
 * one). n < 1 means one per online CPU; at most
 * 64. Results are identical bit for bit whatever n (every kernel splits its work in a fixed
 * way). Without a call, the first kernel reads the environment variable BACKPROP_THREADS (a
 * number; unset means 1: no worker threads). Call it at start-up or between steps, never while
 * another thread is running ops. ag_set_threads(1) stops and joins the workers: call it before
 * exit if you need every thread gone (e.g. under a leak checker). Returns 0, or -1 when fewer
 * threads could be started (ag_last_error says how many; those are used). A build with
 * AG_SINGLE_THREADED defined (WebAssembly under WASI) runs everything on the calling thread:
 * there n > 1 returns -1. */
int ag_set_threads(int n);

/* The number of threads kernels may use (the calling thread included): the last ag_set_threads,
 * else BACKPROP_THREADS, else 1. */
int ag_get_threads(void);

/* The vector instruction set the kernels run: "avx512", "avx2" or "generic" (plain C with
 * 16-byte vectors), the widest this CPU has unless BACKPROP_ISA names a narrower one. A static
 * string, never NULL. */
const char *ag_kernels_name(void);

/* A task of ag_parallel: do part `task` of the job described by ctx. */
typedef void (*ag_task_fn)(void *ctx, int task);

/* Run fn(ctx, 0) .. fn(ctx, ntasks-1) on the calling thread and the library's workers (at most
 * ag_get_threads() at a time) and return when all are done: for your own loops (a custom op, an
 * optimiser). Tasks must write disjoint memory; which thread runs a task is not fixed, so give
 * each task a fixed part of the work and the results are the same bits whatever the thread
 * count. Runs every task on the caller, in order, when there is one thread or one task, or when
 * called from inside a task. Returns 0, or -1 (nothing run) when fn is NULL or ntasks < 0. */
int ag_parallel(int ntasks, ag_task_fn fn, void *ctx);

/* ---------------------------------------------------------------------------------------------
 * The tape
 * ------------------------------------------------------------------------------------------- */

/* A new empty tape, or NULL when out of memory. Free it with ag_tape_free. */
ag_tape *ag_tape_new(void);

/* Free the tape, its arena and every tape tensor. NULL is a no-op. */
void ag_tape_free(ag_tape *t);

/* Forget every node and tape tensor in O(1) and clear the error; the arena is kept, so a step
 * that records the same graph again allocates nothing. User-owned tensors are untouched. Tape
 * tensors of earlier steps become stale: an op handed one fails the tape ("add: input 1 (2,3)
 * is stale: made before the tape's last reset", AG_ERR_STALE_TENSOR). That is caught as long
 * as the new step has not yet reused the stale tensor's memory for a tensor of its own. */
void ag_tape_reset(ag_tape *t);

/* The first error recorded on the tape, or NULL when all is well (also "no tape" for NULL).
 * The string is the tape's: copy it before the next ag_tape_reset or ag_tape_free. */
const char *ag_tape_error(const ag_tape *t);

/* What kind of error a tape holds, beside its message (ag_tape_status). */
typedef enum ag_status {
    AG_OK = 0,             /* no error */
    AG_ERR_NO_TAPE,        /* the tape itself is NULL */
    AG_ERR_NULL,           /* a NULL argument: an input, a shape, an index or label array, a seed */
    AG_ERR_POISONED_INPUT, /* an input is the poisoned result of a failed tape */
    AG_ERR_OTHER_TAPE,     /* an input belongs to another tape */
    AG_ERR_STALE_TENSOR,   /* an input is a tape tensor made before the tape's last reset */
    AG_ERR_SHAPE,          /* shapes or dimensions that do not fit the op */
    AG_ERR_RANGE,          /* an axis, row, index, label or count out of range */
    AG_ERR_SIZE,           /* an absurd size: more than AG_MAX_NUMEL elements */
    AG_ERR_NO_MEMORY,      /* the allocator refused */
    AG_ERR_NOT_FINITE,     /* NaN or Inf in an op's output (ag_tape_check_finite) */
    AG_ERR_TAPE_LIMIT,     /* the tape would grow past its limit (ag_tape_set_limit) */
    AG_ERR_USER,           /* recorded with ag_tape_fail by code built on the library */
    AG_ERR_NO_GRAD         /* ag_backward on a tape with gradients off (ag_tape_set_grad) */
} ag_status;

/* The status of the tape's first error: AG_OK while all is well, AG_ERR_NO_TAPE for NULL.
 * Set together with the message by every failure; cleared by ag_tape_reset. */
ag_status ag_tape_status(const ag_tape *t);

/* A short English name for a status ("shapes that do not fit"); a static string, never NULL
 * ("unknown status" for a value that is not an ag_status). */
const char *ag_status_str(ag_status status);

/* Record an error of your own (printf-style; status AG_ERR_USER) unless the tape already holds
 * one, and return the tape's poisoned tensor (NULL for a NULL tape). For layers and user code
 * built on the ops:
 *   return ag_tape_fail(t, "dense: input has %d columns, layer expects %d", c, n);          */
ag_tensor *ag_tape_fail(ag_tape *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The check a function built on the ops starts with, the one every op starts with: true when
 * t can record (not NULL, not failed) and each of in[0..nin-1] is usable on it (not NULL, not
 * poisoned, not of another tape, not stale). Otherwise false, with the reason recorded as an op
 * would ("op: input 2 is NULL"), or for a NULL tape left in ag_last_error ("op: tape is NULL").
 * Use it with ag_tape_poison, before anything is recorded:
 *   if (!ag_tape_ok(t, "dense", 1, &x)) return ag_tape_poison(t);                            */
bool ag_tape_ok(ag_tape *t, const char *op, int nin, ag_tensor *const *in);

/* The tape's poisoned tensor (owned by the tape), or NULL for a NULL tape: what a function
 * built on the ops returns when it cannot record. */
ag_tensor *ag_tape_poison(ag_tape *t);

/* Stop at the first op whose output holds NaN or Inf (off by default; when on, one extra pass
 * over each op's output). That op fails the tape, naming itself, the first bad element and each
 * input's shape and origin, e.g. "log: output (2,2) holds NaN at element 1; inputs: 1 (2,2)
 * from sub". The setting survives ag_tape_reset. Returns 0, or -1 for a NULL tape. */
int ag_tape_check_finite(ag_tape *t, bool on);

/* The no-gradient (inference) mode, PyTorch's torch.no_grad(). With on = false, every op
 * recorded from now on runs its forward only: its output never requires a gradient (even from
 * parameters), so no gradient memory is ever allocated for it, and ag_backward refuses
 * (AG_ERR_NO_GRAD). Values are the same, bit for bit, as with gradients on. Ops and nn forward
 * functions work as usual; ag_tape_set_grad(t, true) turns gradients back on for what is
 * recorded after (a scope: set false, run the forward, set true). The setting survives
 * ag_tape_reset; a new tape has gradients on. Returns 0, or -1 for a NULL tape. */
int ag_tape_set_grad(ag_tape *t, bool on);

/* Whether ops recorded now on t take gradients: true unless ag_tape_set_grad(t, false) (false
 * for NULL). */
bool ag_tape_grad_enabled(const ag_tape *t);

/* Number of nodes recorded since the last reset. */
int ag_tape_nodes(const ag_tape *t);

/* Bytes the tape's arena holds (in use or kept for reuse). */
size_t ag_tape_bytes(const ag_tape *t);

/* Let the tape's arena hold at most max_bytes (as ag_tape_bytes counts them; 0: no limit, the
 * default). The op that would need more fails the tape with AG_ERR_TAPE_LIMIT, naming itself
 * and the limit: a loop that forgets ag_tape_reset then stops with a clear error instead of
 * growing until memory runs out. Checked only when the arena needs a new chunk (no cost per
 * op). The setting survives ag_tape_reset. Returns 0, or -1 for a NULL tape. */
int ag_tape_set_limit(ag_tape *t, size_t max_bytes);

/* ---------------------------------------------------------------------------------------------
 * User-owned tensors: parameters and data. NULL on failure (see ag_last_error).
 * ------------------------------------------------------------------------------------------- */

/* A zero-filled tensor of the given shape. With requires_grad, a zeroed gradient is allocated
 * too. Free with ag_tensor_free. */
ag_tensor *ag_tensor_new(int ndim, const int *shape, bool requires_grad);

/* The same for the common 2-D case: (rows, cols). */
ag_tensor *ag_tensor_2d(int rows, int cols, bool requires_grad);

/* A tensor holding a copy of values[0..numel-1]. */
ag_tensor *ag_tensor_from(int ndim, const int *shape, const float *values, bool requires_grad);

/* A one-element parameter holding v, with a gradient: micrograd's Value. */
ag_tensor *ag_scalar_param(double v);

/* Free a user-owned tensor (and its gradient and name). NULL and tape tensors are ignored. */
void ag_tensor_free(ag_tensor *x);

/* Turn gradients on or off for a user-owned tensor (allocating or freeing its gradient).
 * Returns 0, or -1 when out of memory or x is not user-owned (see ag_last_error). */
int ag_set_requires_grad(ag_tensor *x, bool requires_grad);

/* Give a tensor a label for error messages and pictures; the string is copied (user-owned
 * tensors) or referenced (tape tensors: it must outlive the step). Returns 0 or -1. */
int ag_tensor_set_name(ag_tensor *x, const char *name);

/* ---------------------------------------------------------------------------------------------
 * Tape constants: data that lives until the next reset. Never require gradients.
 * ------------------------------------------------------------------------------------------- */

/* A constant on the tape, a copy of values (or zeros when values is NULL). */
ag_tensor *ag_tape_tensor(ag_tape *t, int ndim, const int *shape, const float *values);

/* A one-element constant on the tape. */
ag_tensor *ag_scalar(ag_tape *t, double v);

/* ---------------------------------------------------------------------------------------------
 * Detaching: a value without its path back (PyTorch's detach). What is computed from the result
 * sends no gradient into x or anything x came from: truncated back-propagation through time
 * (the carried state), targets computed from the model, stop-gradient tricks.
 * ------------------------------------------------------------------------------------------- */

/* A tape constant holding a copy of x's values (same shape), which never requires a gradient;
 * it lives until the next reset like any tape tensor. The poison when x is unusable. */
ag_tensor *ag_detach(ag_tape *t, ag_tensor *x);

/* The same into a user-owned tensor `keep` of x's shape, which survives ag_tape_reset: copy x's
 * values into keep->data and return keep (its gradient and flags are left alone). The carried
 * state of truncated BPTT: detach into keep, reset the tape, start the next chunk from keep.
 * A tape-tensor keep or a shape that differs fails the tape; keep is then unchanged. */
ag_tensor *ag_detach_into(ag_tape *t, ag_tensor *x, ag_tensor *keep);

/* ---------------------------------------------------------------------------------------------
 * Reading tensors
 * ------------------------------------------------------------------------------------------- */

/* The value of a one-element tensor; NaN for NULL, poisoned or larger tensors. */
double ag_item(const ag_tensor *x);

/* The gradient of a one-element tensor; 0 when it has none; NaN for NULL or larger tensors. */
double ag_grad_item(const ag_tensor *x);

/* Write the shape as "(2,3)" into buf (always terminated); returns buf. "(null)" for NULL. */
char *ag_shape_str(const ag_tensor *x, char *buf, size_t size);

/* The name of the op that produced x ("mul", "sigmoid", ...), or "leaf" for tensors no op
 * made (parameters, data, tape constants); "" for NULL. A static string
 * (for an op of your own, the name in its ag_custom_op). */
const char *ag_op_name(const ag_tensor *x);

/* Set a tensor's gradient to zero (if it has one). NULL is a no-op. */
void ag_zero_grad(ag_tensor *x);

/* ---------------------------------------------------------------------------------------------
 * The reverse sweep
 * ------------------------------------------------------------------------------------------- */

/* Back-propagate from a one-element loss: seed dloss/dloss = 1, then walk the tape from the
 * loss's node to the first node, each node adding its vector-Jacobian product into its inputs'
 * gradients. Parameters ACCUMULATE: call ag_zero_grad (or nn_zero_grad) between steps.
 * Returns 0, or -1 with the tape's error set (a failed tape changes no gradient). */
int ag_backward(ag_tape *t, ag_tensor *loss);

/* The same from any output, with seed[0..numel-1] as d(something)/d(out). */
int ag_backward_seed(ag_tape *t, ag_tensor *out, const float *seed);

/* The first `steps` nodes of ag_backward's sweep only (counting the nodes it reaches, from the
 * loss's), leaving every gradient as the whole sweep has it at that point: for stepping through
 * a sweep to teach it (web/playground.c). 0 only seeds; as many as the tape holds or more is
 * ag_backward. Record the step again before the next call. Returns 0, or -1 with the tape's
 * error set (a one-element loss and steps >= 0 are required). */
int ag_backward_steps(ag_tape *t, ag_tensor *loss, int steps);

/* ---------------------------------------------------------------------------------------------
 * Seeing the chain rule: the graph as a picture, the sweep as a story. Name tensors with
 * ag_tensor_set_name first: the names become the labels. Unnamed op results are called v0, v1,
 * ... after their node.
 * ------------------------------------------------------------------------------------------- */

/* Write every node recorded on t as a Graphviz DOT graph to f (render it with
 * `dot -Tpng g.dot -o g.png`): one box per node with its op, its output's shape and, for
 * tensors of at most 8 elements, its value and gradient (norms for bigger ones); edges from
 * inputs to outputs; parameters, data and tape constants drawn differently. Call it after
 * ag_backward and before the optimiser step (which zeroes the gradients). A failed tape is
 * drawn too, with its error. f stays open and yours. Returns 0, or -1 on a write error or no
 * memory (see ag_last_error). */
int ag_tape_write_dot(const ag_tape *t, FILE *f);

/* Narrate every later reverse sweep on t to f (NULL: stop; the default). As the sweep reaches
 * each node it prints, for each input that takes a gradient, what was added and the product
 * the chain rule formed:
 *   node 4 sigmoid: dE/dz += dE/dy * dy/dz = -0.3775 * 0.235 = -0.08872
 * with the elements of tensors of up to 8 elements ("[0.5, -1; 2, 0]", a row at a time) and the
 * shape and norm of bigger ones. The loss's own node says its local derivative
 * ("node 5 sse: dE/dy = y - d = 0.6225 - 1 = -0.3775"). E is the name of the tensor
 * back-propagated from (E when it has none). The setting survives
 * ag_tape_reset; f must stay open while it is set. Tracing allocates and is slow: turn it on
 * to look, not to train. Off, it costs one test per node of the sweep. */
void ag_tape_set_trace(ag_tape *t, FILE *f);

/* ---------------------------------------------------------------------------------------------
 * Ops. Each returns a new tape tensor, or the poisoned tensor on error. Shapes in comments:
 * B rows (the batch), N columns. "Broadcast" means numpy's rule: shapes are aligned on the
 * right and a dimension of 1 stretches, so a scalar or a row vector (N) / (1,N) combines with
 * a (B,N) matrix. Gradients of a broadcast operand are summed over the stretched dimensions.
 * ------------------------------------------------------------------------------------------- */

/* Elementwise arithmetic with broadcasting. */
ag_tensor *ag_add(ag_tape *t, ag_tensor *a, ag_tensor *b); /* a + b */
ag_tensor *ag_sub(ag_tape *t, ag_tensor *a, ag_tensor *b); /* a - b */
ag_tensor *ag_mul(ag_tape *t, ag_tensor *a, ag_tensor *b); /* a * b */
ag_tensor *ag_div(ag_tape *t, ag_tensor *a, ag_tensor *b); /* a / b */

/* Elementwise, any shape, output shape = input shape. */
ag_tensor *ag_neg(ag_tape *t, ag_tensor *a);               /* -a */
ag_tensor *ag_scale(ag_tape *t, ag_tensor *a, double c);   /* c * a */
ag_tensor *ag_add_const(ag_tape *t, ag_tensor *a, double c); /* a + c */
ag_tensor *ag_pow(ag_tape *t, ag_tensor *a, double p);     /* a^p, p a constant */
ag_tensor *ag_square(ag_tape *t, ag_tensor *a);            /* a^2 */
ag_tensor *ag_sqrt(ag_tape *t, ag_tensor *a);              /* sqrt(a) */
ag_tensor *ag_exp(ag_tape *t, ag_tensor *a);               /* e^a */
ag_tensor *ag_log(ag_tape *t, ag_tensor *a);               /* natural log */
ag_tensor *ag_abs(ag_tape *t, ag_tensor *a);               /* |a|, gradient 0 at 0 */

/* Activations, elementwise. */
ag_tensor *ag_sigmoid(ag_tape *t, ag_tensor *a);  /* 1 / (1 + e^-a): the paper's squashing */
ag_tensor *ag_tanh(ag_tape *t, ag_tensor *a);     /* tanh(a) */
ag_tensor *ag_relu(ag_tape *t, ag_tensor *a);     /* max(a, 0), gradient 0 at 0 */
ag_tensor *ag_softplus(ag_tape *t, ag_tensor *a); /* log(1 + e^a), computed stably */

/* Matrix product (M,K) @ (K,N) -> (M,N). */
ag_tensor *ag_matmul(ag_tape *t, ag_tensor *a, ag_tensor *b);

/* op(a) @ op(b) where op transposes when asked: a^T is used as (M,K) when a is (K,M), and b^T
 * as (K,N) when b is (N,K). No transpose is materialised. */
ag_tensor *ag_matmul_ex(ag_tape *t, ag_tensor *a, ag_tensor *b, bool transpose_a,
                        bool transpose_b);

/* The activation a dense layer applies (ag_linear). */
typedef enum { AG_ACT_IDENTITY, AG_ACT_SIGMOID, AG_ACT_TANH, AG_ACT_RELU } ag_act;

/* A dense layer as one node: act(x @ w + b), x (B,in) @ w (in,out) + b (out) or (1,out), or
 * NULL for none -> (B,out). The same values as ag_matmul, ag_add and the activation op in a
 * row, with fewer passes over memory and one node instead of three. */
ag_tensor *ag_linear(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_act act);

/* Reductions. The whole-tensor forms return one element, shape (1). The axis forms keep the
 * reduced axis with size 1, so the result broadcasts back: (B,N) along axis 1 -> (B,1), along
 * axis 0 -> (1,N). A negative axis counts from the end (-1 is the last). */
ag_tensor *ag_sum(ag_tape *t, ag_tensor *a);
ag_tensor *ag_mean(ag_tape *t, ag_tensor *a);
ag_tensor *ag_sum_axis(ag_tape *t, ag_tensor *a, int axis);
ag_tensor *ag_mean_axis(ag_tape *t, ag_tensor *a, int axis);
ag_tensor *ag_max_axis(ag_tape *t, ag_tensor *a, int axis); /* gradient goes to the first max */

/* Shape ops. */
/* Same values, new shape (same element count). One entry of shape may be -1: inferred.
 * A view: the result shares a's values, nothing is copied. */
ag_tensor *ag_reshape(ag_tape *t, ag_tensor *a, int ndim, const int *shape);
/* Swap the last two dimensions: (M,N) -> (N,M), (B,M,N) -> (B,N,M). Any order: ag_permute. */
ag_tensor *ag_transpose(ag_tape *t, ag_tensor *a);
/* Join n tensors along an existing axis, any one (negative counts from the end); all other
 * dimensions must agree: (2,3) and (2,4) along 1 -> (2,7). A new axis: ag_stack. */
ag_tensor *ag_concat(ag_tape *t, ag_tensor *const *parts, int n, int axis);
/* Rows start .. start+count-1 of a: (B,...) -> (count,...), a view (no copy). */
ag_tensor *ag_slice_rows(ag_tape *t, ag_tensor *a, int start, int count);
/* Rows idx[0..n-1] of table: (V,...) -> (n,...). An embedding or one-hot lookup; repeated
 * indices receive the sum of their gradients. idx is copied. */
ag_tensor *ag_gather_rows(ag_tape *t, ag_tensor *table, const int *idx, int n);

/* Along the last axis (each row of a (B,N) matrix), computed stably. */
ag_tensor *ag_softmax(ag_tape *t, ag_tensor *a);
ag_tensor *ag_log_softmax(ag_tape *t, ag_tensor *a);

/* Losses: one-element results. y and the target d must have the same shape; gradients flow
 * into both when they require them. */
ag_tensor *ag_sse(ag_tape *t, ag_tensor *y, ag_tensor *d); /* 1/2 sum (y - d)^2: the paper's E */
ag_tensor *ag_mse(ag_tape *t, ag_tensor *y, ag_tensor *d); /* mean (y - d)^2 */
/* Binary cross-entropy on probabilities p in [0,1]: -mean(d log p + (1-d) log(1-p)), each log
 * clamped at -100 so that p = 0 or 1 stays finite. */
ag_tensor *ag_bce(ag_tape *t, ag_tensor *p, ag_tensor *d);
/* The same on logits z, p = sigmoid(z), computed stably for any z. */
ag_tensor *ag_bce_logits(ag_tape *t, ag_tensor *z, ag_tensor *d);
/* Softmax cross-entropy: logits (B,C), labels[0..B-1] in [0,C); -mean_b log softmax(z_b)[label_b].
 * labels is copied. */
ag_tensor *ag_softmax_xent(ag_tape *t, ag_tensor *logits, const int *labels);

/* ---- More elementwise ops, reductions and losses (autograd/ops_math.c, ops_reduce.c) ---------
 * Semantics follow PyTorch's ops of the same name where nothing else is said. */

/* Elementwise of two tensors, with broadcasting (as ag_add). Named maximum/minimum, as in
 * PyTorch and numpy, because ag_max_axis is the reduction: ag_max would read as one. NaN if
 * either is NaN. Ties (a = b) split the gradient: half to each. */
ag_tensor *ag_maximum(ag_tape *t, ag_tensor *a, ag_tensor *b); /* max(a, b) */
ag_tensor *ag_minimum(ag_tape *t, ag_tensor *a, ag_tensor *b); /* min(a, b) */
/* a where mask > 0, b elsewhere; mask, a and b broadcast together (as ag_add). mask is meant
 * as 0/1 (any value > 0 counts as 1; 0, negatives and NaN as 0) and takes no gradient. */
ag_tensor *ag_where(ag_tape *t, ag_tensor *mask, ag_tensor *a, ag_tensor *b);

/* Elementwise, any shape, output shape = input shape. */
/* min(max(x, lo), hi) (hi everywhere when lo > hi); gradient 1 for lo <= x <= hi (bounds
 * included), else 0. A NaN bound fails. */
ag_tensor *ag_clamp(ag_tape *t, ag_tensor *x, double lo, double hi);
/* The same clipping as an activation, lo < hi required; gradient 1 for lo < x < hi only. */
ag_tensor *ag_hardtanh(ag_tape *t, ag_tensor *x, double lo, double hi);
ag_tensor *ag_sin(ag_tape *t, ag_tensor *x); /* sin x */
ag_tensor *ag_cos(ag_tape *t, ag_tensor *x); /* cos x */
/* x for x > 0, slope * x otherwise (gradient slope at 0; slope finite, e.g. 0.01). */
ag_tensor *ag_leaky_relu(ag_tape *t, ag_tensor *x, double slope);
/* x for x > 0, alpha (e^x - 1) otherwise (gradient alpha at 0; alpha finite, e.g. 1). */
ag_tensor *ag_elu(ag_tape *t, ag_tensor *x, double alpha);
ag_tensor *ag_silu(ag_tape *t, ag_tensor *x); /* x sigmoid(x) (swish) */
/* x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): the tanh form of GELU. */
ag_tensor *ag_gelu(ag_tape *t, ag_tensor *x);
ag_tensor *ag_sign(ag_tape *t, ag_tensor *x); /* -1, 0 or 1 (NaN stays NaN); gradient 0 */
ag_tensor *ag_step(ag_tape *t, ag_tensor *x); /* 1 for x > 0, else 0 (NaN stays NaN); gradient 0 */
ag_tensor *ag_reciprocal(ag_tape *t, ag_tensor *x); /* 1 / x */

/* Reductions along an axis, kept with size 1 as ag_max_axis does: (B,N) along axis 1 ->
 * (B,1). A negative axis counts from the end. */
ag_tensor *ag_min_axis(ag_tape *t, ag_tensor *a, int axis); /* gradient goes to the first min */
/* The index of the first largest element along axis, as a float holding an integer
 * (read it with (int)y->data[i]); axis length at most 2^24 (exact as floats). Recorded like an
 * op, with no gradient: what flows back through it is 0. */
ag_tensor *ag_argmax(ag_tape *t, ag_tensor *a, int axis);
/* log sum_d e^(a_d) along axis, computed stably: max + log1p(the rest); gradient softmax. */
ag_tensor *ag_logsumexp(ag_tape *t, ag_tensor *a, int axis);
/* Variance along axis: sum (a - mean)^2 / (D - 1) when unbiased (PyTorch's default; D >= 2
 * required), / D otherwise. */
ag_tensor *ag_var(ag_tape *t, ag_tensor *a, int axis, bool unbiased);
/* sqrt of ag_var; the gradient where it is 0 (a constant line) is defined as 0. */
ag_tensor *ag_std(ag_tape *t, ag_tensor *a, int axis, bool unbiased);
/* The L2 norm of all elements, shape (1): sqrt(sum a^2). Gradient a / norm, 0 at norm = 0. */
ag_tensor *ag_norm(ag_tape *t, ag_tensor *a);

/* Losses: one-element results. */
/* Cross-entropy with probability targets: logits (B,C), targets (B,C) (each row a distribution
 * over the C classes; not checked), class_weights[0..C-1] or NULL (all 1, copied):
 *   -1/B sum_b sum_j w_j q_bj log softmax(z_b)_j
 * the mean over the B rows (not over the weights, as PyTorch's cross_entropy with probability
 * targets). Computed stably; gradients flow into logits and targets. */
ag_tensor *ag_xent_soft(ag_tape *t, ag_tensor *logits, ag_tensor *targets,
                        const float *class_weights);
/* Huber loss (PyTorch's HuberLoss), y and d of the same shape, delta > 0, e = y - d:
 * mean(e^2/2 where |e| < delta, else delta (|e| - delta/2)). Gradients flow into both. */
ag_tensor *ag_huber(ag_tape *t, ag_tensor *y, ag_tensor *d, double delta);
/* Smooth-L1 (PyTorch's SmoothL1Loss), beta >= 0: mean(e^2/(2 beta) where |e| < beta, else
 * |e| - beta/2) = ag_huber(beta) / beta; mean |e| for beta = 0 (gradient 0 at e = 0). */
ag_tensor *ag_smooth_l1(ag_tape *t, ag_tensor *y, ag_tensor *d, double beta);

/* ---------------------------------------------------------------------------------------------
 * Shape ops on any axis (PyTorch's narrow, split, stack, permute, flip, expand, pad). An axis
 * may be negative, counting from the end (-1 is the last). Results are new tape tensors
 * (copies); gradients flow back to the input elements they came from.
 * ------------------------------------------------------------------------------------------- */

/* Positions start .. start+length-1 along axis: (.., D, ..) -> (.., length, ..). start may be
 * negative (from the end, -1 the last); 1 <= length <= D - start. torch.narrow. */
ag_tensor *ag_slice(ag_tape *t, ag_tensor *a, int axis, int start, int length);
/* Cut a along axis into n parts, written to parts[0..n-1] (an array of yours): sizes[0..n-1]
 * when given (positive, summing to D), else D/n each (n must divide D). Each part is a slice of a.
 * Returns 0, or -1 with the tape's error set and every parts[p] the poisoned tensor. */
int ag_split(ag_tape *t, ag_tensor *a, int axis, int n, const int *sizes, ag_tensor **parts);
/* Join n tensors of one shape S along a new axis (0..ndim(S), or negative): (n parts of
 * (A,B)) along 0 -> (n,A,B), along 1 -> (A,n,B), along 2 or -1 -> (A,B,n). torch.stack. */
ag_tensor *ag_stack(ag_tape *t, ag_tensor *const *parts, int n, int axis);
/* Reorder the axes: result axis k is a's axis perm[k]; perm[0..ndim-1] holds each axis once.
 * (A,B,C) with perm {2,0,1} -> (C,A,B). ag_transpose is the case of the last two axes. */
ag_tensor *ag_permute(ag_tape *t, ag_tensor *a, const int *perm);
/* The elements in reverse order along axis, same shape (torch.flip on one axis): running a
 * sequence (T,B,N) backwards for a bidirectional recurrent net. */
ag_tensor *ag_reverse(ag_tape *t, ag_tensor *a, int axis);
/* a stretched to shape[0..ndim-1] (torch.expand): shapes aligned on the right, a dimension of
 * 1 repeats, new axes may be added on the left, -1 keeps a's size. (3,1) -> (2,3,4). The
 * gradient sums over the copies. */
ag_tensor *ag_broadcast_to(ag_tape *t, ag_tensor *a, int ndim, const int *shape);
/* before zeros ahead of a and after zeros behind it along axis (both >= 0):
 * (.., D, ..) -> (.., before + D + after, ..). One axis at a time; F.pad with zeros. */
ag_tensor *ag_pad(ag_tape *t, ag_tensor *a, int axis, int before, int after);

/* ---------------------------------------------------------------------------------------------
 * Convolution and pooling (autograd/ops_conv.c), as PyTorch's conv2d, conv1d, max_pool2d and
 * avg_pool2d with one stride, padding and dilation for both spatial axes. Output size along an
 * axis of input size S: floor((S + 2 padding - dilation (K - 1) - 1) / stride) + 1 (no dilation
 * for the poolings). stride >= 1, padding >= 0 (zeros), dilation >= 1. Results are new tape
 * tensors; the column buffer of a convolution is tape memory too (freed by ag_tape_reset).
 * ------------------------------------------------------------------------------------------- */

/* x (N,C,H,W) convolved with w (OC,C,KH,KW), plus bias (OC) or NULL for none -> (N,OC,OH,OW).
 * Gradients flow into x, w and bias. The kernel (dilated) must fit in the padded input. */
ag_tensor *ag_conv2d(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *bias, int stride,
                     int padding, int dilation);
/* The same over sequences: x (N,C,L), w (OC,C,K), bias (OC) or NULL -> (N,OC,OL). */
ag_tensor *ag_conv1d(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *bias, int stride,
                     int padding, int dilation);
/* The largest value in each kernel x kernel window: x (N,C,H,W) -> (N,C,OH,OW). The padding
 * counts as -inf (padding <= kernel/2); the gradient goes to the first max of a window. */
ag_tensor *ag_max_pool2d(ag_tape *t, ag_tensor *x, int kernel, int stride, int padding);
/* The mean of each kernel x kernel window, always divided by kernel^2: the padding counts as
 * zeros (PyTorch's default count_include_pad=True); padding <= kernel/2. */
ag_tensor *ag_avg_pool2d(ag_tape *t, ag_tensor *x, int kernel, int stride, int padding);

/* ---------------------------------------------------------------------------------------------
 * Ops of your own. Define an op once, as a name, a forward and a vector-Jacobian product (and,
 * when the output's shape is not the inputs' shape, a shape function); ag_custom records it on
 * a tape like a built-in op: the same input checks and sticky errors (a failed tape records
 * nothing and returns the poison; a shape that does not fit fails the tape naming the op and
 * the shapes), its name in messages, ag_op_name, the narrated sweep and the DOT picture, the
 * finite check, the no-gradient mode, and ag_gradcheck to check its gradient. examples/
 * custom_op.c and docs/writing-models.md walk through one.
 * ------------------------------------------------------------------------------------------- */

#define AG_CUSTOM_MAX_INPUTS 8

/* What the callbacks see of the node they run for (valid during the call only):
 *   in[0..nin-1]  the inputs: read their data and shape. In the vjp, ADD each input's share
 *                 into in[i]->grad, and skip an input whose grad is NULL (it takes none).
 *   out           the output: the forward writes out->data (out->numel floats, shape
 *                 out->shape); the vjp reads out->data and the incoming gradient out->grad.
 *   user          the pointer given to ag_custom for this node. */
typedef struct ag_custom_view {
    int nin;
    ag_tensor *const *in;
    ag_tensor *out;
    void *user;
} ag_custom_view;

/* An op of your own. Keep the definition (and its name) alive as long as any tape holds a
 * node made from it: a static const is the usual way.
 *   name     what messages, the trace and the DOT picture call it ("softsign")
 *   nin      the number of inputs it takes (1..AG_CUSTOM_MAX_INPUTS), or 0 for any number
 *   shape    optional: from the inputs, write the output's ndim and shape[0..ndim-1] and
 *            return 0; or return -1 with the reason in why (why_size bytes) when they do not
 *            fit. NULL: the output has the inputs' shape, and all inputs must share it.
 *   forward  y = f(inputs): fill v->out->data
 *   vjp      in[i]->grad += J_i^T out->grad for each input with a gradient */
typedef struct ag_custom_op {
    const char *name;
    int nin;
    int (*shape)(ag_tensor *const *in, int nin, int *ndim, int shape[AG_MAX_DIMS], char *why,
                 size_t why_size, void *user);
    void (*forward)(const ag_custom_view *v);
    void (*vjp)(const ag_custom_view *v);
} ag_custom_op;

/* Record op on t with inputs in[0..nin-1] and run its forward; user is handed to its callbacks
 * (kept, not copied: it must outlive the node's backward). Returns the output (a tape tensor),
 * or the poison: a NULL definition or one without name, forward or vjp, the wrong number of
 * inputs, unusable inputs, shapes that do not fit. */
ag_tensor *ag_custom(ag_tape *t, const ag_custom_op *op, ag_tensor *const *in, int nin,
                     void *user);

/* ---------------------------------------------------------------------------------------------
 * Gradient checking
 * ------------------------------------------------------------------------------------------- */

/* Builds a one-element loss on tape t from the parameters (and whatever ctx holds). */
typedef ag_tensor *(*ag_loss_fn)(ag_tape *t, void *ctx);

typedef struct ag_gradcheck_report {
    double worst_error;   /* largest |analytic - numeric| / max(|analytic|, |numeric|, floor) */
    int worst_param;      /* which parameter (index into params), -1 if none checked */
    int worst_index;      /* which element of it */
    double analytic;      /* the two gradients at the worst element */
    double numeric;
    int checked;          /* elements compared */
    char error[256];      /* why the check could not run, "" when it ran */
} ag_gradcheck_report;

/* Compare every analytic gradient of f's loss with respect to params[0..n-1] against central
 * finite differences (f(w+h) - f(w-h)) / 2h with h = eps * max(1, |w|). floor (e.g. 1e-2) keeps
 * tiny gradients from inflating the relative error. Parameter values are restored exactly and
 * their gradients are left as they were. Uses its own tape. Returns 0 when the check ran
 * (read report->worst_error), -1 when it could not (report->error says why). */
int ag_gradcheck(ag_loss_fn f, void *ctx, ag_tensor *const *params, int n, double eps,
                 double floor, ag_gradcheck_report *report);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* BACKPROP_AUTOGRAD_H */
