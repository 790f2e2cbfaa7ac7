/*
 * tape.c -- the tape (Wengert list): making and resetting it, recording nodes, and the reverse
 * sweep. Failing is error.c's business, the arena memory.c's.
 */
#include "autograd_private.h"

#include <math.h>
#include <string.h>

/* ---- the tape ------------------------------------------------------------------------------ */

static void poison_init(ag_tape *t) {
    t->poison_value = NAN;
    memset(&t->poison, 0, sizeof t->poison);
    t->poison.data = &t->poison_value;
    t->poison.ndim = 1;
    t->poison.shape[0] = t->poison.shape[1] = t->poison.shape[2] = t->poison.shape[3] = 1;
    t->poison.numel = 1;
    t->poison.flags = AG_POISONED;
    t->poison.name = "poisoned";
    t->poison.tape = t;
    t->poison.generation = t->generation;
}

ag_tape *ag_tape_new(void) {
    ag_tape *t = ag_alloc(sizeof *t);
    if (!t) {
        ag_set_last_error("ag_tape_new: out of memory");
        return NULL;
    }
    memset(t, 0, sizeof *t);
    poison_init(t);
    return t;
}

void ag_tape_free(ag_tape *t) {
    if (!t) return;
    ag_arena_free(t);
    ag_free(t);
}

void ag_tape_reset(ag_tape *t) {
    if (!t) return;
    ag_arena_rewind(t);
    t->generation++; /* every tensor recorded so far is now stale */
    t->last = NULL;
    t->nnodes = 0;
    t->sweeps = 0;
    t->failed = false;
    t->status = AG_OK;
    t->error[0] = '\0';
    poison_init(t); /* a user may have scribbled on the poisoned tensor */
}

int ag_tape_nodes(const ag_tape *t) { return t ? t->nnodes : 0; }

/* The no-gradient mode: ag_record gives no output AG_REQUIRES_GRAD, so nothing recorded wants
 * a gradient and ag_backward refuses. */
int ag_tape_set_grad(ag_tape *t, bool on) {
    if (!t) {
        ag_no_tape("ag_tape_set_grad");
        return -1;
    }
    t->no_grad = !on;
    return 0;
}

bool ag_tape_grad_enabled(const ag_tape *t) { return t && !t->no_grad; }

/* ---- recording ------------------------------------------------------------------------------ */

ag_node *ag_record(ag_tape *t, const ag_op *op, int nin, ag_tensor *const *in, int ndim,
                   const int *shape, float *view) {
    long numel = ag_check_shape(t, op->name, ndim, shape);
    if (numel < 0) return NULL;
    ag_node *n = ag_arena_alloc(t, sizeof *n, _Alignof(ag_node), op->name);
    if (!n) return NULL;
    float *data = view;
    if (!data && numel == 1) {
        data = &n->scalar[0]; /* no second allocation for a scalar */
    } else if (!data) {
        /* Big outputs start on a cache line; small ones pack tightly. */
        size_t align = numel >= 16 ? 64 : sizeof(float);
        data = ag_arena_alloc(t, (size_t)numel * sizeof(float), align, op->name);
        if (!data) return NULL;
    }
    ag_tensor **ins = n->in2;
    if (nin > 2) {
        ins = ag_arena_alloc(t, (size_t)nin * sizeof *ins, _Alignof(ag_tensor *), op->name);
        if (!ins) return NULL;
    }
    n->op = op;
    n->prev = t->last;
    n->index = t->nnodes;
    n->nin = nin;
    n->vjp_stores = false;
    n->in = ins;
    n->aux = NULL;
    memset(&n->arg, 0, sizeof n->arg);
    unsigned flags = 0;
    for (int i = 0; i < nin; i++) {
        ins[i] = in[i];
        flags |= in[i]->flags & AG_REQUIRES_GRAD;
    }
    ag_tensor *o = &n->out;
    o->data = data;
    o->grad = NULL;
    o->ndim = ndim;
    o->shape[0] = shape[0]; /* unrolled: this is the hot path of every op */
    o->shape[1] = ndim > 1 ? shape[1] : 1;
    o->shape[2] = ndim > 2 ? shape[2] : 1;
    o->shape[3] = ndim > 3 ? shape[3] : 1;
    o->numel = (int)numel;
    o->flags = t->no_grad ? 0 : flags;
    o->name = NULL;
    o->node = n;
    o->tape = t;
    o->generation = t->generation;
    t->last = n;
    t->nnodes++;
    return n;
}

ag_tensor *ag_run(ag_node *n) {
    n->op->forward(n);
    if (n->out.tape->check_finite) return ag_check_finite(n);
    return &n->out;
}

ag_tensor *ag_vjp_stores(ag_tensor *y) {
    if (y && y->node && !(y->flags & AG_POISONED)) y->node->vjp_stores = true;
    return y;
}

/* ---- the reverse sweep ----------------------------------------------------------------------- */

/* A gradient buffer for x: from the arena for tape tensors, not zeroed but marked
 * AG_GRAD_UNWRITTEN (see autograd_private.h: the first vjp to write it stores, or the sweep
 * zeroes it just before). User-owned tensors that require a gradient were given one when they
 * were made; a scalar kept in its node gets a zero at once (it costs nothing). */
static bool grad_ready(ag_tape *t, ag_tensor *x) {
    if (x->grad || !(x->flags & AG_REQUIRES_GRAD)) return true;
    if (x->flags & AG_USER_OWNED) return true; /* requires_grad was turned on without memory */
    if (x->node && x->data == &x->node->scalar[0]) { /* a scalar kept in its node */
        x->grad = &x->node->scalar[1];
        x->grad[0] = 0.0f;
        return true;
    }
    x->grad = ag_arena_alloc(t, (size_t)x->numel * sizeof(float), x->numel >= 16 ? 64 : 4,
                             "backward");
    if (!x->grad) return false;
    x->flags |= AG_GRAD_UNWRITTEN;
    t->unwritten = true;
    return true;
}

