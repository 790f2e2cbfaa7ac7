/*
 * serialize.c -- saving and loading parameters and optimiser state (the format is
 * docs/format.md).
 *
 * Saving streams the file through a small buffer into a temporary file next to the target,
 * then fsync + rename: the old file stays intact until the new one is complete on disk.
 * Loading reads the whole file into memory, validates all of it (header, size, checksum, every
 * record against the model) without touching anything, and only then walks it a second time to
 * copy the values in. The second walk cannot fail: it reads what the first one accepted.
 */
#define _POSIX_C_SOURCE 200809L /* fsync, fstat, strerror_r, clock_gettime */
#include "nn_private.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The format stores IEEE-754 binary32 values and binary64 hyperparameters bit for bit. */
_Static_assert(FLT_MANT_DIG == 24 && sizeof(float) == 4, "float must be IEEE-754 binary32");
_Static_assert(DBL_MANT_DIG == 53 && sizeof(double) == 8, "double must be IEEE-754 binary64");

#define NAME_MAX_LEN 63 /* as nn_param_new */

/* ---- CRC-32 ----------------------------------------------------------------------------------
 * Four bits at a time with a 16-entry table that the compiler computes: entry n is n run
 * through four steps of the bitwise algorithm (shift right, xor the polynomial when the bit
 * that fell out was 1). Constant, so it is shared by every thread without any set-up. */
#define CRC_POLY 0xEDB88320u
#define CRC_STEP(c) (((c) >> 1) ^ (CRC_POLY & (0u - ((c) & 1u))))
#define CRC_NIBBLE(n) CRC_STEP(CRC_STEP(CRC_STEP(CRC_STEP((uint32_t)(n)))))
static const uint32_t crc_nibble[16] = {
    CRC_NIBBLE(0),  CRC_NIBBLE(1),  CRC_NIBBLE(2),  CRC_NIBBLE(3),  CRC_NIBBLE(4),  CRC_NIBBLE(5),
    CRC_NIBBLE(6),  CRC_NIBBLE(7),  CRC_NIBBLE(8),  CRC_NIBBLE(9),  CRC_NIBBLE(10), CRC_NIBBLE(11),
    CRC_NIBBLE(12), CRC_NIBBLE(13), CRC_NIBBLE(14), CRC_NIBBLE(15),
};

uint32_t nn_crc32(uint32_t crc, const void *data, size_t n) {
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return ~crc;
}

/* ---- little-endian encoding, whatever the machine's byte order ------------------------------ */

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static uint64_t f64_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* ---- errors --------------------------------------------------------------------------------- */

