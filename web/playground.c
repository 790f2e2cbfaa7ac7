/*
 * playground.c -- what the in-browser playground (web/index.html) asks of the library: the C
 * side of the page, compiled with the library to WebAssembly by `make web` (and natively, for
 * web/playground_cli.c, the reference the browser test compares the page with).
 *
 * It uses only the public API (backprop.h). Every number the page shows comes from here: the
 * forward values, the narrated sweep (ag_tape_set_trace), the gradients after each step of it
 * (ag_backward_steps), the tape as Graphviz DOT (ag_tape_write_dot), and training with the
 * paper's rule (nn_sgd_new, nn_optim_step). The page only draws.
 *
 * The models: the one neuron of examples/chain_rule, XOR on a 2-2-1 net and mirror symmetry on a
 * 6-2-1 net (both initialised as examples/xor and examples/symmetry do, seed for seed), XOR on a
 * net with no hidden unit (2-1: it never learns it, as examples/xor --arch 2-1), and an
 * expression the learner types, parsed below: numbers, variables (each a parameter), + - * / ^
 * (a whole power), unary minus, parentheses and the functions sigmoid tanh relu exp log sqrt sin
 * cos abs square. Its error is E = 1/2 (f - d)^2 with the target d.
 *
 * The calls answer with a number and, where there is text, leave it in one buffer the page
 * reads with pg_text() and pg_text_length() (valid until the next call).
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "playground.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_VALUES = 24, MAX_RECORDED = 512, NAME_CHARS = 16, EXPR_CHARS = 512, MAX_NUMBERS = 128 };

/* One value the learner may edit: data on the tape (inputs, targets) or a parameter. */
typedef struct {
    char name[NAME_CHARS];
    double value;
    ag_tensor *param; /* the parameter, or NULL for data */
} editable;

/* One node the forward pass recorded, with how it was computed in words ("s + b"). */
typedef struct {
    ag_tensor *out;
    char formula[96];
} recorded;

static struct {
    int model;
    unsigned long seed;
    double eps, alpha;
    nn_params *ps;
    nn_optim *opt;
    ag_tape *tape;
    ag_tensor *X, *D;          /* XOR and symmetry: the cases and their targets (user-owned) */
    nn_mlp net;                /* XOR and symmetry */
    editable values[MAX_VALUES];
    int nvalues;
    ag_tensor *loss;           /* the last recording's E */
    recorded nodes[MAX_RECORDED];
    int nnodes;
    char expr[EXPR_CHARS];     /* the typed expression */
    long sweeps;               /* weight changes since the model was made */
    char *text;                /* the answer of the last call */
    size_t text_len;
    char input[EXPR_CHARS];    /* where the page writes a string for pg_set_expression */
} pg = {.seed = 1, .eps = 0.5, .alpha = 0.9};

/* ---- the answer buffer ------------------------------------------------------------------- */

static FILE *answer_begin(void) {
    free(pg.text);
    pg.text = NULL;
    pg.text_len = 0;
    return open_memstream(&pg.text, &pg.text_len);
}

static int answer_end(FILE *f) { return fclose(f) == 0 ? 0 : -1; }

static int answer(const char *fmt, ...) {
    FILE *f = answer_begin();
    if (!f) return -1;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    return answer_end(f);
}

/* An error for the page: -1, with the message as the text. */
static int fail_with(const char *what) {
    answer("%s", what && *what ? what : "unknown error");
    return -1;
}

PG_EXPORT(pg_text) const char *pg_text(void) { return pg.text ? pg.text : ""; }
PG_EXPORT(pg_text_length) int pg_text_length(void) { return (int)pg.text_len; }
PG_EXPORT(pg_input) char *pg_input(void) { return pg.input; }
PG_EXPORT(pg_input_size) int pg_input_size(void) { return (int)sizeof pg.input; }

/* ---- values: "[0.5, -1; 2, 0]" as the trace writes them ------------------------------------ */

