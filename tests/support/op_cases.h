/*
 * op_cases.h -- every op of the op table (autograd/ops.h) as the tests call it, the shapes it
 * is checked on, and the two checks every op goes through: its gradient against finite
 * differences (tests/test_gradcheck.c) and every bad input (tests/test_badinput.c).
 *
 * The op list comes from AG_OP_LIST; what a new op adds here is its shapes, one line in
 * tu_op_cases[] (op_cases.c). tests/test_op_recipe.c pushes a dummy op through the same
 * macros and checks, as docs/design.md's recipe says.
 */
#ifndef BACKPROP_OP_CASES_H
#define BACKPROP_OP_CASES_H

#include "testutil.h"

#include "ops.h"

/* ---- the ops as the tests call them ---------------------------------------------------------- */

typedef ag_tensor *(*tu_op_call)(ag_tape *t, ag_tensor *const *in, int nin, const ag_op_args *arg);

typedef struct {
    const ag_op *op;       /* its table entry */
    const char *name;      /* how its messages start */
    int inputs;            /* how many tensors it takes (-1: any number) */
    tu_op_call call;       /* its public function, through AG_OP_LIST's call column */
    const char *call_text; /* that column as written, e.g. "ag_add(t, in[0], in[1])" */
} tu_op;

/* A caller and a tu_op for one X(name, inputs, call) line of an op list. */
#define TU_OP_CALLER(name, inputs, call)                                                       \
    static ag_tensor *tu_call_##name(ag_tape *t, ag_tensor *const *in, int nin,                 \
                                     const ag_op_args *arg) {                                   \
        (void)in, (void)nin, (void)arg;                                                         \
        return call;                                                                            \
    }
#define TU_OP_ENTRY(name, inputs, call) {&ag_op_##name, #name, inputs, tu_call_##name, #call},

/* Every op of AG_OP_LIST, in its order. */
extern const tu_op tu_ops[];
extern const int tu_nops;

/* ---- the shapes each op is checked on -------------------------------------------------------- */

/* One input: its shape and the range of its values (with away, magnitudes in [lo, hi] and
 * random signs: away from kinks and poles). */
typedef struct {
    int ndim, shape[4];
    double lo, hi;
    bool away;
} tu_input;

typedef struct {
    const char *label;
    const ag_op *op; /* the op this case checks: the output's node must be this op */
    int nin;
    tu_input in[4];
    ag_op_args arg;
} tu_op_case;

#define TU_S(nd, s0, s1, s2, s3, lo, hi, away) {nd, {s0, s1, s2, s3}, lo, hi, away}
#define TU_P(nd, s0, s1, s2, s3, lo, hi) {nd, {s0, s1, s2, s3}, lo, hi, false}
#define TU_M34 TU_P(2, 3, 4, 1, 1, -1, 1)

