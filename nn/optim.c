/*
 * optim.c -- the optimiser object around the table of nn/optim_table.c: making one, its
 * setters (which read the ranges from the table), the learning-rate schedule, and the step.
 * A step reads the accumulated gradients, updates every parameter through the table's step
 * function, zeroes the gradients. It checks everything first, so a refused step changes no
 * weight.
 */
#include "nn_private.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

struct nn_optim {
    const nn_optim_type *type;
    nn_params *ps;
    int count; /* parameters when made: the list must not change afterwards */
    long numel;
    float *state[NN_OPTIM_MAX_STATE]; /* type->nstate buffers of numel values */
    double hyper[NN_OPTIM_MAX_HYPER]; /* in the order of type->hyper */
    long steps;
    nn_schedule sched;
};

/* The optimiser a setter was given, or NULL with the reason in ag_last_error. */
static nn_optim *need(nn_optim *o, const char *fn) {
    if (!o) ag_set_last_error("%s: optimiser is NULL", fn);
    return o;
}

/* The index of type's hyperparameter `name` when v is in its range; else -1 with the reason in
 * ag_last_error ("nn_sgd_new: learning rate nan must be finite and >= 0"). */
static int check_hyper(const char *fn, const nn_optim_type *type, const char *name, double v) {
    const int k = nn_hyper_index(type, name);
    if (k < 0) {
        ag_set_last_error("%s: %s has no %s", fn, type->name, name);
        return -1;
    }
    if (!nn_hyper_ok(&type->hyper[k], v)) {
        char rule[64];
        ag_set_last_error("%s: %s %g must be %s", fn, name, v,
                          nn_hyper_rule(&type->hyper[k], rule, sizeof rule));
        return -1;
    }
    return k;
}

/* Set hyperparameters names[0..n-1] to values[0..n-1], all or none. */
static void set_hypers(nn_optim *o, const char *fn, int n, const char *const *names,
                       const double *values) {
    int k[NN_OPTIM_MAX_HYPER];
    for (int i = 0; i < n; i++)
        if ((k[i] = check_hyper(fn, o->type, names[i], values[i])) < 0) return;
    for (int i = 0; i < n; i++) o->hyper[k[i]] = values[i];
}

nn_optim *nn_optim_new_of_type(const char *fn, const nn_optim_type *type, nn_params *ps,
                               double lr, int n, const char *const *names, const double *values) {
    if (check_hyper(fn, type, "learning rate", lr) < 0) return NULL;
    for (int i = 0; i < n; i++)
        if (check_hyper(fn, type, names[i], values[i]) < 0) return NULL;
    if (!ps || nn_params_count(ps) == 0) {
        ag_set_last_error("%s: %s", fn, ps ? "the parameter list is empty" : "parameter list is NULL");
        return NULL;
    }
    nn_optim *o = ag_alloc(sizeof *o);
    if (!o) {
        ag_set_last_error("%s: out of memory", fn);
        return NULL;
    }
    memset(o, 0, sizeof *o);
    o->type = type;
    o->ps = ps;
    o->count = nn_params_count(ps);
    o->numel = nn_params_numel(ps);
    const size_t bytes = (size_t)o->numel * sizeof(float);
    for (int k = 0; k < type->nstate; k++) {
        o->state[k] = ag_alloc(bytes);
        if (!o->state[k]) {
            ag_set_last_error("%s: out of memory for the optimiser state (%ld values)", fn, o->numel);
            nn_optim_free(o);
            return NULL;
        }
        memset(o->state[k], 0, bytes);
    }
    for (int k = 0; k < type->nhyper; k++) o->hyper[k] = type->hyper[k].fallback;
    o->hyper[0] = lr;
    for (int i = 0; i < n; i++) o->hyper[nn_hyper_index(type, names[i])] = values[i];
    return o;
}

