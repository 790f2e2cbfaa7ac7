/*
 * graph_decode.h -- how the graph fuzz harness (fuzz/fuzz_graph.c) reads a program from its
 * input bytes: the leaves, then each op with its operands and arguments, valid ones or, for the
 * op chosen to fail, wrong ones; ops whose operands are outside their domain are nudged back in
 * or replaced by tanh (see graph_ref.h). Reference values are computed as the program grows.
 */
#ifndef BACKPROP_FUZZ_GRAPH_DECODE_H
#define BACKPROP_FUZZ_GRAPH_DECODE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph_ref.h"

typedef struct {
    const uint8_t *p;
    size_t n, i;
    uint32_t lcg; /* values once the bytes run out */
} reader;

static unsigned next_byte(reader *r) {
    if (r->i < r->n) return r->p[r->i++];
    r->lcg = r->lcg * 1664525u + 1013904223u;
    return r->lcg >> 24;
}
static int pick(reader *r, int n) { return (int)(next_byte(r) % (unsigned)n); }
static int leaf_kind(reader *r) {
    const int k = pick(r, 4);
    return k == 2 ? T_DATA : k == 3 ? T_CONST : T_PARAM;
}

/* A leaf of shape s and the given kind (ANY_KIND: the next byte chooses); values k/16 in
 * [-8, 8), exact in float. (Bytes are read only inside functions, in statements of their own:
 * the order of a call's arguments is unspecified.) */
#define ANY_KIND (-1)
static int new_leaf(prog *P, reader *r, shp s, int kind) {
    if (kind == ANY_KIND) kind = leaf_kind(r);
    if (P->nt >= MAX_T || s.n > MAX_NUMEL) return -1;
    tens *x = &P->T[P->nt];
    x->s = s;
    x->kind = kind;
    for (int i = 0; i < s.n; i++) x->v[i] = (double)(int8_t)next_byte(r) / 16.0;
    return P->nt++;
}
static shp random_shape(reader *r) {
    const int nd = 1 + pick(r, 3);
    int d[3];
    for (int k = 0; k < nd; k++) d[k] = 1 + pick(r, nd == 3 ? 3 : 4);
    return shp_of(nd, d);
}

/* A shape that broadcasts against s: s itself, its last row, a column, or a scalar. */
static shp broadcast_partner(reader *r, shp s) {
    switch (pick(r, 5)) {
    case 0: return shp_of(1, (int[]){s.d[s.nd - 1]});
    case 1: {
        int d[3] = {1, 1, 1};
        d[s.nd - 1] = s.d[s.nd - 1];
        return shp_of(s.nd, d);
    }
    case 2: {
        shp c = s;
        c.d[c.nd - 1] = 1;
        return shp_of(c.nd, c.d);
    }
    case 3: return shp_of(1, (int[]){1});
    default: return s;
    }
}

/* An existing tensor of exactly shape s (searching back from a byte-chosen start), else a new
 * leaf of that shape. */
static int operand_of_shape(prog *P, reader *r, shp s) {
    const int start = pick(r, P->nt + 2);
    for (int k = 0; k < P->nt && start < P->nt; k++) {
        const int j = (start + k) % P->nt;
        if (shp_eq(P->T[j].s, s)) return j;
    }
    return new_leaf(P, r, s, ANY_KIND);
}

/* Fill node n (op already set, in[0] = a) with valid operands and arguments; false when the op
 * cannot take a (the caller turns it into tanh). */
