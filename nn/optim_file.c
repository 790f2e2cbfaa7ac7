/*
 * optim_file.c -- the optimiser's part of a parameter file (docs/format.md): the optimiser
 * section (kind, step count, hyperparameters, the first pending schedule change, the state
 * arrays) and the schedule section (warm-up, decay, further pending changes). Writing streams
 * through nn/serialize.c's writer; reading validates (apply = false) and then copies
 * (apply = true), as the rest of the loader does. What may be stored is read from the
 * optimiser table: the ranges the setters check are the ranges a file must respect.
 */
#include "nn_private.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Sizes of the optimiser section: kind, value count and steps; the hyperparameters (the six
 * version-1 slots, or the table's list); the first pending change (step, lr, momentum); then the
 * state arrays. The schedule section: warm-up, decay kind, period, factor, the number of further
 * pending changes, then those changes. */
#define OPTIM_HEAD (4 + 8 + 8)
#define CHANGE_SIZE (8 + 8 + 8)
#define SCHEDULE_FIXED (8 + 4 + 8 + 8 + 4)

/* How many binary64 hyperparameters type's section stores. */
static int stored_hypers(const nn_optim_type *type) {
    return type->v1_layout ? NN_V1_SLOTS : type->nhyper;
}

/* The optimiser section's size before its state arrays. */
static uint64_t optim_fixed(const nn_optim_type *type) {
    return OPTIM_HEAD + 8 * (uint64_t)stored_hypers(type) + CHANGE_SIZE;
}

/* Whether the schedule needs the schedule section (more than the one pending change the
 * optimiser section holds, or a shape). */
static bool needs_schedule_section(const nn_schedule *s) {
    return s->warmup > 0 || s->decay != NN_DECAY_NONE || s->nchanges > 1;
}

uint32_t nn_optim_file_flags(const nn_optim_state *st) {
    return needs_schedule_section(st->sched) ? NN_FILE_FLAG_OPTIM | NN_FILE_FLAG_SCHEDULE
                                             : NN_FILE_FLAG_OPTIM;
}

uint64_t nn_optim_file_size(const nn_optim_state *st) {
    const nn_schedule *sc = st->sched;
    uint64_t size = optim_fixed(st->type) + 4 * (uint64_t)st->numel * (uint64_t)st->type->nstate;
    if (needs_schedule_section(sc))
        size += SCHEDULE_FIXED + CHANGE_SIZE * (uint64_t)(sc->nchanges > 1 ? sc->nchanges - 1 : 0);
    return size;
}

uint64_t nn_optim_file_bound(uint64_t numel, uint32_t flags) {
    uint64_t largest = 0;
    for (int k = 0; k < nn_optim_table_count && (flags & NN_FILE_FLAG_OPTIM); k++) {
        const nn_optim_type *type = nn_optim_table[k];
        const uint64_t size = optim_fixed(type) + 4 * numel * (uint64_t)type->nstate;
        if (size > largest) largest = size;
    }
    if (flags & NN_FILE_FLAG_SCHEDULE)
        largest += SCHEDULE_FIXED + CHANGE_SIZE * (uint64_t)(NN_SCHEDULE_MAX_CHANGES - 1);
    return largest;
}

/* =============================================================================================
 * Writing
 * =========================================================================================== */

/* The optimiser section, and the schedule section when needed, of the optimiser st. */
void nn_optim_file_write(nn_file_writer *w, const nn_optim_state *st) {
    const nn_optim_type *type = st->type;
    const nn_schedule *sc = st->sched;
    nn_write_u32(w, type->file_id);
    nn_write_u64(w, (uint64_t)st->numel);
    nn_write_u64(w, (uint64_t)*st->steps);
    for (int k = 0; k < stored_hypers(type); k++) {
        const int h = type->v1_layout ? nn_hyper_index(type, nn_v1_slot_name[k]) : k;
        nn_write_f64(w, h >= 0 ? st->hyper[h] : 0.0); /* a slot the optimiser lacks is 0 */
    }
    const nn_lr_change none = {-1, 0.0, 0.0};
    const nn_lr_change *first = sc->nchanges ? &sc->changes[0] : &none;
    nn_write_u64(w, (uint64_t)(int64_t)first->step);
    nn_write_f64(w, first->lr);
    nn_write_f64(w, first->momentum);
    for (int k = 0; k < type->nstate; k++) nn_write_floats(w, st->state[k], st->numel);
    if (!needs_schedule_section(sc)) return;
    nn_write_u64(w, (uint64_t)sc->warmup);
    nn_write_u32(w, (uint32_t)sc->decay);
    nn_write_u64(w, (uint64_t)sc->period);
    nn_write_f64(w, sc->factor);
    nn_write_u32(w, (uint32_t)(sc->nchanges - 1 > 0 ? sc->nchanges - 1 : 0));
    for (int i = 1; i < sc->nchanges; i++) {
        nn_write_u64(w, (uint64_t)(int64_t)sc->changes[i].step);
        nn_write_f64(w, sc->changes[i].lr);
        nn_write_f64(w, sc->changes[i].momentum);
    }
}

