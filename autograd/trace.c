/*
 * trace.c -- the reverse sweep, narrated (ag_tape_set_trace).
 *
 * The op table stays the only place that knows a derivative: the narration measures what each
 * node's vjp does instead of knowing it. For a node with a one-element output the local
 * derivative d out / d in is measured exactly by running the vjp once more with a seed of 1
 * into zeroed scratch gradients; the real vjp then runs on the real gradients, and what it
 * added (after minus before) is the chain rule's product. Tensors of more than one element are
 * shown by shape and norm.
 */
#include "autograd_private.h"

#include <math.h>
#include <string.h>

void ag_tape_set_trace(ag_tape *t, FILE *f) {
    if (!t) ag_no_tape("ag_tape_set_trace");
    else t->trace = f;
}

/* One input of the node being narrated, counted once however often it appears among the
 * inputs (mul(x, x) adds both products into the one gradient). */
typedef struct {
    ag_tensor *x;
    float *before; /* its gradient before the vjp; then what the vjp added */
    float *local;  /* d out / d x, for one-element outputs; else NULL */
    float *real;   /* its gradient, while the local derivative is being measured */
} traced_input;

static double norm(const float *v, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

/* A number when there is one element, else "[(4,2) norm 0.3162]". */
static void fmt_quantity(char *buf, size_t size, const ag_tensor *shape_of, const float *v) {
    if (shape_of->numel == 1) {
        snprintf(buf, size, "%.4g", v[0]);
    } else {
        char s[64];
        snprintf(buf, size, "[%s norm %.4g]", ag_shape_str(shape_of, s, sizeof s),
                 norm(v, shape_of->numel));
    }
}

/* Tensors go by their labels (ag_label), except that an unnamed root is E, the paper's error. */
static const char *label(const ag_tensor *x, const ag_tensor *root, char buf[AG_LABEL_MAX]) {
    return x == root && !x->name ? "E" : ag_label(x, buf);
}

/* The first line of a sweep: where it starts and the seed. */
static void print_seed(FILE *f, const ag_tensor *root) {
    char rl[AG_LABEL_MAX], g[96];
    const char *r = label(root, root, rl);
    fmt_quantity(g, sizeof g, root, root->grad);
    fprintf(f, "backward from %s (node %d %s): d%s/d%s = %s\n", r, root->node->index,
            root->node->op->name, r, r, g);
}

/* What the vjp added to one input, as the chain rule's product. */
static void print_input(FILE *f, const ag_tensor *root, const ag_node *n, const traced_input *in) {
    char rl[AG_LABEL_MAX], ol[AG_LABEL_MAX], il[AG_LABEL_MAX];
    char up[96], loc[128], added[96];
    const char *r = label(root, root, rl), *o = label(&n->out, root, ol);
    const char *x = label(in->x, root, il);
    const ag_tensor *out = &n->out;
    fmt_quantity(up, sizeof up, out, out->grad);
    fmt_quantity(added, sizeof added, in->x, in->before);
    if (in->local) {
        fmt_quantity(loc, sizeof loc, in->x, in->local);
    } else {
        char so[64], si[64];
        snprintf(loc, sizeof loc, "[Jacobian %s by %s]", ag_shape_str(out, so, sizeof so),
                 ag_shape_str(in->x, si, sizeof si));
    }
    fprintf(f, "node %d %s: d%s/d%s += d%s/d%s * d%s/d%s = %s * %s = %s", n->index, n->op->name,
            r, x, r, o, o, x, up, loc, added);
    /* A gradient that already held something (a tensor used twice) now holds the sum. */
    if (in->x->numel == 1 && in->x->grad[0] != in->before[0])
        fprintf(f, "; now d%s/d%s = %.4g", r, x, in->x->grad[0]);
    fputc('\n', f);
}

/* For a one-element output: d out / d x for every input x, by running the vjp with a seed of 1
 * into zeroed scratch gradients (ins[j].local), the real gradients put back afterwards. */
static void measure_local(ag_node *n, traced_input *ins, int k) {
    float one = 1.0f, *g = n->out.grad;
    for (int j = 0; j < k; j++) {
        ins[j].real = ins[j].x->grad;
        memset(ins[j].local, 0, (size_t)ins[j].x->numel * sizeof(float));
        ins[j].x->grad = ins[j].local;
    }
    n->out.grad = &one;
    n->op->vjp(n);
    n->out.grad = g;
    for (int j = 0; j < k; j++) ins[j].x->grad = ins[j].real;
}

void ag_trace_vjp(ag_tape *t, const ag_tensor *root, ag_node *n) {
    FILE *f = t->trace;
    if (n == root->node) print_seed(f, root);

    /* The distinct inputs that take a gradient, and scratch for each. */
    enum { SMALL = 8 };
    traced_input small[SMALL], *ins = small;
    if (n->nin > SMALL) ins = ag_alloc((size_t)n->nin * sizeof *ins);
    int k = 0;
    size_t floats = 0;
    const bool scalar_out = n->out.numel == 1;
    for (int i = 0; ins && i < n->nin; i++) {
        ag_tensor *x = n->in[i];
        bool seen = false;
        for (int j = 0; j < k; j++) seen = seen || ins[j].x == x;
        if (!x->grad || seen) continue;
        ins[k++].x = x;
        floats += (size_t)x->numel * (scalar_out ? 2 : 1);
    }
    float *scratch = ins && floats ? ag_alloc(floats * sizeof(float)) : NULL;
    if (!scratch) { /* nothing to narrate, or no memory to do it with: just run the vjp */
        if (!ins || floats)
            fprintf(f, "node %d %s: (not narrated: out of memory)\n", n->index, n->op->name);
        n->op->vjp(n);
        if (ins != small) ag_free(ins);
        return;
    }
    float *p = scratch;
    for (int j = 0; j < k; j++) {
        ins[j].before = p;
        p += ins[j].x->numel;
        ins[j].local = scalar_out ? p : NULL;
        p += scalar_out ? ins[j].x->numel : 0;
    }
    if (scalar_out) measure_local(n, ins, k);

    /* The real vjp; what it added is after minus before. */
    for (int j = 0; j < k; j++)
        memcpy(ins[j].before, ins[j].x->grad, (size_t)ins[j].x->numel * sizeof(float));
    n->op->vjp(n);
    for (int j = 0; j < k; j++) {
        const float *g = ins[j].x->grad;
        for (int i = 0; i < ins[j].x->numel; i++) ins[j].before[i] = g[i] - ins[j].before[i];
        print_input(f, root, n, &ins[j]);
    }
    ag_free(scratch);
    if (ins != small) ag_free(ins);
}