nn_optim *nn_sgd_new(nn_params *ps, double lr, double momentum) {
    return nn_optim_new_of_type("nn_sgd_new", &nn_optim_sgd, ps, lr, 1,
                                (const char *[]){"momentum"}, &momentum);
}

nn_optim *nn_adam_new(nn_params *ps, double lr) {
    return nn_optim_new_of_type("nn_adam_new", &nn_optim_adam, ps, lr, 0, NULL, NULL);
}

nn_optim *nn_rmsprop_new(nn_params *ps, double lr) {
    return nn_optim_new_of_type("nn_rmsprop_new", &nn_optim_rmsprop, ps, lr, 0, NULL, NULL);
}

nn_optim *nn_adamw_new(nn_params *ps, double lr, double weight_decay) {
    return nn_optim_new_of_type("nn_adamw_new", &nn_optim_adamw, ps, lr, 1,
                                (const char *[]){"decay"}, &weight_decay);
}

void nn_adam_set(nn_optim *o, double beta1, double beta2, double eps) {
    if (!need(o, "nn_adam_set")) return;
    if (nn_hyper_index(o->type, "beta1") < 0) {
        ag_set_last_error("nn_adam_set: not an Adam optimiser (%s has no beta1)", o->type->name);
        return;
    }
    set_hypers(o, "nn_adam_set", 3, (const char *[]){"beta1", "beta2", "eps"},
               (const double[]){beta1, beta2, eps});
}

void nn_rmsprop_set(nn_optim *o, double alpha, double eps) {
    if (!need(o, "nn_rmsprop_set")) return;
    if (nn_hyper_index(o->type, "alpha") < 0) {
        ag_set_last_error("nn_rmsprop_set: not an RMSprop optimiser (%s has no alpha)", o->type->name);
        return;
    }
    set_hypers(o, "nn_rmsprop_set", 2, (const char *[]){"alpha", "eps"}, (const double[]){alpha, eps});
}

void nn_optim_free(nn_optim *o) {
    if (!o) return;
    for (int k = 0; k < NN_OPTIM_MAX_STATE; k++) ag_free(o->state[k]);
    ag_free(o->sched.changes);
    ag_free(o);
}

void nn_optim_set_lr(nn_optim *o, double lr) {
    if (need(o, "nn_optim_set_lr"))
        set_hypers(o, "nn_optim_set_lr", 1, (const char *[]){"learning rate"}, &lr);
}
void nn_optim_set_momentum(nn_optim *o, double momentum) {
    if (need(o, "nn_optim_set_momentum"))
        set_hypers(o, "nn_optim_set_momentum", 1, (const char *[]){"momentum"}, &momentum);
}
void nn_optim_set_weight_decay(nn_optim *o, double decay) {
    if (need(o, "nn_optim_set_weight_decay"))
        set_hypers(o, "nn_optim_set_weight_decay", 1, (const char *[]){"decay"}, &decay);
}
long nn_optim_steps(const nn_optim *o) { return o ? o->steps : 0; }
double nn_optim_lr(const nn_optim *o) { return o ? o->hyper[0] : 0.0; }
double nn_optim_momentum(const nn_optim *o) {
    const int k = o ? nn_hyper_index(o->type, "momentum") : -1;
    return k >= 0 ? o->hyper[k] : 0.0;
}

/* =============================================================================================
 * The learning-rate schedule
 * =========================================================================================== */

bool nn_schedule_shape_ok(long warmup, int decay, long period, double factor, char *why,
                          size_t size) {
    if (warmup < 0) return snprintf(why, size, "warm-up %ld must be >= 0 steps", warmup), false;
    if (decay == NN_DECAY_NONE) return true;
    if (decay != NN_DECAY_STEP && decay != NN_DECAY_COSINE)
        return snprintf(why, size, "unknown decay kind %d", decay), false;
    if (period < 1)
        return snprintf(why, size, "%s period %ld must be >= 1 step",
                        decay == NN_DECAY_STEP ? "step decay" : "cosine", period), false;
    if (decay == NN_DECAY_STEP && !(isfinite(factor) && factor > 0 && factor <= 1))
        return snprintf(why, size, "step decay factor %g must be in (0, 1]", factor), false;
    if (decay == NN_DECAY_COSINE && !(isfinite(factor) && factor >= 0 && factor <= 1))
        return snprintf(why, size, "cosine final fraction %g must be in [0, 1]", factor), false;
    return true;
}

