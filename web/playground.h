/*
 * playground.h -- the calls the playground page (web/index.html) makes into the library compiled
 * to WebAssembly (web/playground.c), also built natively for web/playground_cli.c. Text answers
 * are left in one buffer: pg_text() and pg_text_length(), valid until the next call.
 */
#ifndef BACKPROP_WEB_PLAYGROUND_H
#define BACKPROP_WEB_PLAYGROUND_H

#include "backprop.h"

/* Exported from the wasm module under its own name; nothing natively. */
#ifdef __wasm__
#define PG_EXPORT(name) __attribute__((export_name(#name)))
#else
#define PG_EXPORT(name)
#endif

const char *pg_text(void);            /* the last call's text answer (or its error) */
int pg_text_length(void);
char *pg_input(void);                 /* where the page writes a string ... */
int pg_input_size(void);              /* ... of at most this many bytes with its '\0' */
void pg_set_seed(int seed);           /* for the nets' initial weights (as the examples' --seed) */
int pg_model(int model);              /* 0 neuron, 1 XOR 2-2-1, 2 symmetry 6-2-1, 3 expression,
                                         4 XOR with no hidden unit (2-1) */
int pg_set_expression(void);          /* model 3 from the text in pg_input() */
int pg_values(void);                  /* "name\tvalue\tparameter|data" lines */
int pg_set_value(int i, double v);    /* change the i-th of them */
int pg_record(void);                  /* record the forward pass: the number of nodes, or -1 */
int pg_record_quiet(void);            /* the same, leaving the text answer alone */
int pg_forward_line(int i);           /* node i of the forward pass, as a line */
int pg_backward(int steps);           /* narrate that many nodes of the sweep (< 0: all) */
int pg_forward_dot(void);             /* the tape as DOT, values only */
int pg_backward_dot(int steps);       /* the tape as DOT after that many nodes of the sweep */
int pg_set_rule(double eps, double alpha); /* the paper's rule's eps and alpha */
int pg_train(int sweeps);             /* that many weight changes; the errors, one a line */
int pg_error(void);                   /* "E\thex\tsweeps" now */
int pg_weights(void);                 /* "name rows cols values..." lines */
int pg_outputs(void);                 /* "right/cases y y y ..." */

#endif