static void put_values(FILE *f, const ag_tensor *x, const float *v) {
    if (x->numel == 1) {
        fprintf(f, "%.4g", v[0]);
        return;
    }
    if (x->numel > 8) {
        double s = 0.0;
        for (int i = 0; i < x->numel; i++) s += (double)v[i] * v[i];
        char shape[64];
        fprintf(f, "[%s norm %.4g]", ag_shape_str(x, shape, sizeof shape), sqrt(s));
        return;
    }
    const int cols = x->shape[x->ndim - 1];
    for (int i = 0; i < x->numel; i++)
        fprintf(f, "%s%.4g", i == 0 ? "[" : i % cols == 0 ? "; " : ", ", v[i]);
    fputc(']', f);
}

/* ---- recording: each op result is kept with its formula ----------------------------------- */

static ag_tensor *keep(ag_tensor *x, const char *name, const char *fmt, ...) {
    if (name) ag_tensor_set_name(x, name);
    if (pg.nnodes < MAX_RECORDED && ag_op_name(x)[0] && strcmp(ag_op_name(x), "leaf") != 0) {
        recorded *r = &pg.nodes[pg.nnodes++];
        r->out = x;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->formula, sizeof r->formula, fmt, ap);
        va_end(ap);
    }
    return x;
}

static const char *nm(const ag_tensor *x, char buf[NAME_CHARS + 8]) {
    if (x->name) return x->name;
    for (int i = 0; i < pg.nnodes; i++)
        if (pg.nodes[i].out == x) {
            snprintf(buf, NAME_CHARS + 8, "v%d", i);
            return buf;
        }
    return "?";
}

/* A dense layer written out as ops (matmul, add, sigmoid; nn_dense_forward records the same
 * arithmetic as one fused linear node), each node kept and named: NAME_in, NAME_x (the total
 * input) and NAME (the output). */
static ag_tensor *dense(ag_tape *t, ag_tensor *in, const nn_dense *l, const char *prod,
                        const char *total, const char *out) {
    char a[NAME_CHARS + 8];
    ag_tensor *p = keep(ag_matmul(t, in, l->W), prod, "%s %s", nm(in, a), l->W->name);
    ag_tensor *x = keep(ag_add(t, p, l->b), total, "%s + %s", prod, l->b->name);
    return keep(ag_sigmoid(t, x), out, "sigmoid(%s)", total);
}

/* ---- the typed expression -------------------------------------------------------------- */

typedef struct {
    const char *s;
    ag_tape *t;      /* NULL: only find the variables */
    char error[160];
} parser;

static ag_tensor *parse_sum(parser *p);

static void skip_space(parser *p) {
    while (isspace((unsigned char)*p->s)) p->s++;
}

static ag_tensor *parse_error(parser *p, const char *what) {
    if (!p->error[0])
        snprintf(p->error, sizeof p->error, "%s at '%.20s'", what, *p->s ? p->s : "the end");
    return NULL;
}

static editable *variable(const char *name, bool add) {
    for (int i = 0; i < pg.nvalues; i++)
        if (!strcmp(pg.values[i].name, name)) return &pg.values[i];
    if (!add || pg.nvalues >= MAX_VALUES) return NULL;
    editable *v = &pg.values[pg.nvalues++];
    snprintf(v->name, sizeof v->name, "%s", name);
    v->value = 0.5;
    v->param = NULL;
    return v;
}

/* A stand-in for nodes while the variables are being found (no tape yet). */
static ag_tensor placeholder;