/* A binary op with broadcasting on seven pairs of shapes; b's values in [lo, hi]. */
#define BIN(op, label, pa, pb) {label, &ag_op_##op, 2, {pa, pb}, {.c = 0}}
#define BIN_SHAPES(op, lo, hi, away)                                                             \
    BIN(op, #op " (3,4)*(3,4)", TU_M34, TU_S(2, 3, 4, 1, 1, lo, hi, away)),                      \
    BIN(op, #op " (3,4)*(4) row", TU_M34, TU_S(1, 4, 1, 1, 1, lo, hi, away)),                    \
    BIN(op, #op " (3,4)*(1,4) row", TU_M34, TU_S(2, 1, 4, 1, 1, lo, hi, away)),                  \
    BIN(op, #op " (3,4)*(1) scalar", TU_M34, TU_S(1, 1, 1, 1, 1, lo, hi, away)),                 \
    BIN(op, #op " (3,1)*(1,4) both", TU_P(2, 3, 1, 1, 1, -1, 1), TU_S(2, 1, 4, 1, 1, lo, hi, away)), \
    BIN(op, #op " (2,3,4)*(3,1) 3-D", TU_P(3, 2, 3, 4, 1, -1, 1), TU_S(2, 3, 1, 1, 1, lo, hi, away)), \
    BIN(op, #op " (1)*(1) scalars", TU_P(1, 1, 1, 1, 1, -1, 1), TU_S(1, 1, 1, 1, 1, lo, hi, away))
/* A one-input op on one shape, with its arguments (designated initialisers of ag_op_args). */
#define UN(op, label, ps, ...) {label, &ag_op_##op, 1, {ps}, {__VA_ARGS__}}
/* An elementwise op on three shapes, values in [lo, hi], with the constant c. */
#define UN_SHAPES(op, lo, hi, away, constant)                                                    \
    UN(op, #op " (3,4)", TU_S(2, 3, 4, 1, 1, lo, hi, away), .c = constant),                      \
    UN(op, #op " (2,3,2)", TU_S(3, 2, 3, 2, 1, lo, hi, away), .c = constant),                    \
    UN(op, #op " (1)", TU_S(1, 1, 1, 1, 1, lo, hi, away), .c = constant)

/* Every case, and how many there are. */
extern const tu_op_case tu_op_cases[];
extern const int tu_n_op_cases;

/* The tu_op of an op table entry among ops[0..n-1], or NULL. */
const tu_op *tu_op_find(const tu_op *ops, int n, const ag_op *op);

/* The first case of op among cases[0..n-1], or NULL. */
const tu_op_case *tu_op_first_case(const tu_op_case *cases, int n, const ag_op *op);

/* ---- the two checks ------------------------------------------------------------------------- */

/* Check op's gradient on one case against central finite differences (fails the test when the
 * worst relative error is not below 1e-2, or when the output was not made by the case's op). */
void tu_gradcheck_case(const tu_op *op, const tu_op_case *c);

/* Something a bad-input check calls: an op through its tu_op, or a function built on the ops
 * (an nn layer) through an adapter of the same signature. */
typedef struct {
    const char *name; /* how its messages start */
    const char *fn;   /* the public function it calls, e.g. "ag_add" */
    int nin;          /* inputs it takes */
    const tu_input *in; /* their shapes (in[0..nin-1]) */
    const ag_op_args *arg;
    bool layer;       /* built on the ops: NULL inputs are reported by the op it calls */
    tu_op_call call;
} tu_bad_target;

/* The target of an op, with the inputs and arguments of its first case. */
tu_bad_target tu_bad_target_of(const tu_op *op, const tu_op_case *first);

/* The inputs a healthy call takes, made on tape t from the target's shapes. */
void tu_bad_inputs(ag_tape *t, const tu_bad_target *b, ag_tensor **in);

/* The bad-input checks, one by one, on healthy tapes T and O and a tape F that has failed with
 * the message "the first error". Each leaves T and O reset. */
void tu_bad_healthy(const tu_bad_target *b, ag_tape *T);       /* a healthy call works */
void tu_bad_without_tape(const tu_bad_target *b, ag_tape *T);  /* NULL back, "name: tape is NULL" */
void tu_bad_null_inputs(const tu_bad_target *b, ag_tape *T);   /* a NULL in each position */
void tu_bad_failed_tape(const tu_bad_target *b, ag_tape *F);   /* nothing recorded, error kept */
void tu_bad_foreign_inputs(const tu_bad_target *b, ag_tape *T, ag_tape *F, ag_tape *O);
void tu_bad_stale_inputs(const tu_bad_target *b, ag_tape *T);  /* made before T's last reset */

/* All of them, as every op gets them. */
void tu_bad_all(const tu_bad_target *b, ag_tape *T, ag_tape *F, ag_tape *O);

/* Called with the public function's name before every call a check makes (test_badinput counts
 * them to prove every public function has a case); NULL by default. */
extern void (*tu_bad_mark)(const char *fn);

#endif