bool nn_lr_change_ok(const nn_optim_type *type, long step, double lr, double momentum,
                     char *why, size_t size) {
    if (step < 0) return snprintf(why, size, "step %ld must be >= 0", step), false;
    const double value[2] = {lr, momentum};
    const char *name[2] = {"learning rate", "momentum"};
    for (int k = 0; k < 2; k++) {
        if (!isfinite(value[k]))
            return snprintf(why, size, "%s %g must be finite (negative: keep)", name[k], value[k]),
                   false;
        const int h = nn_hyper_index(type, name[k]); /* no momentum: ignored when applied */
        char rule[64];
        if (value[k] >= 0 && h >= 0 && !nn_hyper_ok(&type->hyper[h], value[k]))
            return snprintf(why, size, "%s %g must be %s (negative: keep)", name[k], value[k],
                            nn_hyper_rule(&type->hyper[h], rule, sizeof rule)),
                   false;
    }
    return true;
}

int nn_schedule_reserve(nn_schedule *s, int n) {
    if (n <= s->capacity) return 0;
    nn_lr_change *bigger = ag_alloc((size_t)n * sizeof *bigger);
    if (!bigger) return -1;
    if (s->nchanges) memcpy(bigger, s->changes, (size_t)s->nchanges * sizeof *bigger);
    ag_free(s->changes);
    s->changes = bigger;
    s->capacity = n;
    return 0;
}

void nn_optim_schedule(nn_optim *o, long step, double lr, double momentum) {
    const char *fn = "nn_optim_schedule";
    char why[96];
    if (!need(o, fn)) return;
    if (!nn_lr_change_ok(o->type, step, lr, momentum, why, sizeof why)) {
        ag_set_last_error("%s: %s", fn, why);
        return;
    }
    nn_schedule *s = &o->sched;
    int at = 0;
    while (at < s->nchanges && s->changes[at].step < step) at++;
    if (at == s->nchanges || s->changes[at].step != step) { /* a new step: make room */
        if (s->nchanges == NN_SCHEDULE_MAX_CHANGES) {
            ag_set_last_error("%s: %d changes are already pending (the most there can be)", fn,
                              NN_SCHEDULE_MAX_CHANGES);
            return;
        }
        int want = s->capacity ? 2 * s->capacity : 4;
        if (want > NN_SCHEDULE_MAX_CHANGES) want = NN_SCHEDULE_MAX_CHANGES;
        if (s->nchanges == s->capacity && nn_schedule_reserve(s, want) != 0) {
            ag_set_last_error("%s: out of memory", fn);
            return;
        }
        memmove(s->changes + at + 1, s->changes + at, (size_t)(s->nchanges - at) * sizeof *s->changes);
        s->nchanges++;
    }
    s->changes[at] = (nn_lr_change){step, lr, momentum};
}

static void set_shape(nn_optim *o, const char *fn, long warmup, int decay, long period,
                      double factor) {
    char why[96];
    if (!nn_schedule_shape_ok(warmup, decay, period, factor, why, sizeof why)) {
        ag_set_last_error("%s: %s", fn, why);
        return;
    }
    o->sched.warmup = warmup;
    o->sched.decay = decay;
    o->sched.period = decay == NN_DECAY_NONE ? 0 : period;
    o->sched.factor = decay == NN_DECAY_NONE ? 0.0 : factor;
}