static ag_tensor *parse_primary(parser *p) {
    skip_space(p);
    if (*p->s == '(') {
        p->s++;
        ag_tensor *x = parse_sum(p);
        skip_space(p);
        if (*p->s != ')') return parse_error(p, "expected ')'");
        p->s++;
        return x;
    }
    if (isdigit((unsigned char)*p->s) || *p->s == '.') {
        char *end;
        double v = strtod(p->s, &end);
        if (end == p->s) return parse_error(p, "expected a number");
        /* a tape constant, named by its text (the names must outlive the step: a static pool) */
        static char numbers[MAX_NUMBERS][NAME_CHARS];
        static int next;
        int len = (int)(end - p->s);
        p->s = end;
        if (!p->t) return &placeholder;
        ag_tensor *c = ag_scalar(p->t, v);
        char *name = numbers[next++ % MAX_NUMBERS];
        snprintf(name, NAME_CHARS, "%.*s", len < NAME_CHARS ? len : NAME_CHARS - 1, end - len);
        ag_tensor_set_name(c, name);
        return c;
    }
    if (!isalpha((unsigned char)*p->s) && *p->s != '_') return parse_error(p, "expected a value");
    char name[NAME_CHARS];
    int n = 0;
    while (isalnum((unsigned char)p->s[n]) || p->s[n] == '_') n++;
    if (n >= NAME_CHARS) return parse_error(p, "name too long (at most 15 characters)");
    memcpy(name, p->s, (size_t)n);
    name[n] = '\0';
    p->s += n;
    skip_space(p);
    static const char *const fns[] = {"sigmoid", "tanh", "relu", "exp",  "log",
                                      "sqrt",    "sin",  "cos",  "abs", "square"};
    for (int f = 0; f < (int)(sizeof fns / sizeof fns[0]); f++) {
        if (strcmp(name, fns[f]) != 0) continue;
        if (*p->s != '(') return parse_error(p, "expected '(' after a function");
        p->s++;
        ag_tensor *a = parse_sum(p);
        skip_space(p);
        if (!a || *p->s != ')') return parse_error(p, "expected ')'");
        p->s++;
        if (!p->t) return &placeholder;
        ag_tensor *(*const op[])(ag_tape *, ag_tensor *) = {
            ag_sigmoid, ag_tanh, ag_relu, ag_exp, ag_log, ag_sqrt, ag_sin, ag_cos, ag_abs, ag_square};
        char an[NAME_CHARS + 8];
        const char *aname = nm(a, an);
        char fn[96];
        snprintf(fn, sizeof fn, "%s(%s)", name, aname);
        return keep(op[f](p->t, a), NULL, "%s", fn);
    }
    if (!strcmp(name, "d")) return parse_error(p, "d is the target: give the variable another name");
    editable *v = variable(name, !p->t);
    if (!v) return parse_error(p, "too many variables");
    return p->t ? v->param : &placeholder;
}

static ag_tensor *parse_power(parser *p) {
    ag_tensor *x = parse_primary(p);
    skip_space(p);
    if (!x || *p->s != '^') return x;
    p->s++;
    skip_space(p);
    char *end;
    double k = strtod(p->s, &end);
    if (end == p->s) return parse_error(p, "expected a number after '^'");
    p->s = end;
    if (!p->t) return &placeholder;
    char xn[NAME_CHARS + 8];
    return keep(ag_pow(p->t, x, k), NULL, "%s^%g", nm(x, xn), k);
}

static ag_tensor *parse_unary(parser *p) {
    skip_space(p);
    if (*p->s == '-') {
        p->s++;
        ag_tensor *x = parse_unary(p);
        if (!x || !p->t) return x;
        char xn[NAME_CHARS + 8];
        return keep(ag_neg(p->t, x), NULL, "-%s", nm(x, xn));
    }
    return parse_power(p);
}

static ag_tensor *parse_product(parser *p) {
    ag_tensor *x = parse_unary(p);
    for (;;) {
        skip_space(p);
        char op = *p->s;
        if (!x || (op != '*' && op != '/')) return x;
        p->s++;
        ag_tensor *y = parse_unary(p);
        if (!y) return NULL;
        if (!p->t) continue;
        char xn[NAME_CHARS + 8], yn[NAME_CHARS + 8];
        const char *a = nm(x, xn), *b = nm(y, yn);
        x = op == '*' ? keep(ag_mul(p->t, x, y), NULL, "%s * %s", a, b)
                      : keep(ag_div(p->t, x, y), NULL, "%s / %s", a, b);
    }
}

static ag_tensor *parse_sum(parser *p) {
    ag_tensor *x = parse_product(p);
    for (;;) {
        skip_space(p);
        char op = *p->s;
        if (!x || (op != '+' && op != '-')) return x;
        p->s++;
        ag_tensor *y = parse_product(p);
        if (!y) return NULL;
        if (!p->t) continue;
        char xn[NAME_CHARS + 8], yn[NAME_CHARS + 8];
        const char *a = nm(x, xn), *b = nm(y, yn);
        x = op == '+' ? keep(ag_add(p->t, x, y), NULL, "%s + %s", a, b)
                      : keep(ag_sub(p->t, x, y), NULL, "%s - %s", a, b);
    }
}