/* Record "fn: file: message" as the last error; returns -1. */
static int fail(const char *fn, const char *file, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int fail(const char *fn, const char *file, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ag_set_last_error("%s: %s: %s", fn, file, msg);
    return -1;
}

int nn_load_fail(const char *file, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ag_set_last_error("nn_load: %s: %s", file, msg);
    return -1;
}

/* The text of an errno value (strerror_r: strerror may share a buffer between threads). */
typedef struct { char s[96]; } errtext;
static errtext errno_text(int e) {
    errtext t;
    if (strerror_r(e, t.s, sizeof t.s) != 0) snprintf(t.s, sizeof t.s, "error %d", e);
    return t;
}

/* "(2,3)" for a shape read from a file. */
typedef struct { char s[64]; } shapetext;
static shapetext shape_text(int ndim, const uint32_t *dims) {
    shapetext t;
    size_t len = 0;
    t.s[0] = '\0';
    for (int k = 0; k < ndim && len < sizeof t.s; k++) {
        int w = snprintf(t.s + len, sizeof t.s - len, "%s%lu", k ? "," : "(", (unsigned long)dims[k]);
        if (w < 0) break;
        len += (size_t)w;
    }
    if (len < sizeof t.s) snprintf(t.s + len, sizeof t.s - len, ")");
    return t;
}

/* The optimiser's state with the checks both directions need. */
static int optim_window(const char *fn, const char *file, const nn_params *ps,
                        const nn_optim *opt, nn_optim_state *st) {
    *st = nn_optim_state_of((nn_optim *)opt);
    if (st->ps != ps)
        return fail(fn, file, "the optimiser was made for another parameter list");
    if (st->count != nn_params_count(ps) || st->numel != nn_params_numel(ps))
        return fail(fn, file, "the parameter list changed after the optimiser was made (%d "
                              "parameters then, %d now)",
                    st->count, nn_params_count(ps));
    return 0;
}

/* The index of the first value of v[0..n-1] that is NaN or Inf, or -1. */
static long first_nonfinite(const float *v, long n) {
    for (long i = 0; i < n; i++)
        if (!isfinite(v[i])) return i;
    return -1;
}

/* =============================================================================================
 * Saving
 * =========================================================================================== */

/* A buffered writer to a file descriptor that keeps a running CRC of everything it wrote and
 * the first errno that went wrong (later writes are then skipped). */
struct nn_file_writer {
    int fd;
    int err;
    uint32_t crc;
    uint64_t written;
    size_t n;
    unsigned char buf[16384];
};
typedef nn_file_writer writer;

static void w_flush(writer *w) {
    w->crc = nn_crc32(w->crc, w->buf, w->n);
    const unsigned char *p = w->buf;
    size_t left = w->n;
    while (left > 0 && !w->err) {
        ssize_t k = write(w->fd, p, left);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            w->err = k < 0 ? errno : EIO;
            break;
        }
        p += k;
        left -= (size_t)k;
        w->written += (uint64_t)k;
    }
    w->n = 0;
}

/* Room for `size` more bytes in the buffer (size <= 8). */
static unsigned char *w_room(writer *w, size_t size) {
    if (sizeof w->buf - w->n < size) w_flush(w);
    unsigned char *p = w->buf + w->n;
    w->n += size;
    return p;
}
static void w_u8(writer *w, unsigned v) { *w_room(w, 1) = (unsigned char)v; }
void nn_write_u32(writer *w, uint32_t v) { put_u32(w_room(w, 4), v); }
void nn_write_u64(writer *w, uint64_t v) { put_u64(w_room(w, 8), v); }
void nn_write_f64(writer *w, double v) { nn_write_u64(w, f64_bits(v)); }
void nn_write_floats(writer *w, const float *v, long n) {
    for (long i = 0; i < n && !w->err; i++) put_u32(w_room(w, 4), f32_bits(v[i]));
}
static void w_bytes(writer *w, const void *src, size_t n) {
    for (size_t i = 0; i < n; i++) w_u8(w, ((const unsigned char *)src)[i]);
}

/* The whole file, header to the last state value (the caller adds the CRC). */
static void write_body(writer *w, const nn_params *ps, const nn_optim_state *st,
                       uint64_t size) {
    const int count = nn_params_count(ps);
    w_bytes(w, NN_FILE_MAGIC, 8);
    nn_write_u32(w, NN_FILE_VERSION);
    nn_write_u32(w, st ? nn_optim_file_flags(st) : 0u);
    nn_write_u64(w, size);
    nn_write_u32(w, (uint32_t)count);
    nn_write_u32(w, 0); /* reserved */
    for (int i = 0; i < count; i++) {
        const ag_tensor *x = nn_params_at(ps, i);
        size_t len = strlen(x->name);
        w_u8(w, (unsigned)len);
        w_bytes(w, x->name, len);
        w_u8(w, (unsigned)x->ndim);
        for (int k = 0; k < x->ndim; k++) nn_write_u32(w, (uint32_t)x->shape[k]);
        nn_write_floats(w, x->data, x->numel);
    }
    if (st) nn_optim_file_write(w, st);
}

