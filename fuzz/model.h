/*
 * model.h -- the model the loader's fuzz harness loads into, and its seed files are made from:
 * an MLP 3-4-2, a recurrent layer 2 -> 3 and a 3-D parameter, with one optimiser of every kind
 * in the optimiser table (nn/optim_table.c, in its order) over the same list.
 */
#ifndef BACKPROP_FUZZ_MODEL_H
#define BACKPROP_FUZZ_MODEL_H

#include "backprop.h"
#include "nn/nn_private.h"

#define FUZZ_MAX_OPTIMS 7 /* the harness's mode byte picks one of up to 7 (0: none) */

typedef struct {
    nn_params *ps;
    int nopt;                      /* = nn_optim_table_count */
    nn_optim *opt[FUZZ_MAX_OPTIMS]; /* opt[k] is of the kind nn_optim_table[k] */
} fuzz_model;

static inline fuzz_model fuzz_model_new(void) {
    fuzz_model m;
    nn_rng rng = nn_rng_seed(42);
    m.ps = nn_params_new();
    nn_mlp_new(m.ps, "mlp", "3-4-2", NN_SIGMOID, NN_SIGMOID, nn_init_uniform(0.5), &rng);
    nn_recurrent_new(m.ps, "rec", 2, 3, NN_TANH, nn_init_xavier(), &rng);
    ag_tensor *cube = nn_param_new(m.ps, "cube", 3, (const int[]){2, 1, 3});
    nn_init_fill(cube, nn_init_uniform(1.0), 2, 3, false, &rng);
    m.nopt = nn_optim_table_count < FUZZ_MAX_OPTIMS ? nn_optim_table_count : FUZZ_MAX_OPTIMS;
    for (int k = 0; k < m.nopt; k++) {
        const nn_optim_type *type = nn_optim_table[k];
        m.opt[k] = nn_optim_new_of_type("fuzz", type, m.ps, type->hyper[0].fallback, 0, NULL, NULL);
    }
    return m;
}

static inline void fuzz_model_free(fuzz_model *m) {
    for (int k = 0; k < m->nopt; k++) nn_optim_free(m->opt[k]);
    nn_params_free(m->ps);
}

#endif