static bool decode_args(prog *P, reader *r, node *n) {
    const shp a = P->T[n->in[0]].s;
    n->nin = 1;
    switch (n->op) {
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: {
        const shp b = broadcast_partner(r, a);
        n->in[1] = operand_of_shape(P, r, b);
        if (pick(r, 3) == 0) { /* the other way round */
            n->in[1] = n->in[0];
            n->in[0] = operand_of_shape(P, r, b);
        }
        n->nin = 2;
        return n->in[0] >= 0 && n->in[1] >= 0;
    }
    case OP_SCALE: case OP_ADD_CONST:
        n->c = (double)(int8_t)next_byte(r) / 32.0;
        return true;
    case OP_POW: {
        static const double powers[] = {2, 3, -1, -2, 0.5, 1.5, -0.5, 2.5};
        n->c = powers[pick(r, 8)];
        return true;
    }
    case OP_MATMUL: {
        if (a.nd != 2) return false;
        n->ta = pick(r, 2);
        n->tb = pick(r, 2);
        n->plain = !n->ta && !n->tb && pick(r, 2);
        const int K = n->ta ? a.d[0] : a.d[1], N = 1 + pick(r, 5);
        n->in[1] = operand_of_shape(P, r, n->tb ? shp_of(2, (int[]){N, K}) : shp_of(2, (int[]){K, N}));
        n->nin = 2;
        return n->in[1] >= 0;
    }
    case OP_SUM_AXIS: case OP_MEAN_AXIS: case OP_MAX_AXIS:
        n->axis = pick(r, 2 * a.nd) - a.nd; /* -nd .. nd-1 */
        return true;
    case OP_RESHAPE: {
        /* (numel), (1,numel), (numel,1), (d, numel/d), (d, -1) or (1, d, -1) for a divisor d */
        int d = 1 + pick(r, 4);
        if (a.n % d) d = 1;
        switch (pick(r, 5)) {
        case 0: n->rnd = 1, n->rshape[0] = pick(r, 2) ? a.n : -1; break;
        case 1: n->rnd = 2, n->rshape[0] = 1, n->rshape[1] = a.n; break;
        case 2: n->rnd = 2, n->rshape[0] = a.n, n->rshape[1] = 1; break;
        case 3: n->rnd = 2, n->rshape[0] = d, n->rshape[1] = pick(r, 2) ? -1 : a.n / d; break;
        default: n->rnd = 3, n->rshape[0] = 1, n->rshape[1] = d, n->rshape[2] = -1; break;
        }
        return true;
    }
    case OP_TRANSPOSE: return a.nd >= 2;
    case OP_CONCAT: {
        n->axis = pick(r, a.nd);
        n->nin = 2 + pick(r, 2);
        for (int p = 1; p < n->nin; p++) {
            shp s = a;
            s.d[n->axis] = 1 + pick(r, 3);
            n->in[p] = operand_of_shape(P, r, shp_of(s.nd, s.d));
            if (n->in[p] < 0) return false;
        }
        return true;
    }
    case OP_SLICE_ROWS:
        n->count = 1 + pick(r, a.d[0]);
        n->start = pick(r, a.d[0] - n->count + 1);
        return true;
    case OP_GATHER_ROWS:
        n->count = 1 + pick(r, MAX_ROWS);
        for (int k = 0; k < n->count; k++) n->idx[k] = pick(r, a.d[0]);
        return a.n / a.d[0] * n->count <= MAX_NUMEL;
    case OP_SSE: case OP_MSE: case OP_BCE: case OP_BCE_LOGITS:
        n->in[1] = operand_of_shape(P, r, a);
        n->nin = 2;
        return n->in[1] >= 0;
    case OP_SOFTMAX_XENT:
        if (a.nd != 2) return false;
        for (int k = 0; k < a.d[0]; k++) n->idx[k] = pick(r, a.d[1]);
        return true;
    default: return true; /* unary ops of any shape */
    }
}

/* Give node n (op already set, in[0] = a) arguments the library must refuse, and record which
 * operands the error message must show. The node's output stands for a copy of a afterwards. */