void nn_optim_warmup(nn_optim *o, long steps) {
    if (need(o, "nn_optim_warmup"))
        set_shape(o, "nn_optim_warmup", steps, o->sched.decay, o->sched.period, o->sched.factor);
}
void nn_optim_step_decay(nn_optim *o, long every, double factor) {
    if (need(o, "nn_optim_step_decay"))
        set_shape(o, "nn_optim_step_decay", o->sched.warmup, every ? NN_DECAY_STEP : NN_DECAY_NONE,
                  every, factor);
}
void nn_optim_cosine(nn_optim *o, long steps, double final_fraction) {
    if (need(o, "nn_optim_cosine"))
        set_shape(o, "nn_optim_cosine", o->sched.warmup, steps ? NN_DECAY_COSINE : NN_DECAY_NONE,
                  steps, final_fraction);
}

/* What the shape multiplies the learning rate by at step t (counting from 0). */
static double shape_factor(const nn_schedule *s, long t) {
    const double pi = 3.14159265358979323846;
    double f = 1.0;
    if (s->warmup > 0 && t < s->warmup) f = (double)(t + 1) / (double)s->warmup;
    const long u = t > s->warmup ? t - s->warmup : 0; /* steps since the warm-up ended */
    if (s->decay == NN_DECAY_STEP) {
        f *= pow(s->factor, (double)(u / s->period));
    } else if (s->decay == NN_DECAY_COSINE) {
        const double x = (double)(u < s->period ? u : s->period) / (double)s->period;
        f *= s->factor + (1.0 - s->factor) * 0.5 * (1.0 + cos(pi * x));
    }
    return f;
}

/* The learning rate and momentum the next step uses, with the changes due by then: apply them
 * (apply = true, at a step) or only look (apply = false). Returns the scheduled rate. */
static double due_changes(nn_optim *o, bool apply) {
    nn_schedule *s = &o->sched;
    double lr = o->hyper[0];
    int due = 0;
    while (due < s->nchanges && s->changes[due].step <= o->steps) {
        const nn_lr_change *c = &s->changes[due++];
        if (c->lr >= 0) lr = c->lr;
        if (apply) {
            const int k = nn_hyper_index(o->type, "momentum");
            if (c->lr >= 0) o->hyper[0] = c->lr;
            if (c->momentum >= 0 && k >= 0) o->hyper[k] = c->momentum;
        }
    }
    if (apply && due > 0) {
        memmove(s->changes, s->changes + due, (size_t)(s->nchanges - due) * sizeof *s->changes);
        s->nchanges -= due;
    }
    if (s->warmup > 0 || s->decay != NN_DECAY_NONE) lr *= shape_factor(s, o->steps);
    return lr;
}

double nn_optim_scheduled_lr(const nn_optim *o) {
    if (!o) {
        ag_set_last_error("nn_optim_scheduled_lr: optimiser is NULL");
        return 0.0;
    }
    return due_changes((nn_optim *)o, false);
}

/* =============================================================================================
 * The step
 * =========================================================================================== */

const char *nn_error(const ag_tape *t) {
    const char *e = t ? ag_tape_error(t) : NULL;
    return e ? e : ag_last_error();
}

/* Whether x[0..n) holds a NaN or an infinity. A float is not finite exactly when its exponent
 * bits are all ones, and adding 1 to that field then carries into the top bit: the scan ORs
 * this over the elements, eight at a time in two vectors of four lanes (GCC/Clang vector types,
 * as the kernels use), then the rest one by one, and looks at the top bit once at the end. */
