/*
 * nn_private.h -- what the nn sources share and users never see: the optimiser table, a window
 * onto an optimiser's state (for save/load), the in-memory loader and the checksum (for the
 * loader's fuzz harness and tests), and the roll-back of the parameter list that makes every
 * layer constructor all or nothing.
 */
#ifndef BACKPROP_NN_PRIVATE_H
#define BACKPROP_NN_PRIVATE_H

#include "nn.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- parameter list (nn/params.c) --------------------------------------------------------- */

/* The list: here rather than in params.c so that the optimiser's step reads it without a call
 * per parameter. Only params.c changes it. */
struct nn_params {
    ag_tensor **items;   /* [count], in the order they were made */
    int count, capacity;
    long numel;          /* the items' elements, kept as they come and go (nn_params_numel) */
};

/* Free the parameters made after the list held `count` of them, so that it holds exactly those
 * first `count` again: how a constructor that fails halfway undoes what it added. */
void nn_params_roll_back(nn_params *ps, int count);

/* ---- the optimiser table (nn/optim_table.c) -------------------------------------------------
 * One entry per optimiser, defined beside its step function as `const nn_optim_type
 * nn_optim_<name>` and listed once below. The setters, nn_load and the documentation's test read
 * the hyperparameters' ranges from the entries, so a value a setter refuses cannot come in
 * through a file either. docs/design.md has the recipe for adding an optimiser. */

#define NN_OPTIM_MAX_HYPER 6 /* hyperparameters of one optimiser */
#define NN_OPTIM_MAX_STATE 2 /* per-element state buffers of one optimiser */

/* One hyperparameter: its name (in messages, files' documentation and the setters' lookups), its
 * default, and the values it may take: lo..hi, each bound inside the range unless marked open.
 * Every value must also be finite (hi = INFINITY, open: no upper bound). */
typedef struct {
    const char *name;
    double fallback;
    double lo, hi;
    bool lo_open, hi_open;
} nn_hyper_spec;

/* A run of one parameter's elements for a step function: its n weights w, their gradients g,
 * and where it starts in the state buffers (state[k] + at). */
typedef struct {
    float *w, *g;
    long at, n;
} nn_optim_part;

/* One step of an optimiser over the elements of parts[0..nparts) (several small parameters in
 * one call: the hyperparameters are read once, not once a parameter). state[k] is the k-th
 * state buffer, all parameters' values end to end. Each gradient is set to zero once read: the
 * step consumes it. h holds the hyperparameters in the entry's order, the learning rate (h[0])
 * already scheduled; t counts this step from 1. */
typedef void (*nn_optim_step_fn)(const double *h, long t, float *const *state,
                                 const nn_optim_part *parts, int nparts);

typedef struct nn_optim_type {
    const char *name;       /* "SGD with momentum": in messages */
    uint32_t file_id;       /* the kind stored in files: never reuse or renumber one */
    int nstate;             /* per-element state buffers, 1..NN_OPTIM_MAX_STATE */
    const char *state_name[NN_OPTIM_MAX_STATE]; /* "first moments": in messages */
    int nhyper;
    nn_hyper_spec hyper[NN_OPTIM_MAX_HYPER];    /* hyper[0] is always the learning rate */
    bool v1_layout;         /* the file stores the six version-1 slots (docs/format.md) */
    nn_optim_step_fn step;
} nn_optim_type;

#define NN_OPTIM_LIST(X) X(sgd) X(adam) X(rmsprop) X(adamw)

#define NN_DECLARE_OPTIM(name) extern const nn_optim_type nn_optim_##name;
NN_OPTIM_LIST(NN_DECLARE_OPTIM)
#undef NN_DECLARE_OPTIM

extern const nn_optim_type *const nn_optim_table[]; /* the list above, in its order */
extern const int nn_optim_table_count;

/* The entry whose file_id is id, or NULL. */
const nn_optim_type *nn_optim_type_of_file_id(uint32_t id);
/* The index of the hyperparameter called name in type's list, or -1. */
int nn_hyper_index(const nn_optim_type *type, const char *name);
/* Whether v is inside spec's range (and finite). */
bool nn_hyper_ok(const nn_hyper_spec *spec, double v);
/* The rule of spec's range in words, "finite and >= 0" or "in [0, 1)", into buf. */
const char *nn_hyper_rule(const nn_hyper_spec *spec, char *buf, size_t size);

/* The six slots of a version-1 optimiser section, in file order (docs/format.md). */
#define NN_V1_SLOTS 6
extern const char *const nn_v1_slot_name[NN_V1_SLOTS];

/* ---- the learning-rate schedule (nn/optim.c) -------------------------------------------------
 * Data only, so that it is saved with the optimiser: a shape the learning rate follows (linear
 * warm-up, then step decay or cosine) and any number of pending changes. */

typedef enum { NN_DECAY_NONE = 0, NN_DECAY_STEP = 1, NN_DECAY_COSINE = 2 } nn_decay_kind;

typedef struct {
    long step;       /* applied before the step that counts `step` (from 0) */
    double lr;       /* negative: keep */
    double momentum; /* negative: keep (an optimiser without momentum ignores it) */
} nn_lr_change;

#define NN_SCHEDULE_MAX_CHANGES 65536 /* pending at once (a file holds at most this many) */

