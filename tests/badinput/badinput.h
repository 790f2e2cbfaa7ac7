/*
 * badinput.h -- what the parts of the bad-input suite share: the BAD() wrapper that records each
 * public function called, the tapes, the layers every part uses, and each part's tests.
 * tests/test_badinput.c holds these fixtures, the coverage check and main; the files beside this
 * one hold the cases.
 */
#ifndef BACKPROP_TESTS_BADINPUT_H
#define BACKPROP_TESTS_BADINPUT_H

#include "tests/support/op_cases.h"
#include "tests/support/testutil.h"

#include "nn/nn_private.h"

/* Every call of a public function goes through BAD(fn, (args)), which records that fn was called
 * with bad input: the suite's last test fails for any public function never recorded. */
void bad_mark(const char *name);
#define BAD(fn, args) (bad_mark(#fn), fn args)

/* The tapes, reset before each test: T and O healthy, F failed with "the first error". */
extern ag_tape *T, *F, *O;

/* Fails unless ag_last_error() contains part. */
void expect_last(const char *part);
/* Asserts that tape t failed with part and that r is its poisoned result, then resets t. */
void expect_tape(ag_tape *t, const ag_tensor *r, const char *part);
/* A fresh (r, c) tensor on tape t. */
ag_tensor *tt(ag_tape *t, int r, int c);

/* Layers made once for the whole suite, their parameters in PS. */
extern nn_params *PS;
extern nn_dense DENSE;
extern nn_mlp MLP;
extern nn_recurrent REC;
extern nn_lstm LSTM;   /* 3 inputs, 2 units */
extern nn_gru GRU;     /* 3 inputs, 2 units */
extern nn_conv2d CONV; /* 2 channels in, 3 out, 2x2 kernel */

/* Every op of the op list (with the inputs of its first case), then the other functions that
 * record on a tape: the generic bad inputs' targets. */
extern tu_bad_target targets[128];
extern int ntargets;

/* The cases, one cmocka test each, in the order main runs them. */
void test_ops_healthy(void **state);
void test_ops_without_tape(void **state);
void test_ops_null_inputs(void **state);
void test_ops_on_failed_tape(void **state);
void test_ops_foreign_inputs(void **state);
void test_ops_stale_inputs(void **state);
void test_shapes_that_do_not_fit(void **state);
void test_axes_and_indices_out_of_range(void **state);
void test_shape_op_arguments(void **state);
void test_math_and_reduce_arguments(void **state);
void test_linear_arguments(void **state);
void test_conv_and_pool_arguments(void **state);
void test_sizes_zero_negative_overflowing(void **state);
void test_tensor_functions(void **state);
void test_memory_and_errors(void **state);
void test_dot_and_trace(void **state);
void test_backward(void **state);
void test_gradcheck(void **state);
void test_rng_and_init(void **state);
void test_params(void **state);
void test_layers(void **state);
void test_unfolded_runs(void **state);
void test_conv_layer(void **state);
void test_gated_cells(void **state);
void test_optimisers(void **state);
void test_optimiser_table_settings(void **state);
void test_save_load_arguments(void **state);
void test_grads_pack_unpack(void **state);
void test_detach_grad_mode_and_clipping(void **state);
void test_custom_ops(void **state);
void test_dropout_and_layernorm(void **state);

#endif