typedef uint32_t lanes4 __attribute__((vector_size(16)));
static inline bool any_nonfinite(const float *x, long n) {
    const long whole = n & ~7L; /* n >= 0: the multiple of 8 at or below it */
    lanes4 a = {0, 0, 0, 0}, b = a;
    for (long i = 0; i < whole; i += 8) {
        lanes4 u, v;
        memcpy(&u, x + i, sizeof u);
        memcpy(&v, x + i + 4, sizeof v);
        a |= (u & 0x7f800000u) + 0x00800000u;
        b |= (v & 0x7f800000u) + 0x00800000u;
    }
    a |= b;
    uint32_t bits = a[0] | a[1] | a[2] | a[3];
    for (long i = whole; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        bits |= (u & 0x7f800000u) + 0x00800000u;
    }
    return bits & 0x80000000u;
}

/* The index of the first NaN or infinity in x[0..n), or -1 (for the message of a refused
 * step): any_nonfinite over blocks, element by element inside the block that has one. */
static long first_nonfinite(const float *x, long n) {
    enum { BLOCK = 1024 };
    for (long lo = 0; lo < n; lo += BLOCK) {
        const long hi = n - lo < BLOCK ? n : lo + BLOCK;
        if (any_nonfinite(x + lo, hi - lo))
            for (long i = lo; i < hi; i++)
                if (!isfinite(x[i])) return i;
    }
    return -1;
}

/* A step works over all parameters' elements laid end to end (the order of the state buffers).
 * A small one (below STEP_PARALLEL elements, or on one thread) runs on the calling thread, a
 * parameter at a time: first a scan of every gradient for NaN and infinity, then the update.
 * A big one is cut into tasks of `share` elements for the pool, the scan and the update each
 * over the same cut. The update hands the step function runs of elements (nn_optim_part), up
 * to STEP_PARTS parameters at a time; it zeroes the gradients it reads, in its own loop. Every
 * element's update depends on that element alone, so the cut never changes a bit. */
#define STEP_PARALLEL 65536L /* elements from which a step is split over the threads */
#define STEP_SHARE_ROUND 4096L /* a task's share is a multiple of this: whole cache lines */
#define STEP_MAX_TASKS 64

typedef struct {
    nn_optim *o;
    const double *h; /* the hyperparameters; NULL: only scan the gradients */
    int tasks;
    long share;
    bool bad[STEP_MAX_TASKS]; /* the split scan: task i met a NaN or infinity */
} step_job;

/* Fill in how the step is cut (bad[] is cleared only for a split step: an unsplit one does
 * not use it). */
static void plan_step(nn_optim *o, step_job *j) {
    j->o = o;
    j->h = NULL;
    j->tasks = 1;
    j->share = o->numel;
    if (o->numel < STEP_PARALLEL) return; /* too few elements to pay for the hand-off */
    int threads = ag_get_threads();
    if (threads > STEP_MAX_TASKS) threads = STEP_MAX_TASKS;
    if (threads > 1) {
        const long share = (o->numel + threads - 1) / threads;
        j->share = (share + STEP_SHARE_ROUND - 1) / STEP_SHARE_ROUND * STEP_SHARE_ROUND;
        j->tasks = (int)((o->numel + j->share - 1) / j->share);
        memset(j->bad, 0, sizeof j->bad);
    }
}

/* The runs of elements an update hands to the step function, STEP_PARTS at a time. */
#define STEP_PARTS 16
typedef struct {
    const nn_optim *o;
    const double *h;
    int n;
    nn_optim_part part[STEP_PARTS];
} part_list;

/* A list with nothing in it yet (the parts themselves are left unset: filled as they come). */
static void start_parts(part_list *l, const nn_optim *o, const double *h) {
    l->o = o;
    l->h = h;
    l->n = 0;
}

static void flush_parts(part_list *l) {
    if (l->n) l->o->type->step(l->h, l->o->steps + 1, l->o->state, l->part, l->n);
    l->n = 0;
}

/* Add elements [from, to) of parameter w, which starts at element `start` of the state. */
static void add_part(part_list *l, ag_tensor *w, long start, long from, long to) {
    nn_optim_part *q = &l->part[l->n++];
    q->w = w->data + from;
    q->g = w->grad + from;
    q->at = start + from;
    q->n = to - from;
    if (l->n == STEP_PARTS) flush_parts(l);
}