/* =============================================================================================
 * Reading
 * =========================================================================================== */

/* One block of optimiser state: a value per parameter element, the parameters in the file's
 * order. Validate it, or copy it to state (laid out in the list's order) when state is set. */
static int state_block(nn_cursor *c, const char *file, const char *what, uint32_t nrec,
                       const nn_params *ps, const nn_load_map *map, float *state) {
    for (uint32_t r = 0; r < nrec; r++) {
        const int j = map->model_index[r];
        const long n = nn_params_at(ps, j)->numel;
        const unsigned char *data = nn_take(c, 4 * (size_t)n);
        if (!data) return nn_load_fail(file, "corrupt: the optimiser's %s are cut short", what);
        for (long i = 0; i < n; i++) {
            float v = nn_bits_f32(nn_get_u32(data + 4 * i));
            if (!state && !isfinite(v))
                return nn_load_fail(file, "the optimiser's %s for '%s' hold %s at element %ld",
                                    what, nn_params_at(ps, j)->name, isnan(v) ? "NaN" : "Inf", i);
            if (state) state[map->offset[j] + i] = v;
        }
    }
    return 0;
}

/* A pending change as stored: step (i64), lr, momentum. */
static nn_lr_change read_change(const unsigned char *p) {
    nn_lr_change c = {(long)(int64_t)nn_get_u64(p), nn_bits_f64(nn_get_u64(p + 8)),
                      nn_bits_f64(nn_get_u64(p + 16))};
    if ((int64_t)nn_get_u64(p) > LONG_MAX || (int64_t)nn_get_u64(p) < LONG_MIN) c.step = LONG_MIN;
    return c;
}

/* Check a stored pending change (number `index`, after one at step `after`). */
static int check_change(const char *file, const nn_optim_type *type, int index, nn_lr_change c,
                        long after) {
    char why[96];
    if (!nn_lr_change_ok(type, c.step, c.lr, c.momentum, why, sizeof why))
        return nn_load_fail(file, "pending schedule change %d: %s (as nn_optim_schedule "
                                  "requires)",
                            index, why);
    if (c.step <= after)
        return nn_load_fail(file, "corrupt: pending schedule change %d (step %ld) does not come "
                                  "after the one before it (step %ld)",
                            index, c.step, after);
    return 0;
}

/* The schedule section. Validate it (apply = false; sets map->nchanges), or copy it into the
 * schedule (apply = true; room for every change was reserved). first is the optimiser
 * section's pending change (step -1: none). */
static int schedule_section(nn_cursor *c, const char *file, const nn_optim_type *type,
                            nn_lr_change first, nn_load_map *map, nn_schedule *sched, bool apply) {
    const unsigned char *p = nn_take(c, SCHEDULE_FIXED);
    if (!p) return nn_load_fail(file, "corrupt: the schedule section is cut short");
    const uint64_t warmup = nn_get_u64(p), period = nn_get_u64(p + 12);
    const uint32_t decay = nn_get_u32(p + 8), count = nn_get_u32(p + 28);
    const double factor = nn_bits_f64(nn_get_u64(p + 20));
    if (!apply) {
        char why[96];
        if (warmup > (uint64_t)LONG_MAX || period > (uint64_t)LONG_MAX || decay > INT_MAX)
            return nn_load_fail(file, "corrupt: the schedule's warm-up, decay kind or period "
                                      "is out of range");
        if (!nn_schedule_shape_ok((long)warmup, (int)decay, (long)period, factor, why, sizeof why))
            return nn_load_fail(file, "the schedule's %s (as the schedule's setters require)", why);
        if (first.step < 0 && count > 0)
            return nn_load_fail(file, "corrupt: the schedule section holds further changes "
                                      "but the optimiser section none");
        if (count > NN_SCHEDULE_MAX_CHANGES - 1)
            return nn_load_fail(file, "corrupt: %lu pending schedule changes (at most %d)",
                                (unsigned long)count, NN_SCHEDULE_MAX_CHANGES);
    }
    if (!apply && (uint64_t)count * CHANGE_SIZE > c->left)
        return nn_load_fail(file, "corrupt: the schedule's pending changes are cut short");
    const unsigned char *changes = nn_take(c, (size_t)count * CHANGE_SIZE);
    long after = first.step;
    for (uint32_t i = 0; i < count && !apply; i++) {
        const nn_lr_change ch = read_change(changes + CHANGE_SIZE * i);
        if (check_change(file, type, (int)i + 1, ch, after) != 0) return -1;
        after = ch.step;
    }
    if (!apply) {
        map->nchanges = (first.step >= 0) + (int)count;
        return 0;
    }
    sched->warmup = (long)warmup;
    sched->decay = (int)decay;
    sched->period = decay == NN_DECAY_NONE ? 0 : (long)period;
    sched->factor = decay == NN_DECAY_NONE ? 0.0 : factor;
    for (uint32_t i = 0; i < count; i++)
        sched->changes[1 + i] = read_change(changes + CHANGE_SIZE * i);
    sched->nchanges = (first.step >= 0) + (int)count; /* count is 0 without a first change */
    return 0;
}

