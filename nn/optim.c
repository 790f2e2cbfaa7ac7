/*
 * optim.c -- optimisers: the paper's momentum rule (with its weight decay and alpha schedule)
 * and Adam. A step reads the accumulated gradients, updates every parameter, zeroes the
 * gradients. It checks everything first, so a refused step changes no weight.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

typedef enum { KIND_SGD, KIND_ADAM } optim_kind;

struct nn_optim {
    optim_kind kind;
    nn_params *ps;
    int count;      /* parameters when made: the list must not change afterwards */
    long numel;
    float *s1, *s2; /* SGD: s1 = dw(t-1). Adam: s1 = first moment, s2 = second moment */
    double lr, momentum, decay;
    double beta1, beta2, eps;
    long steps;
    long sched_step; /* -1: no pending change */
    double sched_lr, sched_momentum;
};

/* A hyperparameter that breaks `ok` is refused: the reason goes to ag_last_error. */
static bool hyper_ok(const char *fn, const char *what, double v, bool ok, const char *rule) {
    if (!ok) ag_set_last_error("%s: %s %g must be %s", fn, what, v, rule);
    return ok;
}
#define LR_OK(fn, v) hyper_ok(fn, "learning rate", v, isfinite(v) && (v) >= 0, "finite and >= 0")
#define MOMENTUM_OK(fn, v) hyper_ok(fn, "momentum", v, isfinite(v) && (v) >= 0, "finite and >= 0")
#define UNIT_OK(fn, what, v) hyper_ok(fn, what, v, (v) >= 0 && (v) < 1, "in [0, 1)")

/* The optimiser a setter was given, or NULL with the reason in ag_last_error. */
static nn_optim *need(nn_optim *o, const char *fn) {
    if (!o) ag_set_last_error("%s: optimiser is NULL", fn);
    return o;
}

static nn_optim *optim_new(const char *what, optim_kind kind, nn_params *ps, int nstate) {
    if (!ps || nn_params_count(ps) == 0) {
        ag_set_last_error("%s: %s", what, ps ? "the parameter list is empty" : "parameter list is NULL");
        return NULL;
    }
    nn_optim *o = ag_alloc(sizeof *o);
    if (!o) {
        ag_set_last_error("%s: out of memory", what);
        return NULL;
    }
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->ps = ps;
    o->count = nn_params_count(ps);
    o->numel = nn_params_numel(ps);
    o->sched_step = -1;
    size_t bytes = (size_t)o->numel * sizeof(float);
    o->s1 = ag_alloc(bytes);
    o->s2 = nstate > 1 ? ag_alloc(bytes) : NULL;
    if (!o->s1 || (nstate > 1 && !o->s2)) {
        ag_set_last_error("%s: out of memory for the optimiser state (%ld values)", what, o->numel);
        nn_optim_free(o);
        return NULL;
    }
    memset(o->s1, 0, bytes);
    if (o->s2) memset(o->s2, 0, bytes);
    return o;
}

nn_optim *nn_sgd_new(nn_params *ps, double lr, double momentum) {
    if (!LR_OK("nn_sgd_new", lr) || !MOMENTUM_OK("nn_sgd_new", momentum)) return NULL;
    nn_optim *o = optim_new("nn_sgd_new", KIND_SGD, ps, 1);
    if (o) {
        o->lr = lr;
        o->momentum = momentum;
    }
    return o;
}

nn_optim *nn_adam_new(nn_params *ps, double lr) {
    if (!LR_OK("nn_adam_new", lr)) return NULL;
    nn_optim *o = optim_new("nn_adam_new", KIND_ADAM, ps, 2);
    if (o) {
        o->lr = lr;
        o->beta1 = 0.9;
        o->beta2 = 0.999;
        o->eps = 1e-8;
    }
    return o;
}

void nn_adam_set(nn_optim *o, double beta1, double beta2, double eps) {
    if (!need(o, "nn_adam_set")) return;
    if (o->kind != KIND_ADAM) {
        ag_set_last_error("nn_adam_set: not an Adam optimiser");
        return;
    }
    if (!UNIT_OK("nn_adam_set", "beta1", beta1) || !UNIT_OK("nn_adam_set", "beta2", beta2) ||
        !hyper_ok("nn_adam_set", "eps", eps, isfinite(eps) && eps > 0, "finite and > 0"))
        return;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
}

void nn_optim_free(nn_optim *o) {
    if (!o) return;
    ag_free(o->s1);
    ag_free(o->s2);
    ag_free(o);
}

void nn_optim_set_lr(nn_optim *o, double lr) {
    if (need(o, "nn_optim_set_lr") && LR_OK("nn_optim_set_lr", lr)) o->lr = lr;
}
void nn_optim_set_momentum(nn_optim *o, double momentum) {
    if (need(o, "nn_optim_set_momentum") && MOMENTUM_OK("nn_optim_set_momentum", momentum))
        o->momentum = momentum;
}
void nn_optim_set_weight_decay(nn_optim *o, double decay) {
    if (need(o, "nn_optim_set_weight_decay") && UNIT_OK("nn_optim_set_weight_decay", "decay", decay))
        o->decay = decay;
}
long nn_optim_steps(const nn_optim *o) { return o ? o->steps : 0; }
double nn_optim_lr(const nn_optim *o) { return o ? o->lr : 0.0; }
double nn_optim_momentum(const nn_optim *o) { return o ? o->momentum : 0.0; }