/* Check what is about to be saved and compute the file's size. */
static int save_plan(const char *path, const nn_params *ps, const nn_optim_state *st,
                     uint64_t *size) {
    uint64_t total = NN_FILE_HEADER + 4;
    for (int i = 0; i < nn_params_count(ps); i++) {
        const ag_tensor *x = nn_params_at(ps, i);
        size_t len = x->name ? strlen(x->name) : 0;
        if (len < 1 || len > NAME_MAX_LEN)
            return fail("nn_save", path, "parameter %d has no name of 1 to %d characters", i,
                        NAME_MAX_LEN);
        long bad = first_nonfinite(x->data, x->numel);
        if (bad >= 0)
            return fail("nn_save", path, "parameter '%s' holds %s at element %ld; nothing saved, "
                                         "the old file is kept",
                        x->name, isnan(x->data[bad]) ? "NaN" : "Inf", bad);
        total += 1 + len + 1 + 4 * (uint64_t)x->ndim + 4 * (uint64_t)x->numel;
    }
    if (st) {
        for (int k = 0; k < st->type->nstate; k++) {
            long bad = first_nonfinite(st->state[k], st->numel);
            if (bad >= 0)
                return fail("nn_save", path, "the optimiser state holds NaN or Inf at value %ld; "
                                             "nothing saved, the old file is kept",
                            bad);
        }
        total += nn_optim_file_size(st);
    }
    *size = total;
    return 0;
}

/* Create a new temporary file next to path: PATH.tmp.PID.N, opened exclusively (so two savers
 * never share one), with the permissions a new file gets (0666 less the umask). */
static int open_temp(const char *path, char *tmp, size_t size) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, size, "%s.tmp.%ld.%ld", path, (long)getpid(), (long)ts.tv_nsec + attempt);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

/* Make the rename durable: fsync the directory that holds path (best effort: the new file is
 * already in place, only its surviving a power cut right now is in question). */
