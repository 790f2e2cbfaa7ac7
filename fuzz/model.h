/*
 * model.h -- the model the loader's fuzz harness loads into, and its seed files are made from:
 * an MLP 3-4-2, a recurrent layer 2 -> 3 and a 3-D parameter, with one optimiser of each kind
 * (SGD, Adam, RMSprop, AdamW) over the same list.
 */
#ifndef BACKPROP_FUZZ_MODEL_H
#define BACKPROP_FUZZ_MODEL_H

#include "backprop.h"

typedef struct {
    nn_params *ps;
    nn_optim *sgd, *adam, *rmsprop, *adamw;
} fuzz_model;

static inline fuzz_model fuzz_model_new(void) {
    fuzz_model m;
    nn_rng rng = nn_rng_seed(42);
    m.ps = nn_params_new();
    nn_mlp_new(m.ps, "mlp", "3-4-2", NN_SIGMOID, NN_SIGMOID, nn_init_uniform(0.5), &rng);
    nn_recurrent_new(m.ps, "rec", 2, 3, NN_TANH, nn_init_xavier(), &rng);
    ag_tensor *cube = nn_param_new(m.ps, "cube", 3, (const int[]){2, 1, 3});
    nn_init_fill(cube, nn_init_uniform(1.0), 2, 3, false, &rng);
    m.sgd = nn_sgd_new(m.ps, 0.1, 0.9);
    m.adam = nn_adam_new(m.ps, 0.01);
    m.rmsprop = nn_rmsprop_new(m.ps, 0.01);
    m.adamw = nn_adamw_new(m.ps, 0.01, 0.01);
    return m;
}

static inline void fuzz_model_free(fuzz_model *m) {
    nn_optim_free(m->sgd);
    nn_optim_free(m->adam);
    nn_optim_free(m->rmsprop);
    nn_optim_free(m->adamw);
    nn_params_free(m->ps);
}

#endif
