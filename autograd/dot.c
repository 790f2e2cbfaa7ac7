/*
 * dot.c -- the recorded tape as a Graphviz DOT picture (ag_tape_write_dot), and the names
 * pictures and traces give tensors.
 *
 * Op results are the nodes n0, n1, ... in the order they ran; leaves (parameters, data, tape
 * constants) are l0, l1, ... in the order of their first use. Edges go from inputs to outputs,
 * so the picture reads left to right like the forward pass; the gradients in the boxes are
 * what the reverse sweep left there.
 */
#include "autograd_private.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define DOT_MAX_VALUES 8 /* tensors up to this size show every value; bigger ones their norm */

typedef enum { OP_RESULT, PARAMETER, DATA, CONSTANT } tensor_kind;

static tensor_kind kind_of(const ag_tensor *x) {
    if (x->node) return OP_RESULT;
    if (x->flags & AG_USER_OWNED) return (x->flags & AG_REQUIRES_GRAD) ? PARAMETER : DATA;
    return CONSTANT;
}

const char *ag_label(const ag_tensor *x, char buf[AG_LABEL_MAX]) {
    if (x->name) return x->name;
    static const char *const leaf[] = {"", "param", "data", "const"};
    if (x->node) snprintf(buf, AG_LABEL_MAX, "v%d", x->node->index);
    else snprintf(buf, AG_LABEL_MAX, "%s", leaf[kind_of(x)]);
    return buf;
}

/* ---- the leaves: a small open-addressing set of pointers, numbered by first use ------------- */

typedef struct {
    const ag_tensor **key;
    int *id;
    size_t cap; /* a power of two, at least twice the number of entries */
    int n;
} leaf_set;

static size_t slot_of(const leaf_set *s, const ag_tensor *x) {
    size_t h = (size_t)((uintptr_t)x >> 4) * (size_t)0x9E3779B97F4A7C15ull;
    size_t i = h & (s->cap - 1);
    while (s->key[i] && s->key[i] != x) i = (i + 1) & (s->cap - 1);
    return i;
}

/* The leaf's number, adding it when new; *is_new says which. */
static int leaf_id(leaf_set *s, const ag_tensor *x, bool *is_new) {
    size_t i = slot_of(s, x);
    *is_new = !s->key[i];
    if (*is_new) {
        s->key[i] = x;
        s->id[i] = s->n++;
    }
    return s->id[i];
}

/* ---- writing ----------------------------------------------------------------------------- */

/* Text for an HTML-like DOT label: &, <, > and " escaped. */
static void put_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* "0.5", or "[1, 2" <br/> "3, 4]" (a line per row of a matrix; a column on one line), or
 * "norm 12.3" for big tensors. */
static void put_values(FILE *f, const ag_tensor *x, const float *v) {
    if (x->numel == 1) {
        fprintf(f, "%.4g", v[0]);
        return;
    }
    if (x->numel > DOT_MAX_VALUES) {
        double s = 0.0;
        for (int i = 0; i < x->numel; i++) s += (double)v[i] * v[i];
        fprintf(f, "norm %.4g", sqrt(s));
        return;
    }
    const int cols = x->shape[x->ndim - 1];
    fputc('[', f);
    for (int i = 0; i < x->numel; i++)
        fprintf(f, "%s%.4g", i == 0 ? "" : i % cols == 0 && cols > 1 ? "<br/>" : ", ", v[i]);
    fputc(']', f);
}

/* One box: a title line, then the shape, the value and the gradient (if it has one). */
static void put_box(FILE *f, const char *id, const ag_tensor *x, const char *style,
                    const char *title, const char *kind) {
    char lb[AG_LABEL_MAX], sb[64];
    fprintf(f, "  %s [%s, label=<<b>", id, style);
    put_escaped(f, title);
    fputs("</b>", f);
    if (kind) fprintf(f, " <i>%s</i>", kind);
    fputs("<br/>", f);
    if (x->node) { /* op results: the box is titled by the op, so name the tensor here */
        put_escaped(f, ag_label(x, lb));
        fputc(' ', f);
    }
    fprintf(f, "%s<br/>value ", ag_shape_str(x, sb, sizeof sb));
    put_values(f, x, x->data);
    if (x->grad) { /* gradients in red-brown: they flow the other way */
        fputs("<br/><font color=\"#b03000\">grad ", f);
        put_values(f, x, x->grad);
        fputs("</font>", f);
    }
    fputs(">];\n", f);
}