static void sync_dir(const char *path, char *buf, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(buf, size, ".");
    else if (slash == path) snprintf(buf, size, "/");
    else snprintf(buf, size, "%.*s", (int)(slash - path), path);
    int fd = open(buf, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int nn_save(const char *path, const nn_params *ps, const nn_optim *opt) {
    if (!path || !path[0]) return fail("nn_save", "(no file)", "path is %s", path ? "empty" : "NULL");
    if (!ps) return fail("nn_save", path, "parameter list is NULL");
    nn_optim_state st;
    if (opt && optim_window("nn_save", path, ps, opt, &st) != 0) return -1;
    uint64_t size = 0;
    if (save_plan(path, ps, opt ? &st : NULL, &size) != 0) return -1;

    size_t tmp_size = strlen(path) + 48;
    char *tmp = ag_alloc(tmp_size);
    if (!tmp) return fail("nn_save", path, "out of memory; nothing saved, the old file is kept");
    int fd = open_temp(path, tmp, tmp_size);
    if (fd < 0) {
        errtext e = errno_text(errno);
        fail("nn_save", path, "cannot create a temporary file next to it: %s", e.s);
        ag_free(tmp);
        return -1;
    }
    writer w;
    w.fd = fd;
    w.err = 0;
    w.crc = 0;
    w.written = 0;
    w.n = 0;
    write_body(&w, ps, opt ? &st : NULL, size);
    w_flush(&w);
    unsigned char crc[4];
    put_u32(crc, w.crc);
    w_bytes(&w, crc, 4);
    w_flush(&w);
    const char *step = "write";
    int err = w.err;
    if (!err && w.written != size) err = EIO; /* cannot happen: the plan and the writer agree */
    if (!err && fsync(fd) != 0) step = "fsync", err = errno;
    if (close(fd) != 0 && !err) step = "close", err = errno;
    if (!err && rename(tmp, path) != 0) step = "rename", err = errno;
    if (err) {
        errtext e = errno_text(err);
        unlink(tmp);
        ag_free(tmp);
        return fail("nn_save", path, "%s failed: %s; nothing saved, the old file is kept", step,
                    e.s);
    }
    sync_dir(path, tmp, tmp_size);
    ag_free(tmp);
    return 0;
}

/* =============================================================================================
 * Loading
 * =========================================================================================== */

/* Check the fixed header against the size of the file it came from. hdr holds the file's
 * first min(file_size, NN_FILE_HEADER) bytes. */
static int check_header(const unsigned char *hdr, uint64_t file_size, const char *file) {
    if (file_size < NN_FILE_HEADER + 4) {
        if (file_size >= 8 && memcmp(hdr, NN_FILE_MAGIC, 8) != 0)
            return fail("nn_load", file, "not a backprop parameter file (wrong magic)");
        return fail("nn_load", file, "truncated: %llu bytes, less than a header and a checksum "
                                     "(%d bytes)",
                    (unsigned long long)file_size, NN_FILE_HEADER + 4);
    }
    if (memcmp(hdr, NN_FILE_MAGIC, 8) != 0)
        return fail("nn_load", file, "not a backprop parameter file (wrong magic)");
    uint32_t version = nn_get_u32(hdr + NN_FILE_OFF_VERSION);
    if (version > NN_FILE_VERSION)
        return fail("nn_load", file, "format version %lu is newer than this library reads "
                                     "(version %u); upgrade the library",
                    (unsigned long)version, NN_FILE_VERSION);
    if (version == 0) return fail("nn_load", file, "invalid format version 0");
    uint32_t flags = nn_get_u32(hdr + NN_FILE_OFF_FLAGS);
    if (flags & ~(NN_FILE_FLAG_OPTIM | NN_FILE_FLAG_SCHEDULE))
        return fail("nn_load", file, "unknown flags 0x%lx in the header", (unsigned long)flags);
    if ((flags & NN_FILE_FLAG_SCHEDULE) && !(flags & NN_FILE_FLAG_OPTIM))
        return fail("nn_load", file, "corrupt: a schedule section without an optimiser section");
    uint64_t said = nn_get_u64(hdr + NN_FILE_OFF_SIZE);
    if (said > file_size)
        return fail("nn_load", file, "truncated: the file has %llu bytes, its header says %llu",
                    (unsigned long long)file_size, (unsigned long long)said);
    if (said < file_size)
        return fail("nn_load", file, "%llu bytes of unexpected data after the end the header "
                                     "gives (%llu bytes)",
                    (unsigned long long)(file_size - said), (unsigned long long)said);
    if (nn_get_u32(hdr + NN_FILE_OFF_RESERVED) != 0) return fail("nn_load", file, "reserved header field is not zero");
    return 0;
}

typedef nn_cursor cursor;

const unsigned char *nn_take(cursor *c, size_t n) {
    if (n > c->left) return NULL;
    const unsigned char *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

/* A parameter record's head: its name and shape. */
typedef struct {
    char name[NAME_MAX_LEN + 1];
    int ndim;
    uint32_t dims[AG_MAX_DIMS];
    uint64_t numel;
} record_head;

/* The longest head: name length, name, dimension count, dimensions. */
#define RECORD_HEAD_MAX (1 + NAME_MAX_LEN + 1 + 4 * AG_MAX_DIMS)

/* Read record rec's head from c (its values follow). */
static int read_head(cursor *c, const char *file, uint32_t rec, record_head *h) {
    const unsigned char *p = nn_take(c, 1);
    if (!p) return fail("nn_load", file, "corrupt: parameter record %lu is cut short", (unsigned long)rec);
    const unsigned len = p[0];
    const unsigned char *name_bytes = len ? nn_take(c, len) : NULL;
    if (len < 1 || len > NAME_MAX_LEN || !name_bytes || memchr(name_bytes, 0, len))
        return fail("nn_load", file, "corrupt: parameter record %lu has a bad name (%u bytes)",
                    (unsigned long)rec, len);
    memcpy(h->name, name_bytes, len);
    h->name[len] = '\0';
    const unsigned char *nd = nn_take(c, 1);
    if (!nd || nd[0] < 1 || nd[0] > AG_MAX_DIMS)
        return fail("nn_load", file, "corrupt: parameter '%s' has %d dimensions (must be 1 to %d)",
                    h->name, nd ? nd[0] : -1, AG_MAX_DIMS);
    h->ndim = nd[0];
    h->numel = 1;
    for (int k = 0; k < h->ndim; k++) {
        const unsigned char *d = nn_take(c, 4);
        if (!d) return fail("nn_load", file, "corrupt: the shape of parameter '%s' is cut short", h->name);
        h->dims[k] = nn_get_u32(d);
        if (h->dims[k] < 1 || h->dims[k] > (uint32_t)AG_MAX_NUMEL) h->numel = (uint64_t)AG_MAX_NUMEL + 1;
        else if (h->numel <= AG_MAX_NUMEL) h->numel *= h->dims[k];
    }
    if (h->numel > AG_MAX_NUMEL)
        return fail("nn_load", file, "absurd size: parameter '%s' has shape %s", h->name,
                    shape_text(h->ndim, h->dims).s);
    return 0;
}

/* The model parameter a record's head names: its index in ps, or -1 with the reason. */
static int model_find(const char *file, const record_head *h, const nn_params *ps) {
    int j = 0, count = nn_params_count(ps);
    while (j < count && strcmp(nn_params_at(ps, j)->name, h->name) != 0) j++;
    if (j == count)
        return fail("nn_load", file, "parameter '%s' %s is in the file but not in the model",
                    h->name, shape_text(h->ndim, h->dims).s);
    return j;
}

/* Whether the head gives model parameter x's shape: 0, or -1 with the reason. */
static int same_shape(const char *file, const record_head *h, const ag_tensor *x) {
    bool same = x->ndim == h->ndim;
    for (int k = 0; same && k < h->ndim; k++) same = (uint32_t)x->shape[k] == h->dims[k];
    if (same) return 0;
    char want[64];
    return fail("nn_load", file, "parameter '%s' is %s in the file but %s in the model", h->name,
                shape_text(h->ndim, h->dims).s, ag_shape_str(x, want, sizeof want));
}

/* One parameter record: name, shape, values. Validate it (apply = false) or copy its values
 * into the model (apply = true). */
static int parameter_record(cursor *c, const char *file, uint32_t rec, nn_params *ps,
                            nn_load_map *map, bool apply, uint64_t *values) {
    record_head h;
    if (read_head(c, file, rec, &h) != 0) return -1;
    const unsigned char *data = nn_take(c, 4 * (size_t)h.numel);
    if (!data)
        return fail("nn_load", file, "corrupt: parameter '%s' %s needs %llu bytes of values, %zu "
                                     "remain",
                    h.name, shape_text(h.ndim, h.dims).s, 4 * (unsigned long long)h.numel, c->left);
    const int j = model_find(file, &h, ps);
    if (j < 0) return -1;
    for (uint32_t r = 0; r < rec && !apply; r++)
        if (map->model_index[r] == j)
            return fail("nn_load", file, "corrupt: parameter '%s' appears twice", h.name);
    ag_tensor *x = nn_params_at(ps, j);
    if (same_shape(file, &h, x) != 0) return -1;
    map->model_index[rec] = j;
    *values += h.numel;

    if (!apply) {
        for (uint64_t i = 0; i < h.numel; i++) {
            float v = nn_bits_f32(nn_get_u32(data + 4 * i));
            if (!isfinite(v))
                return fail("nn_load", file, "parameter '%s' holds %s at element %llu", h.name,
                            isnan(v) ? "NaN" : "Inf", (unsigned long long)i);
        }
        return 0;
    }
    for (uint64_t i = 0; i < h.numel; i++) x->data[i] = nn_bits_f32(nn_get_u32(data + 4 * i));
    return 0;
}

/* Walk the whole file (after the header and checksum checks): validate it (apply = false), or
 * copy what the validating walk accepted into the model and, when given, the optimiser. */
static int walk(const unsigned char *buf, size_t len, const char *file, nn_params *ps,
                nn_optim_state *st, nn_load_map *map, bool apply) {
    const uint32_t nrec = nn_get_u32(buf + NN_FILE_OFF_COUNT);
    const uint32_t flags = nn_get_u32(buf + NN_FILE_OFF_FLAGS);
    const int count = nn_params_count(ps);
    cursor c = {buf + NN_FILE_HEADER, len - NN_FILE_HEADER - 4};
    uint64_t values = 0;
    for (uint32_t r = 0; r < nrec; r++) {
        if (r == (uint32_t)count)
            return fail("nn_load", file, "the file holds %lu parameters, the model only %d",
                        (unsigned long)nrec, count);
        if (parameter_record(&c, file, r, ps, map, apply, &values) != 0) return -1;
    }
    for (int j = 0; j < count && !apply; j++) {
        uint32_t r = 0;
        while (r < nrec && map->model_index[r] != j) r++;
        if (r == nrec)
            return fail("nn_load", file, "model parameter '%s' is not in the file",
                        nn_params_at(ps, j)->name);
    }
    if ((flags & NN_FILE_FLAG_OPTIM) && (!apply || st) &&
        nn_optim_file_read(&c, file, nrec, ps, values, map, st, apply,
                           flags & NN_FILE_FLAG_SCHEDULE) != 0)
        return -1;
    if (!apply && c.left != 0)
        return fail("nn_load", file, "corrupt: %zu unexpected bytes before the checksum", c.left);
    return 0;
}

int nn_load_buffer(const unsigned char *buf, size_t len, const char *file, nn_params *ps,
                   nn_optim *opt) {
    if (!file) file = "(buffer)";
    if (!buf || !ps) return fail("nn_load", file, "%s is NULL", buf ? "parameter list" : "buffer");
    nn_optim_state st;
    if (opt && optim_window("nn_load", file, ps, opt, &st) != 0) return -1;
    if (check_header(buf, len, file) != 0) return -1;
    const uint32_t stored = nn_get_u32(buf + len - 4), computed = nn_crc32(0, buf, len - 4);
    if (stored != computed)
        return fail("nn_load", file, "checksum mismatch (stored %08lx, computed %08lx): the file "
                                     "is corrupt",
                    (unsigned long)stored, (unsigned long)computed);
    if (opt && !(nn_get_u32(buf + NN_FILE_OFF_FLAGS) & NN_FILE_FLAG_OPTIM))
        return fail("nn_load", file, "the file holds no optimiser state (it was saved without "
                                     "one); load it with opt NULL");

    /* The map: where each record goes (one entry per parameter, so small). */
    const size_t count = (size_t)nn_params_count(ps);
    nn_load_map map;
    map.offset = ag_alloc((count ? count : 1) * (sizeof(long) + sizeof(int)));
    if (!map.offset) return fail("nn_load", file, "out of memory");
    map.model_index = (int *)(void *)(map.offset + count);
    map.nchanges = 0;
    long off = 0;
    for (size_t j = 0; j < count; j++) {
        map.model_index[j] = -1;
        map.offset[j] = off;
        off += nn_params_at(ps, (int)j)->numel;
    }
    int rc = walk(buf, len, file, ps, opt ? &st : NULL, &map, false);
    if (rc == 0 && opt && nn_schedule_reserve(st.sched, map.nchanges) != 0)
        rc = fail("nn_load", file, "out of memory for %d pending schedule changes", map.nchanges);
    if (rc == 0) walk(buf, len, file, ps, opt ? &st : NULL, &map, true); /* cannot fail now */
    ag_free(map.offset);
    return rc;
}

/* An upper bound on the size of any file that can fit the model, with the sections the
 * header's flags announce: longest names, most dimensions, the largest optimiser and schedule
 * sections. A larger file is refused before it is read into memory. */
static uint64_t size_bound(const nn_params *ps, uint32_t flags) {
    const uint64_t n = (uint64_t)nn_params_numel(ps);
    uint64_t bound = NN_FILE_HEADER + 4 + (uint64_t)nn_params_count(ps) * RECORD_HEAD_MAX + 4 * n;
    return bound + nn_optim_file_bound(n, flags);
}

/* A file larger than the model's bound is refused unread, but when its records name a
 * parameter the model lacks or give one another shape, that is the better reason to give first:
 * read just the records' heads (a few bytes each, skipping the values) and find the first such
 * record. Returns -1 with that reason in ag_last_error, or 0 when the heads fit the model. */
static int heads_against_model(int fd, uint64_t size, const unsigned char *hdr, const char *file,
                               const nn_params *ps) {
    const uint32_t nrec = nn_get_u32(hdr + NN_FILE_OFF_COUNT);
    const int count = nn_params_count(ps);
    uint64_t at = NN_FILE_HEADER;
    for (uint32_t r = 0; r < nrec && at < size; r++) {
        if (r == (uint32_t)count)
            return fail("nn_load", file, "the file holds %lu parameters, the model only %d",
                        (unsigned long)nrec, count);
        unsigned char head[RECORD_HEAD_MAX];
        const size_t want = size - at < RECORD_HEAD_MAX ? (size_t)(size - at) : RECORD_HEAD_MAX;
        if (pread(fd, head, want, (off_t)at) != (ssize_t)want) return 0;
        cursor c = {head, want};
        record_head h;
        if (read_head(&c, file, r, &h) != 0) return 0; /* corrupt: the size is reason enough */
        const int j = model_find(file, &h, ps);
        if (j < 0 || same_shape(file, &h, nn_params_at(ps, j)) != 0) return -1;
        at += (uint64_t)(want - c.left) + 4 * h.numel;
    }
    return 0;
}

int nn_load(const char *path, nn_params *ps, nn_optim *opt) {
    if (!path || !path[0]) return fail("nn_load", "(no file)", "path is %s", path ? "empty" : "NULL");
    if (!ps) return fail("nn_load", path, "parameter list is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errtext e = errno_text(errno);
        return fail("nn_load", path, "cannot open: %s", e.s);
    }
    int rc = -1;
    unsigned char *buf = NULL;
    struct stat sb;
    unsigned char hdr[NN_FILE_HEADER];
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fail("nn_load", path, "not a regular file");
        goto done;
    }
    const uint64_t size = (uint64_t)sb.st_size;
    const size_t hn = size < NN_FILE_HEADER ? (size_t)size : NN_FILE_HEADER;
    if (pread(fd, hdr, hn, 0) != (ssize_t)hn) {
        errtext e = errno_text(errno);
        fail("nn_load", path, "read failed: %s", e.s);
        goto done;
    }
    if (check_header(hdr, size, path) != 0) goto done;
    const uint64_t bound = size_bound(ps, nn_get_u32(hdr + NN_FILE_OFF_FLAGS));
    if (size > bound || (uint64_t)(size_t)size != size) {
        char size_text[160], better[240] = "";
        snprintf(size_text, sizeof size_text, "absurd size: %llu bytes, but any file for this "
                 "model (%d parameters, %ld values) has at most %llu",
                 (unsigned long long)size, nn_params_count(ps), nn_params_numel(ps),
                 (unsigned long long)bound);
        if (heads_against_model(fd, size, hdr, path, ps) != 0) /* the better reason, first */
            snprintf(better, sizeof better, "%s", ag_last_error());
        if (better[0]) ag_set_last_error("%s; the file was not read (%s)", better, size_text);
        else fail("nn_load", path, "%s", size_text);
        goto done;
    }
    buf = ag_alloc((size_t)size);
    if (!buf) {
        fail("nn_load", path, "out of memory for %llu bytes", (unsigned long long)size);
        goto done;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t k = pread(fd, buf + got, (size_t)size - got, (off_t)got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            errtext e = errno_text(errno);
            fail("nn_load", path, "read failed: %s", e.s);
            goto done;
        }
        if (k == 0) {
            fail("nn_load", path, "truncated while reading (the file shrank)");
            goto done;
        }
        got += (size_t)k;
    }
    rc = nn_load_buffer(buf, (size_t)size, path, ps, opt);
done:
    ag_free(buf);
    close(fd);
    return rc;
}