static bool decode_bad_args(prog *P, reader *r, node *n) {
    const shp a = P->T[n->in[0]].s;
    n->nin = 1;
    n->mention = 1; /* the message shows the shapes of in[0 .. mention-1] */
    switch (n->op) {
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_SSE: case OP_MSE: case OP_BCE:
    case OP_BCE_LOGITS: {
        /* a dimension of a grown by one: never equal; for the broadcasting ops it must be one
         * of at least 2 (a dimension of 1 stretches), and a shape of all 1s takes any other */
        const bool bcast = n->op <= OP_DIV;
        int k = a.nd - 1;
        while (bcast && k >= 0 && a.d[k] == 1) k--;
        if (k < 0) return false;
        shp b = a;
        b.d[k] += 1;
        n->in[1] = new_leaf(P, r, shp_of(b.nd, b.d), ANY_KIND);
        n->nin = n->mention = 2;
        return n->in[1] >= 0;
    }
    case OP_MATMUL: {
        n->ta = pick(r, 2);
        n->tb = pick(r, 2);
        const int K = a.nd == 2 ? (n->ta ? a.d[0] : a.d[1]) : 1;
        const int Kb = a.nd == 2 ? K + 1 + pick(r, 2) : 1 + pick(r, 3), N = 1 + pick(r, 3);
        n->in[1] = new_leaf(P, r, n->tb ? shp_of(2, (int[]){N, Kb}) : shp_of(2, (int[]){Kb, N}),
                            ANY_KIND);
        n->nin = n->mention = 2;
        return n->in[1] >= 0;
    }
    case OP_SUM_AXIS: case OP_MEAN_AXIS: case OP_MAX_AXIS: {
        static const int far[] = {INT32_MAX, INT32_MIN};
        const int k = pick(r, 4);
        n->axis = k == 0 ? a.nd : k == 1 ? -a.nd - 1 : far[k - 2];
        return true;
    }
    case OP_RESHAPE:
        n->rnd = 2;
        n->rshape[0] = a.n + 1;
        n->rshape[1] = pick(r, 2) ? 1 : -1;
        return true;
    case OP_TRANSPOSE: {
        n->in[0] = new_leaf(P, r, shp_of(1, (int[]){1 + pick(r, 4)}), ANY_KIND);
        return n->in[0] >= 0;
    }
    case OP_CONCAT: {
        if (a.nd < 2) return false;
        n->axis = pick(r, a.nd);
        shp s = a;
        const int other = (n->axis + 1) % a.nd;
        s.d[other] += 1;
        n->in[1] = new_leaf(P, r, shp_of(s.nd, s.d), ANY_KIND);
        n->nin = n->mention = 2;
        return n->in[1] >= 0;
    }
    case OP_SLICE_ROWS:
        n->count = 1 + pick(r, a.d[0] + 1);
        n->start = a.d[0] - n->count + 1 + pick(r, 2);
        if (pick(r, 4) == 0) n->start = -1 - pick(r, 2);
        return true;
    case OP_GATHER_ROWS: {
        n->count = 1 + pick(r, MAX_ROWS);
        for (int k = 0; k < n->count; k++) n->idx[k] = pick(r, a.d[0]);
        const int at = pick(r, n->count), beyond = pick(r, 3);
        n->idx[at] = pick(r, 2) ? a.d[0] + beyond : -1 - beyond;
        return true;
    }
    case OP_SOFTMAX_XENT: {
        if (a.nd != 2) return true; /* logits must be 2-D */
        for (int k = 0; k < a.d[0]; k++) n->idx[k] = pick(r, a.d[1]);
        const int at = pick(r, a.d[0]);
        n->idx[at] = pick(r, 2) ? a.d[1] : -1;
        return true;
    }
    default: return false; /* unary ops take any shape: nothing to get wrong */
    }
}

/* Node n becomes tanh(a0); leaves made for its other operands (from index nt0 on) are dropped. */
static void to_tanh(prog *P, node *n, int a0, int nt0) {
    P->nt = nt0;
    n->op = OP_TANH, n->nin = 1, n->in[0] = a0;
    node_shape(P, n);
}

/* Give node n its result tensor, shaped n->s, and compute its reference value. */
static void evaluate(prog *P, node *n) {
    n->out = P->nt++;
    P->T[n->out].s = n->s;
    P->T[n->out].kind = T_RESULT;
    const double *in[MAX_PARTS] = {NULL, NULL, NULL};
    for (int p = 0; p < n->nin; p++) in[p] = P->T[n->in[p]].v;
    ref_eval(P, n, in, P->T[n->out].v);
}

static bool domain_ok(const prog *P, const node *n) {
    const double *in[MAX_PARTS] = {NULL, NULL, NULL};
    for (int p = 0; p < n->nin; p++) in[p] = P->T[n->in[p]].v;
    return ref_domain_ok(P, n, in, P->T[n->out].v, 1.0);
}

/* Append op(x) with constant c as a node of its own; returns its result. */
static int append(prog *P, int op, int x, double c) {
    node *n = &P->N[P->nn++];
    memset(n, 0, sizeof *n);
    n->op = op, n->nin = 1, n->in[0] = x, n->c = c;
    node_shape(P, n);
    evaluate(P, n);
    return n->out;
}