typedef struct {
    long warmup;      /* the first `warmup` steps scale the rate by (t+1)/warmup; 0: none */
    int decay;        /* nn_decay_kind, counted from the end of the warm-up */
    long period;      /* step decay: every `period` steps; cosine: over `period` steps */
    double factor;    /* step decay: times `factor` each period; cosine: the final fraction */
    int nchanges;     /* pending changes, in increasing step order, no two at one step */
    int capacity;
    nn_lr_change *changes;
} nn_schedule;

/* The checks nn_optim_warmup, nn_optim_step_decay, nn_optim_cosine and nn_optim_schedule make,
 * shared with the loader: true when valid, else false with the reason (naming the value) in
 * why[0..size-1]. A change's learning rate and momentum, when not negative (keep), must be in
 * the ranges of type's entry. */
bool nn_schedule_shape_ok(long warmup, int decay, long period, double factor, char *why,
                          size_t size);
bool nn_lr_change_ok(const nn_optim_type *type, long step, double lr, double momentum,
                     char *why, size_t size);
/* Room for n pending changes (their content kept); 0, or -1 when out of memory. */
int nn_schedule_reserve(nn_schedule *s, int n);

/* ---- optimiser state (nn/optim.c) ---------------------------------------------------------- */

/* Pointers into an optimiser: reading and writing through them reads and changes it. Every
 * value a bit-exact resume needs is here. state[k] holds one value per parameter element, the
 * parameters taken in the order of the list (type->state_name[k] says what it is). */
typedef struct {
    const nn_optim_type *type;
    const nn_params *ps; /* the list the optimiser was made for */
    int count;           /* parameters in that list when the optimiser was made */
    long numel;          /* their total element count = length of each state buffer */
    float *state[NN_OPTIM_MAX_STATE];
    long *steps;
    double *hyper;       /* [type->nhyper], in the entry's order */
    nn_schedule *sched;
} nn_optim_state;

/* A new optimiser of the given type over ps: the table's defaults, then lr and the n settings
 * names[i] = values[i], every one checked against the table first. fn names the caller in
 * messages. What every public constructor calls (nn_adamw_new is one line of it). */
nn_optim *nn_optim_new_of_type(const char *fn, const nn_optim_type *type, nn_params *ps,
                               double lr, int n, const char *const *names, const double *values);

/* The window onto o (o must not be NULL). */
nn_optim_state nn_optim_state_of(nn_optim *o);

/* ---- save/load (nn/serialize.c, with the optimiser's part in nn/optim_file.c) -------------- */

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
#define NN_FILE_FLAG_OPTIM 1u    /* the file holds optimiser state */
#define NN_FILE_FLAG_SCHEDULE 2u /* a schedule section follows the optimiser section */

/* ---- the file's building blocks, shared by nn/serialize.c and nn/optim_file.c -------------- */

/* Little-endian integers and IEEE-754 bit patterns, whatever the machine's byte order. */
static inline uint32_t nn_get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t nn_get_u64(const unsigned char *p) {
    return (uint64_t)nn_get_u32(p) | (uint64_t)nn_get_u32(p + 4) << 32;
}
static inline float nn_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline double nn_bits_f64(uint64_t u) {
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* The saver's buffered writer (nn/serialize.c): little-endian values, a running CRC, the first
 * error kept (later writes are then skipped). */
typedef struct nn_file_writer nn_file_writer;
void nn_write_u32(nn_file_writer *w, uint32_t v);
void nn_write_u64(nn_file_writer *w, uint64_t v);
void nn_write_f64(nn_file_writer *w, double v);
void nn_write_floats(nn_file_writer *w, const float *v, long n);

/* A read cursor over a loaded file: nn_take returns the next n bytes, or NULL when fewer
 * remain. */
typedef struct {
    const unsigned char *p;
    size_t left;
} nn_cursor;
const unsigned char *nn_take(nn_cursor *c, size_t n);

/* Record "nn_load: FILE: message" as the last error; returns -1. */
int nn_load_fail(const char *file, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* What the validating walk learns, for the applying walk: for each parameter record in the
 * file, the matching model parameter's index in the list; how many pending changes the file's
 * schedule holds. */
typedef struct {
    int *model_index; /* [file record] -> index in ps */
    long *offset;     /* [index in ps] -> its first value in the optimiser's state */
    int nchanges;
} nn_load_map;

/* The optimiser's part of a file (nn/optim_file.c): the header flags its sections need
 * (NN_FILE_FLAG_OPTIM, with NN_FILE_FLAG_SCHEDULE when the schedule needs its section), their
 * size, writing them; reading them (validate with apply = false, then copy with apply = true;
 * st NULL: validate only); the largest they can be for numel values and the header's flags. */
uint32_t nn_optim_file_flags(const nn_optim_state *st);
uint64_t nn_optim_file_size(const nn_optim_state *st);
void nn_optim_file_write(nn_file_writer *w, const nn_optim_state *st);
int nn_optim_file_read(nn_cursor *c, const char *file, uint32_t nrec, const nn_params *ps,
                       uint64_t values, nn_load_map *map, nn_optim_state *st, bool apply,
                       bool has_schedule);
uint64_t nn_optim_file_bound(uint64_t numel, uint32_t flags);

#endif /* BACKPROP_NN_PRIVATE_H */
