/*
 * internal.h -- what the nn sources share and users never see: a window onto an optimiser's
 * state (for save/load), the in-memory loader and the checksum (for the loader's fuzz harness
 * and tests).
 * And the roll-back of the parameter list that makes every layer constructor all or nothing.
 */
#ifndef BACKPROP_NN_INTERNAL_H
#define BACKPROP_NN_INTERNAL_H

#include "nn.h"

#include <stddef.h>
#include <stdint.h>

/* ---- parameter list (nn/params.c) --------------------------------------------------------- */

/* Free the parameters made after the list held `count` of them, so that it holds exactly those
 * first `count` again: how a constructor that fails halfway undoes what it added. */
void nn_params_roll_back(nn_params *ps, int count);

/* ---- optimiser state (nn/optim.c) ---------------------------------------------------------- */

typedef enum { NN_OPTIM_SGD = 1, NN_OPTIM_ADAM = 2 } nn_optim_kind;

/* Pointers into an optimiser: reading and writing through them reads and changes it. Every
 * value a bit-exact resume needs is here. s1 and s2 hold one value per parameter element, the
 * parameters taken in the order of the list: SGD keeps its last change dw(t-1) in s1; Adam its
 * first moment in s1 and its second moment in s2 (NULL for SGD). */
typedef struct {
    nn_optim_kind kind;
    const nn_params *ps; /* the list the optimiser was made for */
    int count;           /* parameters in that list when the optimiser was made */
    long numel;          /* their total element count = length of s1 and s2 */
    float *s1, *s2;
    long *steps;
    double *lr, *momentum, *decay, *beta1, *beta2, *eps;
    long *sched_step;    /* pending schedule: -1 when none */
    double *sched_lr, *sched_momentum;
} nn_optim_state;

/* The window onto o (o must not be NULL). */
nn_optim_state nn_optim_state_of(nn_optim *o);

/* ---- save/load (nn/serialize.c) ------------------------------------------------------------ */

/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) of n bytes, continuing from crc (start
 * with 0). crc32 of "123456789" is 0xCBF43926. */
uint32_t nn_crc32(uint32_t crc, const void *data, size_t n);

/* nn_load on a file already in memory: buf[0..len-1] is the whole file, `what` names it in
 * messages. Same checks and guarantees as nn_load (see nn.h). */
int nn_load_buffer(const unsigned char *buf, size_t len, const char *what, nn_params *ps,
                   nn_optim *opt);

/* Byte offsets of the file header's fields (docs/format.md). */
#define NN_FILE_MAGIC "\x89" "BPROP\r\n"
#define NN_FILE_VERSION 1u
#define NN_FILE_HEADER 32 /* magic 8, version 4, flags 4, size 8, count 4, reserved 4 */
#define NN_FILE_OFF_VERSION 8
#define NN_FILE_OFF_FLAGS 12
#define NN_FILE_OFF_SIZE 16
#define NN_FILE_OFF_COUNT 24
#define NN_FILE_OFF_RESERVED 28
#define NN_FILE_FLAG_OPTIM 1u /* the file holds optimiser state */

#endif /* BACKPROP_NN_INTERNAL_H */