/* Node n (evaluated, at P->N[P->nn]) is outside its domain. Where an op needs positive input
 * (log, sqrt, pow, a divisor) the input becomes softplus(x) + 0.25, and bce's probabilities
 * 0.0625 + 0.875 sigmoid(x) (constants exact in float), as nodes of their own before n; when that is not enough or not
 * possible, n becomes tanh of its first input. Returns where n now is. */
static node *nudge(prog *P, node *n, int a0, int nt0) {
    const int slot = n->op == OP_DIV ? 1 : 0;
    const bool fixable = n->op == OP_LOG || n->op == OP_SQRT || n->op == OP_POW ||
                         n->op == OP_DIV || n->op == OP_BCE;
    if (fixable && P->nn + 4 <= MAX_NODES - 2 && P->nt + 4 <= MAX_T - 4) {
        node keep = *n;
        P->nt--; /* its result, made again below */
        const int x = keep.in[slot];
        keep.in[slot] = keep.op == OP_BCE
                            ? append(P, OP_ADD_CONST, append(P, OP_SCALE, append(P, OP_SIGMOID, x, 0), 0.875), 0.0625)
                            : append(P, OP_ADD_CONST, append(P, OP_SOFTPLUS, x, 0), 0.25);
        n = &P->N[P->nn];
        *n = keep;
        evaluate(P, n);
        if (domain_ok(P, n)) return n;
        P->nt--;
        n->op = OP_TANH, n->nin = 1;
        node_shape(P, n);
        evaluate(P, n);
        return n;
    }
    to_tanh(P, n, a0, nt0);
    evaluate(P, n);
    return n;
}

/* Decode the program; the reference values of every tensor are computed as it goes. */
static void decode(prog *P, reader *r, bool bad_mode) {
    memset(P, 0, sizeof *P);
    P->bad = -1;
    const int leaves = 1 + pick(r, 3), nodes = 1 + pick(r, MAX_OPS);
    for (int k = 0; k < leaves; k++) new_leaf(P, r, random_shape(r), k == 0 ? T_PARAM : ANY_KIND);
    const int bad_at = bad_mode ? pick(r, nodes) : -1;
    for (int k = 0; k < nodes && P->nt < MAX_T - 8 && P->nn < MAX_NODES - 2; k++) {
        node *n = &P->N[P->nn];
        memset(n, 0, sizeof *n);
        n->op = pick(r, OP_COUNT);
        const int a0 = P->nt - 1 - pick(r, P->nt < 4 ? P->nt : 4), nt0 = P->nt;
        n->in[0] = a0;
        if (k == bad_at && decode_bad_args(P, r, n)) {
            n->s = P->T[a0].s; /* the result stands for a copy of a from here on */
            n->out = P->nt++;
            P->T[n->out] = P->T[a0];
            P->T[n->out].kind = T_RESULT;
            P->bad = P->nn++;
            continue;
        }
        if (k == bad_at) to_tanh(P, n, a0, nt0); /* nothing to get wrong: drop what it made */
        if (!decode_args(P, r, n) || !node_shape(P, n)) to_tanh(P, n, a0, nt0);
        evaluate(P, n);
        if (!domain_ok(P, n)) n = nudge(P, n, a0, nt0);
        P->nn++;
    }
    /* The loss: sum(last * W), W a constant of values k/64 in [-1, 1]. */
    const int last = P->N[P->nn - 1].out, w = P->nt++;
    P->T[w].s = P->T[last].s;
    P->T[w].kind = T_CONST;
    for (int i = 0; i < P->T[w].s.n; i++) P->T[w].v[i] = (double)(pick(r, 129) - 64) / 64.0;
    for (int k = 0; k < 2; k++) {
        node *n = &P->N[P->nn++];
        memset(n, 0, sizeof *n);
        n->op = k == 0 ? OP_MUL : OP_SUM;
        n->in[0] = k == 0 ? last : P->nt - 1;
        n->in[1] = w;
        n->nin = k == 0 ? 2 : 1;
        node_shape(P, n);
        evaluate(P, n);
    }
}

#endif