/* Task `task` of a split step: its share of the elements, scanned (j->h NULL) or updated. */
static void step_task(void *ctx, int task) {
    step_job *j = ctx;
    const nn_optim *o = j->o;
    const long lo = (long)task * j->share, hi = lo + j->share < o->numel ? lo + j->share : o->numel;
    part_list l;
    start_parts(&l, o, j->h);
    long at = 0; /* where the parameter starts among all elements */
    for (int p = 0; p < o->count && at < hi; p++) {
        ag_tensor *w = o->ps->items[p];
        const long start = at;
        at += w->numel;
        if (at <= lo) continue; /* before this task's share */
        const long from = lo > start ? lo - start : 0, to = hi < at ? hi - start : w->numel;
        if (!j->h) j->bad[task] |= any_nonfinite(w->grad + from, to - from);
        else add_part(&l, w, start, from, to);
    }
    flush_parts(&l);
}

/* The update: on this thread a parameter at a time, or split over the pool. */
static void run_update(step_job *job) {
    if (job->tasks > 1) {
        ag_parallel(job->tasks, step_task, job);
        return;
    }
    const nn_optim *o = job->o;
    ag_tensor *const *params = o->ps->items;
    part_list l;
    start_parts(&l, o, job->h);
    long at = 0;
    for (int p = 0; p < o->count; p++) {
        ag_tensor *w = params[p];
        add_part(&l, w, at, 0, w->numel);
        at += w->numel;
    }
    flush_parts(&l);
}

/* Everything a step needs must hold before any weight changes. */
static bool step_allowed(nn_optim *o, const ag_tape *t, step_job *job) {
    if (t && ag_tape_error(t)) return false; /* nn_error(t) reports the tape's error */
    const nn_params *ps = o->ps;
    if (ps->count != o->count || ps->numel != o->numel) {
        ag_set_last_error("optimiser step: the parameter list changed after the optimiser was "
                          "made (%d parameters then, %d now); no weight changed",
                          o->count, ps->count);
        return false;
    }
    bool bad = false;
    for (int p = 0; p < o->count; p++) {
        const ag_tensor *w = ps->items[p];
        if (!w->grad) {
            ag_set_last_error("optimiser step: parameter '%s' has no gradient (requires_grad was "
                              "turned off); no weight changed",
                              w->name);
            return false;
        }
        if (job->tasks == 1) bad |= any_nonfinite(w->grad, w->numel); /* the scan, unsplit */
    }
    if (job->tasks > 1) { /* the scan, split (job->h is NULL) */
        ag_parallel(job->tasks, step_task, job);
        for (int i = 0; i < job->tasks; i++) bad |= job->bad[i];
    }
    for (int p = 0; bad && p < o->count; p++) { /* which one: the first, for the message */
        const ag_tensor *w = ps->items[p];
        const long i = first_nonfinite(w->grad, w->numel);
        if (i >= 0) {
            ag_set_last_error("optimiser step: the gradient of %s holds %s at element %ld; no "
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
    step_job job;
    plan_step(o, &job);
    if (!step_allowed(o, t, &job)) return -1;
    double h[NN_OPTIM_MAX_HYPER];
    const double lr = due_changes(o, true);
    memcpy(h, o->hyper, sizeof h);
    h[0] = lr;
    job.h = h;
    run_update(&job);
    o->steps++;
    return 0;
}

/* ---- the window save/load uses (nn/nn_private.h) -------------------------------------------- */

nn_optim_state nn_optim_state_of(nn_optim *o) {
    nn_optim_state s = {o->type, o->ps, o->count, o->numel, {NULL}, &o->steps, o->hyper, &o->sched};
    for (int k = 0; k < NN_OPTIM_MAX_STATE; k++) s.state[k] = o->state[k];
    return s;
}
