/*
 * rng.c -- the seeded generator (splitmix64) and weight initialisation.
 */
#include "nn.h"

#include <math.h>

nn_rng nn_rng_seed(uint64_t seed) {
    nn_rng r = {seed};
    return r;
}

/* A NULL generator is refused with a message; the functions below then return their lowest
 * value (0, lo). */
static bool rng_ok(const nn_rng *r, const char *fn) {
    if (!r) ag_set_last_error("%s: generator is NULL", fn);
    return r != NULL;
}

uint64_t nn_rng_next(nn_rng *r) {
    if (!rng_ok(r, "nn_rng_next")) return 0;
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* 53 random bits as a double in [0, 1): exact, so the same on every IEEE-754 platform. */
double nn_rng_uniform(nn_rng *r) {
    if (!rng_ok(r, "nn_rng_uniform")) return 0.0;
    return (double)(nn_rng_next(r) >> 11) * 0x1.0p-53;
}

double nn_rng_range(nn_rng *r, double lo, double hi) { return lo + (hi - lo) * nn_rng_uniform(r); }

double nn_rng_normal(nn_rng *r) {
    if (!rng_ok(r, "nn_rng_normal")) return 0.0;
    double u1 = nn_rng_uniform(r), u2 = nn_rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

int nn_rng_int(nn_rng *r, int n) {
    if (!rng_ok(r, "nn_rng_int")) return 0;
    if (n < 1) ag_set_last_error("nn_rng_int: n = %d (must be >= 1)", n);
    if (n <= 1) return 0;
    /* Lemire's multiply-shift on 32 bits, with rejection so every value is equally likely. */
    uint64_t bound = (uint64_t)n, threshold = (uint64_t)(-(uint32_t)n) % (uint32_t)n;
    for (;;) {
        uint64_t m = (nn_rng_next(r) >> 32) * bound;
        if ((uint32_t)m >= threshold) return (int)(m >> 32);
    }
}

void nn_rng_shuffle(nn_rng *r, int *a, int n) {
    if (!rng_ok(r, "nn_rng_shuffle")) return;
    if (n < 0 || (!a && n > 0)) {
        if (n < 0) ag_set_last_error("nn_rng_shuffle: n = %d (must be >= 0)", n);
        else ag_set_last_error("nn_rng_shuffle: array is NULL");
        return;
    }
    for (int i = n - 1; i > 0; i--) {
        int j = nn_rng_int(r, i + 1), tmp = a[i];
        a[i] = a[j];
        a[j] = tmp;
    }
}

nn_init nn_init_uniform(double r) {
    nn_init i = {NN_INIT_UNIFORM, r};
    return i;
}
nn_init nn_init_xavier(void) {
    nn_init i = {NN_INIT_XAVIER, 0.0};
    return i;
}
nn_init nn_init_he(void) {
    nn_init i = {NN_INIT_HE, 0.0};
    return i;
}

int nn_init_fill(ag_tensor *w, nn_init init, int fan_in, int fan_out, bool is_bias, nn_rng *rng) {
    if (!w || !rng || (w->flags & AG_POISONED)) {
        ag_set_last_error("nn_init_fill: %s", !w ? "tensor is NULL" : !rng ? "rng is NULL"
                                                                      : "tensor is poisoned");
        return -1;
    }
    if (init.kind == NN_INIT_UNIFORM && !(isfinite(init.r) && init.r >= 0.0)) {
        ag_set_last_error("nn_init_fill: the uniform range r = %g must be finite and >= 0", init.r);
        return -1;
    }
    if ((init.kind == NN_INIT_XAVIER || init.kind == NN_INIT_HE) && (fan_in < 1 || fan_out < 1)) {
        ag_set_last_error("nn_init_fill: fan_in %d and fan_out %d must be >= 1", fan_in, fan_out);
        return -1;
    }
    double r;
    switch (init.kind) {
    case NN_INIT_UNIFORM: r = init.r; break; /* biases too: the paper's always-on unit */
    case NN_INIT_XAVIER: /* the fans summed as doubles: two large ints would overflow an int */
        r = is_bias ? 0.0 : sqrt(6.0 / ((double)fan_in + (double)fan_out));
        break;
    case NN_INIT_HE: r = is_bias ? 0.0 : sqrt(6.0 / (double)fan_in); break;
    default: ag_set_last_error("nn_init_fill: unknown initialisation %d", (int)init.kind); return -1;
    }
    for (int i = 0; i < w->numel; i++) w->data[i] = r > 0.0 ? (float)nn_rng_range(rng, -r, r) : 0.0f;
    return 0;
}