void nn_optim_schedule(nn_optim *o, long step, double lr, double momentum) {
    const char *fn = "nn_optim_schedule";
    if (!need(o, fn)) return;
    if (step < 0) {
        ag_set_last_error("%s: step %ld must be >= 0", fn, step);
        return;
    }
    if (!hyper_ok(fn, "learning rate", lr, isfinite(lr), "finite (negative: keep)") ||
        !hyper_ok(fn, "momentum", momentum, isfinite(momentum), "finite (negative: keep)"))
        return;
    o->sched_step = step;
    o->sched_lr = lr;
    o->sched_momentum = momentum;
}

const char *nn_error(const ag_tape *t) {
    const char *e = t ? ag_tape_error(t) : NULL;
    return e ? e : ag_last_error();
}

/* Everything a step needs must hold before any weight changes. */
static bool step_allowed(const nn_optim *o, const ag_tape *t) {
    if (t && ag_tape_error(t)) return false; /* nn_error(t) reports the tape's error */
    if (nn_params_count(o->ps) != o->count || nn_params_numel(o->ps) != o->numel) {
        ag_set_last_error("optimiser step: the parameter list changed after the optimiser was "
                          "made (%d parameters then, %d now); no weight changed",
                          o->count, nn_params_count(o->ps));
        return false;
    }
    for (int p = 0; p < o->count; p++) {
        const ag_tensor *w = nn_params_at(o->ps, p);
        if (!w->grad) {
            ag_set_last_error("optimiser step: parameter '%s' has no gradient (requires_grad was "
                              "turned off); no weight changed",
                              w->name);
            return false;
        }
        for (int i = 0; i < w->numel; i++)
            if (!isfinite(w->grad[i])) {
                ag_set_last_error("optimiser step: the gradient of %s holds %s at element %d; no "
                                  "weight changed",
                                  w->name, isnan(w->grad[i]) ? "NaN" : "Inf", i);
                return false;
            }
    }
    return true;
}

int nn_optim_step(nn_optim *o, const ag_tape *t) {
    if (!o) {
        ag_set_last_error("optimiser step: optimiser is NULL");
        return -1;
    }
    if (!step_allowed(o, t)) return -1;
    if (o->sched_step >= 0 && o->steps >= o->sched_step) {
        if (o->sched_lr >= 0) o->lr = o->sched_lr;
        if (o->sched_momentum >= 0) o->momentum = o->sched_momentum;
        o->sched_step = -1;
    }
    const float shrink = (float)(1.0 - o->decay);
    float *s1 = o->s1, *s2 = o->s2;
    if (o->kind == KIND_SGD) {
        /* dw(t) = -eps dE/dw + alpha dw(t-1);  w += dw(t);  then w <- (1 - decay) w */
        const float eps = (float)o->lr, alpha = (float)o->momentum;
        for (int p = 0; p < o->count; p++) {
            ag_tensor *w = nn_params_at(o->ps, p);
            for (int i = 0; i < w->numel; i++) {
                s1[i] = -eps * w->grad[i] + alpha * s1[i];
                w->data[i] += s1[i];
                if (o->decay != 0.0) w->data[i] *= shrink;
            }
            s1 += w->numel;
        }
    } else {
        /* m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  w -= lr m^ / (sqrt(v^) + eps) with
         * m^ = m / (1 - b1^t), v^ = v / (1 - b2^t);  then w <- (1 - decay) w */
        const double t1 = (double)(o->steps + 1);
        const float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->eps;
        const float c1 = (float)(1.0 / (1.0 - pow(o->beta1, t1)));
        const float c2 = (float)(1.0 / (1.0 - pow(o->beta2, t1)));
        const float lr = (float)o->lr;
        for (int p = 0; p < o->count; p++) {
            ag_tensor *w = nn_params_at(o->ps, p);
            for (int i = 0; i < w->numel; i++) {
                const float g = w->grad[i];
                s1[i] = b1 * s1[i] + (1.0f - b1) * g;
                s2[i] = b2 * s2[i] + (1.0f - b2) * g * g;
                w->data[i] -= lr * (s1[i] * c1) / (sqrtf(s2[i] * c2) + eps);
                if (o->decay != 0.0) w->data[i] *= shrink;
            }
            s1 += w->numel;
            s2 += w->numel;
        }
    }
    nn_zero_grad(o->ps);
    o->steps++;
    return 0;
}

/* ---- the window save/load uses (nn/internal.h) ---------------------------------------------- */

nn_optim_state nn_optim_state_of(nn_optim *o) {
    nn_optim_state s = {o->kind == KIND_SGD ? NN_OPTIM_SGD : NN_OPTIM_ADAM, o->ps, o->count,
                        o->numel, o->s1, o->s2, &o->steps, &o->lr, &o->momentum, &o->decay,
                        &o->beta1, &o->beta2, &o->eps, &o->sched_step, &o->sched_lr,
                        &o->sched_momentum};
    return s;
}