/* Parse the whole text; NULL with p->error set on a syntax error. */
static ag_tensor *parse_all(parser *p) {
    ag_tensor *x = parse_sum(p);
    skip_space(p);
    if (x && *p->s) return parse_error(p, "unexpected text");
    return x;
}

/* ---- the models ------------------------------------------------------------------------- */

static void free_model(void) {
    ag_tape_free(pg.tape);
    nn_optim_free(pg.opt);
    nn_params_free(pg.ps);
    ag_tensor_free(pg.X);
    ag_tensor_free(pg.D);
    pg.tape = NULL, pg.opt = NULL, pg.ps = NULL, pg.X = NULL, pg.D = NULL, pg.loss = NULL;
    pg.nvalues = 0, pg.nnodes = 0, pg.sweeps = 0;
}

static editable *add_value(const char *name, double v, bool is_param) {
    editable *e = &pg.values[pg.nvalues++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->value = v;
    e->param = is_param ? nn_param_new(pg.ps, name, 1, (const int[]){1}) : NULL;
    if (e->param) e->param->data[0] = (float)v;
    return e;
}

/* The 64 patterns of 6 bits and their targets: 1 when the pattern is its own mirror image. */
static void symmetry_cases(float x[64 * 6], float d[64]) {
    for (int p = 0; p < 64; p++) {
        for (int i = 0; i < 6; i++) x[p * 6 + i] = (float)((p >> (5 - i)) & 1);
        bool mirror = true;
        for (int i = 0; i < 3; i++) mirror = mirror && x[p * 6 + i] == x[p * 6 + 5 - i];
        d[p] = mirror ? 1.0f : 0.0f;
    }
}

/* The net's weights as editable values (their names are the library's, e.g. xor.1.W[0]). */
static void net_values(void) {
    for (int i = 0; i < nn_params_count(pg.ps); i++) {
        ag_tensor *w = nn_params_at(pg.ps, i);
        for (int k = 0; k < w->numel && pg.nvalues < MAX_VALUES; k++) {
            editable *e = &pg.values[pg.nvalues++];
            snprintf(e->name, sizeof e->name, "%s[%d]", w->name, k);
            e->value = w->data[k];
            e->param = w;
        }
    }
}

PG_EXPORT(pg_set_seed) void pg_set_seed(int seed) { pg.seed = seed < 0 ? 0 : (unsigned long)seed; }

/* Make model 0 (the neuron), 1 (XOR 2-2-1), 2 (symmetry 6-2-1), 3 (the expression set with
 * pg_set_expression) or 4 (XOR with no hidden unit, 2-1). Returns 0, or -1 with the reason as
 * the text. */
PG_EXPORT(pg_model) int pg_model(int model) {
    free_model();
    pg.model = model;
    pg.ps = nn_params_new();
    pg.tape = ag_tape_new();
    if (!pg.ps || !pg.tape) return fail_with(ag_last_error());
    if (model == 0) {
        add_value("x1", 1.0, false), add_value("x2", 2.0, false);
        add_value("w1", 0.5, true), add_value("w2", -0.25, true), add_value("b", 0.5, true);
        add_value("d", 1.0, false);
    } else if (model == 1 || model == 2 || model == 4) {
        static const float xor_x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, xor_d[4] = {0, 1, 1, 0};
        float sym_x[64 * 6], sym_d[64];
        symmetry_cases(sym_x, sym_d);
        nn_rng rng = nn_rng_seed(pg.seed);
        const bool is_xor = model != 2;
        pg.net = nn_mlp_new(pg.ps, is_xor ? "xor" : "sym",
                            model == 1 ? "2-2-1" : model == 4 ? "2-1" : "6-2-1", NN_SIGMOID,
                            NN_SIGMOID, nn_init_uniform(0.3), &rng);
        const int cases = is_xor ? 4 : 64, in = is_xor ? 2 : 6;
        pg.X = ag_tensor_from(2, (const int[]){cases, in}, is_xor ? xor_x : sym_x, false);
        pg.D = ag_tensor_from(2, (const int[]){cases, 1}, is_xor ? xor_d : sym_d, false);
        if (!pg.net.nlayers || !pg.X || !pg.D) return fail_with(ag_last_error());
        ag_tensor_set_name(pg.X, "X");
        ag_tensor_set_name(pg.D, "d");
        net_values();
    } else if (model == 3) {
        parser p = {pg.expr, NULL, ""};
        if (!parse_all(&p)) return fail_with(p.error);
        for (int i = 0; i < pg.nvalues; i++) {
            editable *v = &pg.values[i];
            v->param = nn_param_new(pg.ps, v->name, 1, (const int[]){1});
            if (!v->param) return fail_with(ag_last_error());
            v->param->data[0] = (float)v->value;
        }
        if (pg.nvalues >= MAX_VALUES) return fail_with("too many variables");
        add_value("d", 1.0, false);
    } else {
        return fail_with("no such model");
    }
    if (model != 2) pg.eps = 0.5, pg.alpha = 0.9;
    else pg.eps = 0.1, pg.alpha = 0.9; /* examples/symmetry's settings */
    pg.opt = nn_sgd_new(pg.ps, pg.eps, pg.alpha);
    if (!pg.opt) return fail_with(ag_last_error());
    return answer("ok");
}

/* The text typed for model 3, from pg_input(). Returns 0, or -1 with the syntax error. */
PG_EXPORT(pg_set_expression) int pg_set_expression(void) {
    pg.input[sizeof pg.input - 1] = '\0';
    if (!pg.input[0]) return fail_with("the expression is empty");
    snprintf(pg.expr, sizeof pg.expr, "%s", pg.input);
    return pg_model(3);
}

/* The editable values, one a line: "name<TAB>value<TAB>parameter|data". */
PG_EXPORT(pg_values) int pg_values(void) {
    FILE *f = answer_begin();
    if (!f) return -1;
    for (int i = 0; i < pg.nvalues; i++) {
        const editable *e = &pg.values[i];
        double v = e->value;
        if (e->param) { /* the parameter's current value (training changes it) */
            const char *bracket = strchr(e->name, '[');
            v = e->param->data[bracket ? atoi(bracket + 1) : 0];
        }
        fprintf(f, "%s\t%.9g\t%s\n", e->name, v, e->param ? "parameter" : "data");
    }
    return answer_end(f);
}

PG_EXPORT(pg_set_value) int pg_set_value(int i, double v) {
    if (i < 0 || i >= pg.nvalues || !isfinite(v)) return fail_with("no such value, or not a number");
    editable *e = &pg.values[i];
    e->value = v;
    if (e->param) {
        const char *bracket = strchr(e->name, '[');
        e->param->data[bracket ? atoi(bracket + 1) : 0] = (float)v;
    }
    return answer("ok");
}

static double data_value(const char *name) {
    editable *e = variable(name, false);
    return e ? e->value : 0.0;
}

/* Record the forward pass (the tape is reset first); returns the number of nodes, or -1 with
 * the tape's error. */
PG_EXPORT(pg_record) int pg_record(void) {
    ag_tape *t = pg.tape;
    if (!t) return fail_with("no model");
    ag_tape_reset(t);
    pg.nnodes = 0;
    ag_tensor *E = NULL;
    if (pg.model == 0) {
        ag_tensor *w1 = variable("w1", false)->param, *w2 = variable("w2", false)->param;
        ag_tensor *b = variable("b", false)->param;
        ag_tensor *x1 = ag_scalar(t, data_value("x1")), *x2 = ag_scalar(t, data_value("x2"));
        ag_tensor *d = ag_scalar(t, data_value("d"));
        ag_tensor_set_name(x1, "x1"), ag_tensor_set_name(x2, "x2"), ag_tensor_set_name(d, "d");
        ag_tensor *a1 = keep(ag_mul(t, w1, x1), "a1", "w1 * x1");
        ag_tensor *a2 = keep(ag_mul(t, w2, x2), "a2", "w2 * x2");
        ag_tensor *s = keep(ag_add(t, a1, a2), "s", "a1 + a2");
        ag_tensor *z = keep(ag_add(t, s, b), "z", "s + b");
        ag_tensor *y = keep(ag_sigmoid(t, z), "y", "sigmoid(z)");
        E = keep(ag_sse(t, y, d), "E", "1/2 (y - d)^2");
    } else if (pg.model == 1 || pg.model == 2) {
        ag_tensor *h = dense(t, pg.X, &pg.net.layer[0], "X_W1", "x_h", "h");
        ag_tensor *y = dense(t, h, &pg.net.layer[1], "h_W2", "x_o", "y");
        E = keep(ag_sse(t, y, pg.D), "E", "1/2 sum (y - d)^2");
    } else if (pg.model == 4) { /* no hidden unit: the output sees the inputs only */
        ag_tensor *y = dense(t, pg.X, &pg.net.layer[0], "X_W", "x_o", "y");
        E = keep(ag_sse(t, y, pg.D), "E", "1/2 sum (y - d)^2");
    } else {
        parser p = {pg.expr, t, ""};
        ag_tensor *fx = parse_all(&p);
        if (!fx) return fail_with(p.error);
        if (pg.nnodes == 0) return fail_with("the expression computes nothing: use an operator");
        if (!fx->name) ag_tensor_set_name(fx, "f");
        ag_tensor *d = ag_scalar(t, data_value("d"));
        ag_tensor_set_name(d, "d");
        E = keep(ag_sse(t, fx, d), "E", "1/2 (f - d)^2");
    }
    if (ag_tape_error(t)) return fail_with(ag_tape_error(t));
    pg.loss = E;
    return pg.nnodes;
}

/* The forward pass's node i as a line: "node 2 add: s = a1 + a2 = 0". */
PG_EXPORT(pg_forward_line) int pg_forward_line(int i) {
    if (i < 0 || i >= pg.nnodes) return fail_with("no such node");
    const recorded *r = &pg.nodes[i];
    char buf[NAME_CHARS + 8];
    FILE *f = answer_begin();
    if (!f) return -1;
    fprintf(f, "node %d %s: %s = %s = ", i, ag_op_name(r->out), nm(r->out, buf), r->formula);
    put_values(f, r->out, r->out->data);
    return answer_end(f);
}

/* Record, then run the first `steps` nodes of the reverse sweep (all of them when steps < 0),
 * narrated: the text is the narration. Returns the number of nodes the sweep narrated. */
PG_EXPORT(pg_backward) int pg_backward(int steps) {
    if (pg_record() < 0) return -1;
    FILE *f = answer_begin();
    if (!f) return -1;
    ag_tape_set_trace(pg.tape, f);
    int rc = steps < 0 ? ag_backward(pg.tape, pg.loss) : ag_backward_steps(pg.tape, pg.loss, steps);
    ag_tape_set_trace(pg.tape, NULL);
    if (answer_end(f) != 0) return -1;
    if (rc != 0) return fail_with(ag_tape_error(pg.tape));
    int narrated = 0, last = -1;
    for (const char *l = pg.text; l && (l = strstr(l, "\nnode ")); l++) {
        int idx = atoi(l + 6);
        if (idx != last) narrated++, last = idx;
    }
    nn_zero_grad(pg.ps); /* the gradients are for looking at: training starts from zero */
    return narrated;
}

/* The tape as Graphviz DOT, as the last pg_record or pg_backward left it (values, and the
 * gradients so far). The gradients are zeroed afterwards by pg_backward, so the picture is
 * written by pg_backward_dot instead when gradients are wanted. */
static int write_dot(void) {
    FILE *f = answer_begin();
    if (!f) return -1;
    int rc = ag_tape_write_dot(pg.tape, f);
    if (answer_end(f) != 0 || rc != 0) return fail_with(ag_last_error());
    return 0;
}

PG_EXPORT(pg_forward_dot) int pg_forward_dot(void) {
    if (pg_record() < 0) return -1;
    return write_dot();
}

/* The picture after `steps` nodes of the sweep (all when steps < 0). */
PG_EXPORT(pg_backward_dot) int pg_backward_dot(int steps) {
    if (pg_record() < 0) return -1;
    int rc = steps < 0 ? ag_backward(pg.tape, pg.loss) : ag_backward_steps(pg.tape, pg.loss, steps);
    if (rc != 0) return fail_with(ag_tape_error(pg.tape));
    rc = write_dot();
    nn_zero_grad(pg.ps);
    return rc;
}

/* eps and alpha of the paper's rule from the next sweep on. */
PG_EXPORT(pg_set_rule) int pg_set_rule(double eps, double alpha) {
    if (!pg.opt) return fail_with("no model");
    if (!isfinite(eps) || eps < 0 || !isfinite(alpha) || alpha < 0 || alpha >= 1)
        return fail_with("eps must be 0 or more, alpha in [0, 1)");
    nn_optim_set_lr(pg.opt, eps);
    nn_optim_set_momentum(pg.opt, alpha);
    pg.eps = eps, pg.alpha = alpha;
    return answer("ok");
}

/* `sweeps` weight changes, full batch: record, sweep, step. The text is the error E before each
 * change, one a line, then the error after the last one ("%.9g": a float read back exactly). */
PG_EXPORT(pg_train) int pg_train(int sweeps) {
    FILE *f = answer_begin();
    if (!f) return -1;
    int rc = 0;
    for (int s = 0; s < sweeps && rc == 0; s++) {
        if (pg_record_quiet() < 0 || ag_backward(pg.tape, pg.loss) != 0) rc = -1;
        else fprintf(f, "%.9g\n", ag_item(pg.loss));
        if (rc == 0 && nn_optim_step(pg.opt, pg.tape) != 0) rc = -1;
        if (rc == 0) pg.sweeps++;
    }
    if (rc == 0 && pg_record_quiet() >= 0) fprintf(f, "%.9g\n", ag_item(pg.loss));
    if (answer_end(f) != 0) return -1;
    if (rc != 0) return fail_with(nn_error(pg.tape));
    return (int)pg.sweeps;
}

/* Record without touching the answer (pg_record writes an error there). */
int pg_record_quiet(void) {
    char *keep_text = pg.text;
    size_t keep_len = pg.text_len;
    pg.text = NULL;
    int n = pg_record();
    if (n < 0) {
        free(pg.text);
        pg.text = keep_text, pg.text_len = keep_len;
        return -1;
    }
    pg.text = keep_text, pg.text_len = keep_len;
    return n;
}

/* The error now and the sweeps so far: "E<TAB>hex<TAB>sweeps". */
PG_EXPORT(pg_error) int pg_error(void) {
    if (pg_record_quiet() < 0) return fail_with(ag_tape_error(pg.tape));
    const float e = (float)ag_item(pg.loss);
    return answer("%.9g\t%a\t%ld", e, (double)e, pg.sweeps);
}

/* The weights for the Hinton diagram, one parameter a line: "name rows cols v v v ...". */
PG_EXPORT(pg_weights) int pg_weights(void) {
    FILE *f = answer_begin();
    if (!f) return -1;
    for (int i = 0; i < nn_params_count(pg.ps); i++) {
        const ag_tensor *w = nn_params_at(pg.ps, i);
        fprintf(f, "%s %d %d", w->name, w->ndim > 1 ? w->shape[0] : 1, w->shape[w->ndim - 1]);
        for (int k = 0; k < w->numel; k++) fprintf(f, " %.6g", w->data[k]);
        fputc('\n', f);
    }
    return answer_end(f);
}

/* The outputs for every case, and how many are on the right side of 0.5: "right/cases y y ...". */
PG_EXPORT(pg_outputs) int pg_outputs(void) {
    if (pg_record_quiet() < 0) return fail_with(ag_tape_error(pg.tape));
    const ag_tensor *y = pg.nodes[pg.nnodes - 1].out; /* E's node: its first input is y */
    for (int i = 0; i < pg.nnodes; i++)
        if (pg.nodes[i].out->name && !strcmp(pg.nodes[i].out->name, "y")) y = pg.nodes[i].out;
    FILE *f = answer_begin();
    if (!f) return -1;
    int right = 0;
    for (int i = 0; pg.D && i < y->numel; i++) right += (y->data[i] > 0.5f) == (pg.D->data[i] > 0.5f);
    fprintf(f, "%d/%d", right, pg.D ? pg.D->numel : 0);
    for (int i = 0; i < y->numel; i++) fprintf(f, " %.4f", y->data[i]);
    return answer_end(f);
}