/* Check a stored hyperparameter of the given type: name is its slot's; a slot the optimiser
 * lacks (a version-1 slot) need only be finite and is ignored. */
static int check_hyper(const char *file, const nn_optim_type *type, const char *name, double v) {
    const int k = nn_hyper_index(type, name);
    if (k < 0 && !isfinite(v))
        return nn_load_fail(file, "corrupt: the optimiser's unused %s slot is not finite", name);
    if (k >= 0 && !nn_hyper_ok(&type->hyper[k], v)) {
        char rule[64];
        return nn_load_fail(file, "optimiser setting %s = %g is out of range: %s's %s must be "
                                  "%s, as its setter requires",
                            name, v, type->name, name, nn_hyper_rule(&type->hyper[k], rule, sizeof rule));
    }
    return 0;
}

/* The optimiser section (and the schedule section after it, when the header says so).
 * Validate it (apply = false; st may be NULL: no optimiser given), or copy it into the
 * optimiser (apply = true; st is set). */
int nn_optim_file_read(nn_cursor *c, const char *file, uint32_t nrec, const nn_params *ps,
                       uint64_t values, nn_load_map *map, nn_optim_state *st, bool apply,
                       bool has_schedule) {
    const unsigned char *kp = nn_take(c, 4);
    if (!kp) return nn_load_fail(file, "corrupt: the optimiser section is cut short");
    const uint32_t kind = nn_get_u32(kp);
    const nn_optim_type *type = nn_optim_type_of_file_id(kind);
    if (!type) return nn_load_fail(file, "corrupt: unknown optimiser kind %lu", (unsigned long)kind);
    const int nh = stored_hypers(type);
    const unsigned char *p = nn_take(c, (size_t)optim_fixed(type) - 4);
    if (!p) return nn_load_fail(file, "corrupt: the optimiser section is cut short");
    const uint64_t n = nn_get_u64(p), steps = nn_get_u64(p + 8);
    const unsigned char *hp = p + 16;
    const nn_lr_change first = read_change(hp + 8 * nh);
    if (!apply) {
        if (st && st->type != type)
            return nn_load_fail(file, "the file holds the state of %s, the optimiser given is %s",
                                type->name, st->type->name);
        if (n != values)
            return nn_load_fail(file, "corrupt: the optimiser state has %llu values per "
                                      "moment, the parameters %llu",
                                (unsigned long long)n, (unsigned long long)values);
        if (steps > (uint64_t)LONG_MAX || first.step < -1)
            return nn_load_fail(file, "corrupt: optimiser step count out of range");
        for (int k = 0; k < nh; k++) {
            const char *name = type->v1_layout ? nn_v1_slot_name[k] : type->hyper[k].name;
            if (check_hyper(file, type, name, nn_bits_f64(nn_get_u64(hp + 8 * k))) != 0) return -1;
        }
        if (first.step == -1 && (!isfinite(first.lr) || !isfinite(first.momentum)))
            return nn_load_fail(file, "corrupt: the optimiser's schedule is not finite");
        if (first.step >= 0 && check_change(file, type, 0, first, -1) != 0) return -1;
        map->nchanges = first.step >= 0;
    }
    for (int k = 0; k < type->nstate; k++)
        if (state_block(c, file, type->state_name[k], nrec, ps, map, apply ? st->state[k] : NULL) != 0)
            return -1;
    if (apply) {
        *st->steps = (long)steps;
        for (int k = 0; k < nh; k++) {
            const int h = type->v1_layout ? nn_hyper_index(type, nn_v1_slot_name[k]) : k;
            if (h >= 0) st->hyper[h] = nn_bits_f64(nn_get_u64(hp + 8 * k));
        }
        nn_schedule *sc = st->sched;
        sc->warmup = 0, sc->decay = NN_DECAY_NONE, sc->period = 0, sc->factor = 0.0;
        sc->nchanges = first.step >= 0;
        if (first.step >= 0) sc->changes[0] = first;
    }
    if (has_schedule)
        return schedule_section(c, file, type, first, map, apply ? st->sched : NULL, apply);
    return 0;
}
