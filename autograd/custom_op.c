/*
 * custom_op.c -- ops defined by the user (ag_custom_op in autograd.h): recorded like a built-in
 * op, with the same checks and sticky errors, and run through two small trampolines that hand
 * the user's callbacks a public view of the node instead of the node itself.
 */
#include "autograd_private.h"

#include <string.h>

/* What a custom node keeps in its aux: a table entry of its own (name and the trampolines, so
 * that the sweep, the trace and the DOT picture treat it as any op), the user's definition and
 * the user's pointer. Arena memory: it lives as long as the node. */
typedef struct custom_node {
    ag_op entry;
    const ag_custom_op *def;
    void *user;
} custom_node;

static ag_custom_view view_of(ag_node *n) {
    const custom_node *c = n->aux;
    ag_custom_view v = {n->nin, n->in, &n->out, c->user};
    return v;
}

/* forward: the user's, on the view (inputs' values -> out->data). */
static void custom_fwd(ag_node *n) {
    const custom_node *c = n->aux;
    ag_custom_view v = view_of(n);
    c->def->forward(&v);
}

/* vjp: the user's, on the view (out->grad -> += into each in[i]->grad that is not NULL). */
static void custom_vjp(ag_node *n) {
    const custom_node *c = n->aux;
    ag_custom_view v = view_of(n);
    c->def->vjp(&v);
}

/* Refuse a definition the tape cannot run, naming what is missing. */
static bool definition_ok(ag_tape *t, const ag_custom_op *def, int nin) {
    if (!def) return ag_fail(t, AG_ERR_NULL, "custom: op definition is NULL"), false;
    if (!def->name || !def->name[0])
        return ag_fail(t, AG_ERR_NULL, "custom: op definition has no name"), false;
    if (!def->forward || !def->vjp)
        return ag_fail(t, AG_ERR_NULL, "%s: op definition has no %s function", def->name,
                       def->forward ? "vjp" : "forward"),
               false;
    if (nin < 1 || nin > AG_CUSTOM_MAX_INPUTS)
        return ag_fail(t, AG_ERR_RANGE, "%s: %d inputs; a custom op takes 1 to %d", def->name,
                       nin, AG_CUSTOM_MAX_INPUTS),
               false;
    if (def->nin > 0 && def->nin != nin)
        return ag_fail(t, AG_ERR_RANGE, "%s: given %d inputs, the op takes %d", def->name, nin,
                       def->nin),
               false;
    return true;
}

/* The output's shape: the user's shape function, or else every input's shape, which must then
 * be the same. Records the error and returns false when the inputs do not fit. */
static bool output_shape(ag_tape *t, const ag_custom_op *def, ag_tensor *const *in, int nin,
                         void *user, int *ndim, int shape[AG_MAX_DIMS]) {
    if (def->shape) {
        char why[160] = "";
        *ndim = 0;
        memset(shape, 0, AG_MAX_DIMS * sizeof *shape);
        if (def->shape(in, nin, ndim, shape, why, sizeof why, user) != 0) {
            why[sizeof why - 1] = '\0';
            return ag_fail(t, AG_ERR_SHAPE, "%s: inputs %s%s%s: %s", def->name,
                           ag_fmt_shape(in[0]).s, nin > 1 ? ", " : "",
                           nin > 1 ? ag_fmt_shape(in[1]).s : "", why[0] ? why : "shapes do not fit"),
                   false;
        }
        return true; /* ag_record checks the shape it gave */
    }
    *ndim = in[0]->ndim;
    memcpy(shape, in[0]->shape, AG_MAX_DIMS * sizeof *shape);
    for (int i = 1; i < nin; i++)
        if (in[i]->ndim != in[0]->ndim || memcmp(in[i]->shape, in[0]->shape, sizeof in[0]->shape))
            return ag_fail(t, AG_ERR_SHAPE,
                           "%s: input %d %s differs from input 1 %s (without a shape function "
                           "every input has the output's shape)",
                           def->name, i + 1, ag_fmt_shape(in[i]).s, ag_fmt_shape(in[0]).s),
                   false;
    return true;
}

ag_tensor *ag_custom(ag_tape *t, const ag_custom_op *def, ag_tensor *const *in, int nin,
                     void *user) {
    const char *name = def && def->name && def->name[0] ? def->name : "custom";
    if (!t) {
        ag_no_tape(name);
        return NULL;
    }
    if (t->failed) return ag_poison(t);
    if (!definition_ok(t, def, nin)) return ag_poison(t);
    if (!in) return ag_fail(t, AG_ERR_NULL, "%s: inputs array is NULL", name);
    if (!ag_check_inputs(t, name, nin, in)) return ag_poison(t);
    int ndim, shape[AG_MAX_DIMS];
    if (!output_shape(t, def, in, nin, user, &ndim, shape)) return ag_poison(t);
    custom_node *c = ag_arena_alloc(t, sizeof *c, _Alignof(custom_node), name);
    if (!c) return ag_poison(t);
    c->entry.name = name;
    c->entry.forward = custom_fwd;
    c->entry.vjp = custom_vjp;
    c->def = def;
    c->user = user;
    ag_node *n = ag_record(t, &c->entry, nin, in, ndim, shape, NULL);
    if (!n) return ag_poison(t);
    n->aux = c;
    return ag_run(n);
}