/* Zero x's gradient if nobody has written it yet. */
static void zero_unwritten(ag_tensor *x) {
    if (!(x->flags & AG_GRAD_UNWRITTEN)) return;
    memset(x->grad, 0, (size_t)x->numel * sizeof(float));
    x->flags &= ~AG_GRAD_UNWRITTEN;
}

/* Zero every gradient of the sweep from out that is still unwritten: after a sweep that stopped
 * early (or failed in pass 1), so that what is left reads as zeros, as before any vjp ran. */
static void zero_all_unwritten(ag_tensor *out) {
    if (out->grad) zero_unwritten(out);
    for (ag_node *n = out->node; n; n = n->prev)
        for (int i = 0; i < n->nin; i++)
            if (n->in[i]->grad) zero_unwritten(n->in[i]);
}

/* Node n's vjp in the sweep from out: its inputs' unwritten gradients zeroed first unless it
 * stores into them itself (always zeroed for the narrated sweep, which compares before and
 * after). A sweep of one-element tensors only (kept in their nodes, zeroed at once) skips the
 * check. */
static inline void run_vjp(ag_tape *t, const ag_tensor *out, ag_node *n) {
    if (t->unwritten && (!n->vjp_stores || t->trace))
        for (int i = 0; i < n->nin; i++) zero_unwritten(n->in[i]);
    if (!t->trace) n->op->vjp(n); /* inputs' grad += J^T * out.grad */
    else ag_trace_vjp(t, out, n);  /* the same, narrated (trace.c) */
}

/* The sweep from out, seeded with seed, over at most max_nodes of the nodes it reaches
 * (max_nodes < 0: all of them). */
static int sweep(ag_tape *t, ag_tensor *out, const float *seed, int max_nodes) {
    if (t->no_grad) {
        ag_fail(t, AG_ERR_NO_GRAD,
                "backward: output %s was recorded with gradients off (ag_tape_set_grad(t, "
                "false)); turn them on and record again to back-propagate",
                ag_fmt_shape(out).s);
        return -1;
    }
    if (!seed) {
        ag_fail(t, AG_ERR_NULL, "backward: seed gradient is NULL for output %s",
                ag_fmt_shape(out).s);
        return -1;
    }
    if (!(out->flags & AG_REQUIRES_GRAD)) return 0; /* nothing it depends on wants a gradient */

    /* A second sweep on the same recording starts the intermediates from zero again. */
    if (t->sweeps > 0)
        for (ag_node *n = t->last; n; n = n->prev) n->out.grad = NULL;

    /* Pass 1: give every tensor the sweep will reach its gradient memory, walking backwards from
     * the output. A node is reached when its output has a gradient. Running out of memory is
     * thus found before any gradient has changed. */
    t->unwritten = false;
    bool ready = grad_ready(t, out);
    for (ag_node *n = out->node; n && ready; n = n->prev) {
        if (!n->out.grad) continue;
        for (int i = 0; i < n->nin && ready; i++) ready = grad_ready(t, n->in[i]);
    }
    if (!ready) {
        zero_all_unwritten(out);
        return -1;
    }
    if (!out->grad) {
        ag_fail(t, AG_ERR_NO_MEMORY,
                "backward: output %s requires a gradient but has no gradient memory",
                ag_fmt_shape(out).s);
        return -1;
    }

    /* Pass 2: seed, then the chain rule, from the last node to the first. Every node reached
     * has had its output's gradient written by then (by the seed, or by the vjp of a later node
     * that takes it as an input). */
    zero_unwritten(out);
    for (int i = 0; i < out->numel; i++) out->grad[i] += seed[i];
    if (max_nodes < 0) {
        for (ag_node *n = out->node; n; n = n->prev)
            if (n->out.grad) run_vjp(t, out, n);
    } else { /* ag_backward_steps: the same, stopping after max_nodes nodes */
        for (ag_node *n = out->node; n && max_nodes > 0; n = n->prev) {
            if (!n->out.grad) continue;
            run_vjp(t, out, n);
            max_nodes--;
        }
        zero_all_unwritten(out);
    }
    t->sweeps++;
    return 0;
}

int ag_backward_seed(ag_tape *t, ag_tensor *out, const float *seed) {
    if (!ag_check_inputs(t, "backward", 1, &out)) return -1;
    return sweep(t, out, seed, -1);
}

int ag_backward_steps(ag_tape *t, ag_tensor *loss, int steps) {
    if (!ag_check_inputs(t, "backward_steps", 1, &loss)) return -1;
    if (loss->numel != 1) {
        ag_fail(t, AG_ERR_SHAPE, "backward_steps: loss has shape %s, not one element",
                ag_fmt_shape(loss).s);
        return -1;
    }
    if (steps < 0) {
        ag_fail(t, AG_ERR_SHAPE, "backward_steps: steps is %d (must be 0 or more)", steps);
        return -1;
    }
    const float one = 1.0f;
    return sweep(t, loss, &one, steps);
}

int ag_backward(ag_tape *t, ag_tensor *loss) {
    if (!ag_check_inputs(t, "backward", 1, &loss)) return -1;
    if (loss->numel != 1) {
        ag_fail(t, AG_ERR_SHAPE,
                "backward: loss has shape %s, not one element; use ag_backward_seed for a "
                "non-scalar output",
                ag_fmt_shape(loss).s);
        return -1;
    }
    const float one = 1.0f;
    return sweep(t, loss, &one, -1); /* ag_backward_seed, its input already checked */
}