static const char *const STYLE[] = {
    [OP_RESULT] = "shape=box, style=\"rounded,filled\", fillcolor=\"#e8f0e0\", color=\"#55704a\"",
    [PARAMETER] = "shape=box, style=\"filled,bold\", fillcolor=\"#ffd27f\", color=\"#a05a00\"",
    [DATA] = "shape=box, style=\"filled\", fillcolor=\"#cfe2ff\", color=\"#3a5f9a\"",
    [CONSTANT] = "shape=box, style=\"filled,dashed\", fillcolor=\"#f2f2f2\", color=\"#808080\"",
};

static void put_leaf(FILE *f, int id, const ag_tensor *x) {
    static const char *const kind[] = {"", "parameter", "data", "constant"};
    char name[16], lb[AG_LABEL_MAX];
    snprintf(name, sizeof name, "l%d", id);
    tensor_kind k = kind_of(x);
    put_box(f, name, x, STYLE[k], ag_label(x, lb), x->name ? kind[k] : NULL);
}

static void put_node(FILE *f, const ag_node *n) {
    char name[24], title[64];
    snprintf(name, sizeof name, "n%d", n->index);
    snprintf(title, sizeof title, "node %d: %s", n->index, n->op->name);
    put_box(f, name, &n->out, STYLE[OP_RESULT], title, NULL);
}

int ag_tape_write_dot(const ag_tape *t, FILE *f) {
    if (!t || !f) {
        if (!t) ag_no_tape("ag_tape_write_dot");
        else ag_set_last_error("ag_tape_write_dot: file is NULL");
        return -1;
    }
    /* The nodes in the order they ran, and room for every leaf input. */
    const int nn = t->nnodes;
    size_t ninputs = 0;
    for (const ag_node *n = t->last; n; n = n->prev) ninputs += (size_t)n->nin;
    leaf_set leaves = {NULL, NULL, 16, 0};
    while (leaves.cap < 2 * ninputs) leaves.cap *= 2;
    const ag_node **order = ag_alloc((size_t)(nn > 0 ? nn : 1) * sizeof *order);
    leaves.key = ag_alloc(leaves.cap * sizeof *leaves.key);
    leaves.id = ag_alloc(leaves.cap * sizeof *leaves.id);
    if (!order || !leaves.key || !leaves.id) {
        ag_free((void *)order), ag_free((void *)leaves.key), ag_free(leaves.id);
        ag_set_last_error("ag_tape_write_dot: out of memory for a tape of %d nodes", nn);
        return -1;
    }
    memset((void *)leaves.key, 0, leaves.cap * sizeof *leaves.key);
    for (const ag_node *n = t->last; n; n = n->prev) order[n->index] = n;

    fputs("digraph tape {\n"
          "  rankdir=LR;\n"
          "  node [fontname=\"Helvetica\", fontsize=11];\n"
          "  edge [color=\"#505050\", arrowsize=0.7];\n",
          f);
    for (int i = 0; i < nn; i++) {
        const ag_node *n = order[i];
        for (int k = 0; k < n->nin; k++) {
            const ag_tensor *x = n->in[k];
            bool is_new = false;
            if (!x->node) {
                int id = leaf_id(&leaves, x, &is_new);
                if (is_new) put_leaf(f, id, x);
                fprintf(f, "  l%d -> n%d", id, i);
            } else {
                fprintf(f, "  n%d -> n%d", x->node->index, i);
            }
            /* Operand order matters for sub, div, matmul, the losses: number the edges. */
            if (n->nin > 1) fprintf(f, " [label=\"%d\", fontsize=9]", k + 1);
            fputs(";\n", f);
        }
        put_node(f, n);
    }
    if (t->failed) {
        fputs("  error [shape=note, style=filled, fillcolor=\"#ffd0d0\", color=\"#b00000\", "
              "label=<<b>the tape failed</b><br/>",
              f);
        put_escaped(f, t->error);
        fputs(">];\n", f);
    }
    fputs("}\n", f);
    ag_free((void *)order), ag_free((void *)leaves.key), ag_free(leaves.id);
    if (ferror(f) || fflush(f) != 0) {
        ag_set_last_error("ag_tape_write_dot: write error");
        return -1;
    }
    return 0;
}
