/*
 * finite.c -- the optional finite check: after each op's forward, one pass over its output;
 * the first op that produced a NaN or an Inf fails the tape with a message that says which op,
 * where, and from which inputs.
 */
#include "autograd_private.h"

#include <math.h>
#include <string.h>

int ag_tape_check_finite(ag_tape *t, bool on) {
    if (!t) {
        ag_no_tape("ag_tape_check_finite");
        return -1;
    }
    t->check_finite = on;
    return 0;
}

/* The exponent bits of an IEEE-754 float are all ones exactly for NaN and +-Inf. */
#define EXPONENT 0x7F800000u

static bool finite_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & EXPONENT) != EXPONENT;
}

/* True when v[0..n-1] are all finite: an OR of integer tests without branches, which the
 * compiler vectorises, so the check costs about one read of the output. */
static bool all_finite(const float *v, int n) {
    unsigned bad = 0;
    for (int i = 0; i < n; i++) bad |= !finite_bits(v[i]);
    return !bad;
}

/* "1 (2,3) from matmul", "2 (1,3) leaf 'hidden.b' [holds NaN]" */
static void describe_input(char *buf, size_t size, int i, const ag_tensor *x) {
    const char *origin = x->node ? "from " : "leaf";
    const char *op = x->node ? x->node->op->name : "";
    char name[48] = "";
    if (!x->node && x->name) snprintf(name, sizeof name, " '%s'", x->name);
    const char *holds = "";
    if (!all_finite(x->data, x->numel)) {
        holds = " [holds Inf]";
        for (int k = 0; k < x->numel; k++)
            if (isnan(x->data[k])) holds = " [holds NaN]";
    }
    snprintf(buf, size, "%s%d %s %s%s%s%s", i ? ", " : "", i + 1, ag_fmt_shape(x).s, origin, op,
             name, holds);
}

ag_tensor *ag_check_finite(ag_node *n) {
    ag_tensor *out = &n->out;
    if (all_finite(out->data, out->numel)) return out;
    int bad = 0;
    while (finite_bits(out->data[bad])) bad++;
    char inputs[200] = "", one[96];
    for (int i = 0; i < n->nin && i < 4; i++) {
        describe_input(one, sizeof one, i, n->in[i]);
        strncat(inputs, one, sizeof inputs - strlen(inputs) - 1);
    }
    if (n->nin > 4) strncat(inputs, ", ...", sizeof inputs - strlen(inputs) - 1);
    return ag_fail(out->tape, AG_ERR_NOT_FINITE, "%s: output %s holds %s at element %d; inputs: %s",
                   n->op->name, ag_fmt_shape(out).s, isnan(out->data[bad]) ? "NaN" : "Inf", bad,
                   inputs);
}
