/*
 * trace.c -- the reverse sweep, narrated (ag_tape_set_trace).
 *
 * The op table stays the only place that knows a derivative: the narration measures what each
 * node's vjp does instead of knowing it. For a node with a one-element output the local
 * derivative d out / d in is measured exactly by running the vjp once more with a seed of 1
 * into zeroed scratch gradients; the real vjp then runs on the real gradients, and what it
 * added (after minus before) is the chain rule's product. Tensors of up to 8 elements show
 * their elements; bigger ones their shape and norm. The loss's own node, where the seed is 1,
 * reads as the local derivative it is (dE/dy = y - d = ...), written out for the losses whose
 * derivative has a short formula (LOSS_WORDS below: words only, the numbers are measured).
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

enum { TRACE_MAX_ELEMENTS = 8, QUANTITY_CHARS = 256 };

/* A number when there is one element; the elements up to 8, a row at a time ("[0.5, -1]",
 * "[1, 2; 3, 4]"); else "[(4,2) norm 0.3162]". */
static void fmt_quantity(char *buf, size_t size, const ag_tensor *shape_of, const float *v) {
    if (shape_of->numel == 1) {
        snprintf(buf, size, "%.4g", v[0]);
    } else if (shape_of->numel <= TRACE_MAX_ELEMENTS) {
        const int cols = shape_of->shape[shape_of->ndim - 1];
        size_t used = 0;
        for (int i = 0; i < shape_of->numel && used < size; i++) {
            const char *sep = i == 0 ? "[" : i % cols == 0 ? "; " : ", ";
            int w = snprintf(buf + used, size - used, "%s%.4g", sep, v[i]);
            used += w > 0 ? (size_t)w : 0;
        }
        if (used < size) snprintf(buf + used, size - used, "]");
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
    char rl[AG_LABEL_MAX], g[QUANTITY_CHARS];
    const char *r = label(root, root, rl);
    fmt_quantity(g, sizeof g, root, root->grad);
    fprintf(f, "backward from %s (node %d %s): d%s/d%s = %s\n", r, root->node->index,
            root->node->op->name, r, r, g);
}

/* How the loss line writes d loss / d in[0], with $0 and $1 standing for the inputs; by the
 * op's name, so that the narration depends on no op's file. */
static const struct {
    const char *op;
    const char *text;
} LOSS_WORDS[] = {
    {"sse", "$0 - $1"},
    {"mse", "2 ($0 - $1) / n"},
};

/* The op's formula for d out / d in[0] (LOSS_WORDS) with $0, $1 ... replaced by the
 * inputs' labels, or (values) by their one-element values; false when there is no formula or
 * a value asked for has more than one element. */
static bool fmt_formula(char *buf, size_t size, const ag_tensor *root, const ag_node *n,
                        bool values) {
    const char *text = NULL;
    for (size_t i = 0; i < sizeof LOSS_WORDS / sizeof LOSS_WORDS[0]; i++)
        if (!strcmp(n->op->name, LOSS_WORDS[i].op)) text = LOSS_WORDS[i].text;
    if (!text || size == 0) return false;
    size_t used = 0;
    buf[0] = '\0';
    for (const char *c = text; *c && used + 1 < size; c++) {
        if (c[0] == '$' && c[1] >= '0' && c[1] - '0' < n->nin) {
            const ag_tensor *x = n->in[*++c - '0'];
            char lb[AG_LABEL_MAX];
            int w;
            if (!values) w = snprintf(buf + used, size - used, "%s", label(x, root, lb));
            else if (x->numel != 1) return false;
            else w = snprintf(buf + used, size - used, x->data[0] < 0 ? "(%.4g)" : "%.4g", x->data[0]);
            used += w > 0 ? (size_t)w : 0;
        } else {
            buf[used++] = *c;
            buf[used] = '\0';
        }
    }
    return used + 1 < size;
}

/* The loss's own node, seeded with 1: what it adds is its local derivative, so the line says
 * that, not "dE/dy += dE/dE * dE/dy":
 *   node 5 sse: dE/dy = y - d = 0.6225 - 1 = -0.3775
 * (in the op's words when it gives them; else dE/dy = dsse/dy = -0.3775). */
static void print_loss_input(FILE *f, const ag_tensor *root, const ag_node *n,
                             const traced_input *in, const char *r, const char *x,
                             const char *added) {
    char named[QUANTITY_CHARS], valued[QUANTITY_CHARS];
    fprintf(f, "node %d %s: d%s/d%s = ", n->index, n->op->name, r, x);
    if (in->x == n->in[0] && fmt_formula(named, sizeof named, root, n, false)) {
        fprintf(f, "%s = ", named);
        if (fmt_formula(valued, sizeof valued, root, n, true)) fprintf(f, "%s = ", valued);
    } else {
        fprintf(f, "d%s/d%s = ", n->op->name, x);
    }
    fputs(added, f);
}

/* What the vjp added to one input, as the chain rule's product. */
static void print_input(FILE *f, const ag_tensor *root, const ag_node *n, const traced_input *in) {
    char rl[AG_LABEL_MAX], ol[AG_LABEL_MAX], il[AG_LABEL_MAX];
    char up[QUANTITY_CHARS], loc[QUANTITY_CHARS], added[QUANTITY_CHARS];
    const char *r = label(root, root, rl), *o = label(&n->out, root, ol);
    const char *x = label(in->x, root, il);
    const ag_tensor *out = &n->out;
    fmt_quantity(up, sizeof up, out, out->grad);
    fmt_quantity(added, sizeof added, in->x, in->before);
    if (&n->out == root && root->numel == 1 && root->grad[0] == 1.0f) {
        print_loss_input(f, root, n, in, r, x, added);
    } else {
        if (in->local) {
            fmt_quantity(loc, sizeof loc, in->x, in->local);
        } else {
            char so[64], si[64];
            snprintf(loc, sizeof loc, "[Jacobian %s by %s]", ag_shape_str(out, so, sizeof so),
                     ag_shape_str(in->x, si, sizeof si));
        }
        fprintf(f, "node %d %s: d%s/d%s += d%s/d%s * d%s/d%s = %s * %s = %s", n->index,
                n->op->name, r, x, r, o, o, x, up, loc, added);
    }
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
