/* idx.c -- see idx.h. */
#define _POSIX_C_SOURCE 200809L /* fork, pipe, dup2, waitpid, fstat */
#include "idx.h"

#include "autograd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

const char *idx_type_name(idx_type type) {
    switch (type) {
    case IDX_U8: return "u8";
    case IDX_I8: return "i8";
    case IDX_I16: return "i16";
    case IDX_I32: return "i32";
    case IDX_F32: return "f32";
    case IDX_F64: return "f64";
    }
    return "unknown";
}

static size_t type_size(int code) {
    switch (code) {
    case IDX_U8: case IDX_I8: return 1;
    case IDX_I16: return 2;
    case IDX_I32: case IDX_F32: return 4;
    case IDX_F64: return 8;
    }
    return 0; /* not a type of the format */
}

/* ---- the byte source: the file itself, or the output of `gzip -dc` reading it --------------- */

typedef struct {
    const char *path;
    int fd;              /* what the values are read from: the file, or the pipe from gzip */
    pid_t gzip;          /* the child decompressing, or -1 for a plain file */
    long long file_size; /* the plain file's length in bytes; -1 when compressed */
    long long got;       /* bytes read from the (decompressed) stream so far */
    char why[400];       /* the first thing found wrong, "" while all is well */
    int short_read;      /* the stream ended too early: gzip's status may explain why */
} source;

static void problem(source *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void problem(source *s, const char *fmt, ...) {
    if (s->why[0]) return; /* keep the first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
}

/* Read up to n bytes; returns how many (fewer only at the end of the stream), -1 on error. */
static long long read_upto(source *s, void *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(s->fd, (char *)buf + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            problem(s, "read failed: %s", strerror(errno));
            return -1;
        }
        if (r == 0) break;
        done += (size_t)r;
    }
    s->got += (long long)done;
    return (long long)done;
}

/* Start `gzip -dc` with the open file fd as its standard input; s->fd becomes the pipe. */
static int start_gzip(source *s, int fd) {
    int p[2];
    if (pipe(p) != 0) {
        problem(s, "cannot make a pipe for gzip: %s", strerror(errno));
        return -1;
    }
    fflush(NULL); /* nothing buffered gets written twice by the child */
    pid_t pid = fork();
    if (pid < 0) {
        problem(s, "cannot start gzip: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) { /* the child: stdin = the file, stdout = the pipe, stderr = /dev/null */
        int null = open("/dev/null", O_WRONLY);
        if (dup2(fd, 0) < 0 || dup2(p[1], 1) < 0 || (null >= 0 && dup2(null, 2) < 0)) _exit(126);
        close(p[0]);
        close(p[1]);
        close(fd);
        if (null > 2) close(null);
        execlp("gzip", "gzip", "-dc", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    s->fd = p[0];
    s->gzip = pid;
    return 0;
}

/* Open path; sniff for gzip's magic (1f 8b) and start the decompressor when it is there. */
static int source_open(source *s, const char *path) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->fd = -1;
    s->gzip = -1;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        problem(s, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        problem(s, "not a regular file");
        close(fd);
        return -1;
    }
    unsigned char head[2] = {0, 0};
    ssize_t r = pread(fd, head, 2, 0);
    if (r == 2 && head[0] == 0x1f && head[1] == 0x8b) {
        s->file_size = -1;
        int rc = start_gzip(s, fd);
        close(fd); /* the child has its own copy */
        return rc;
    }
    s->fd = fd;
    s->file_size = (long long)st.st_size;
    return 0;
}

/* Close the stream and collect gzip; a failed decompression explains a short stream. */
static void source_close(source *s) {
    if (s->fd >= 0) close(s->fd); /* first, so a gzip still writing stops (SIGPIPE) */
    s->fd = -1;
    if (s->gzip <= 0) return;
    int status = 0;
    while (waitpid(s->gzip, &status, 0) < 0 && errno == EINTR) {
    }
    s->gzip = -1;
    bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    if (!failed || (s->why[0] && !s->short_read)) return; /* fine, or something else was wrong */
    char before[sizeof s->why];
    snprintf(before, sizeof before, "%s", s->why);
    s->why[0] = '\0';
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        problem(s, "it is gzip-compressed and the gzip program was not found (install gzip)");
    else if (WIFEXITED(status))
        problem(s, "gzip -dc could not decompress it (exit status %d): the compressed file is "
                   "damaged or truncated%s%s",
                WEXITSTATUS(status), before[0] ? "; " : "", before);
    else
        problem(s, "gzip -dc was killed by signal %d", WTERMSIG(status));
}

/* ---- the format ------------------------------------------------------------------------------ */

static uint32_t be32(const unsigned char *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* "60000x28x28" */
static const char *dims_str(const idx_array *a, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < a->ndim && len < size; k++)
        len += (size_t)snprintf(buf + len, size - len, k ? "x%d" : "%d", a->dims[k]);
    return buf;
}

/* Values arrive big-endian; turn each into the host's order. */
static void to_host_order(idx_array *a) {
    const uint16_t one = 1;
    if (a->elem_size == 1 || *(const unsigned char *)&one == 0) return; /* big-endian host */
    unsigned char *p = a->data;
    for (size_t i = 0; i < a->count; i++, p += a->elem_size)
        for (size_t lo = 0, hi = a->elem_size - 1; lo < hi; lo++, hi--) {
            unsigned char c = p[lo];
            p[lo] = p[hi];
            p[hi] = c;
        }
}

/* The magic number and the dimensions; fills type, ndim, dims, count, elem_size. */
static int read_header(source *s, idx_array *a) {
    unsigned char magic[4];
    long long n = read_upto(s, magic, 4);
    if (n < 0) return -1;
    if (n < 4) {
        s->short_read = 1;
        problem(s, "truncated: %lld bytes, too short for the 4-byte IDX magic number", n);
        return -1;
    }
    if (magic[0] != 0 || magic[1] != 0 || type_size(magic[2]) == 0 || magic[3] < 1) {
        problem(s, "not an IDX file: its magic number is %02x %02x %02x %02x (IDX starts with "
                   "00 00, a type code 08/09/0b/0c/0d/0e, and the number of dimensions)",
                magic[0], magic[1], magic[2], magic[3]);
        return -1;
    }
    if (magic[3] > IDX_MAX_DIMS) {
        problem(s, "the magic number says %d dimensions; this reader takes 1 to %d", magic[3],
                IDX_MAX_DIMS);
        return -1;
    }
    a->type = (idx_type)magic[2];
    a->ndim = magic[3];
    a->elem_size = type_size(magic[2]);
    unsigned char dims[4 * IDX_MAX_DIMS];
    n = read_upto(s, dims, 4 * (size_t)a->ndim);
    if (n < 0) return -1;
    if (n < 4 * a->ndim) {
        s->short_read = 1;
        problem(s, "truncated in its header: %d dimensions need %d bytes after the magic "
                   "number, the file has %lld",
                a->ndim, 4 * a->ndim, n);
        return -1;
    }
    size_t count = 1;
    for (int k = 0; k < a->ndim; k++) {
        uint32_t d = be32(dims + 4 * k);
        if (d == 0 || d > INT_MAX) {
            problem(s, "dimension %d is %lu: each must be 1 to %d", k + 1, (unsigned long)d,
                    INT_MAX);
            return -1;
        }
        if (count > SIZE_MAX / 16 / d) {
            problem(s, "its dimensions multiply to more values than memory can address");
            return -1;
        }
        count *= d;
        a->dims[k] = (int)d;
    }
    a->count = count;
    return 0;
}

/* Plain files: the length must be exactly header + data, checked before any allocation. */
static int check_length(source *s, const idx_array *a) {
    if (s->file_size < 0) return 0;
    long long header = 4 + 4LL * a->ndim;
    unsigned long long want = (unsigned long long)a->count * a->elem_size;
    unsigned long long have =
        s->file_size > header ? (unsigned long long)(s->file_size - header) : 0;
    if (have == want) return 0;
    char d[160];
    problem(s, "its dimensions (%s values of %s, %llu bytes) disagree with its size: %llu bytes "
               "of data after the %lld-byte header (%s)",
            dims_str(a, d, sizeof d), idx_type_name(a->type), want, have, header,
            have < want ? "truncated" : "too long");
    return -1;
}

/* The values: exactly count * elem_size bytes, then the end of the stream. A compressed stream
 * is read in doubling pieces, so a header that lies about its size costs no more memory than
 * the data that really comes. */
static int read_values(source *s, idx_array *a) {
    size_t want = a->count * a->elem_size;
    size_t cap = s->file_size >= 0 || want < ((size_t)1 << 20) ? want : (size_t)1 << 20;
    size_t have = 0;
    unsigned char *buf = ag_alloc(cap);
    if (!buf) {
        problem(s, "out of memory for %zu bytes of values", cap);
        return -1;
    }
    for (;;) {
        long long r = read_upto(s, buf + have, cap - have);
        if (r < 0) break;
        have += (size_t)r;
        if (have < cap || cap == want) break;
        size_t bigger = cap > want / 2 ? want : 2 * cap;
        unsigned char *nb = ag_alloc(bigger);
        if (!nb) {
            problem(s, "out of memory for %zu bytes of values", bigger);
            break;
        }
        memcpy(nb, buf, have);
        ag_free(buf);
        buf = nb;
        cap = bigger;
    }
    if (!s->why[0] && have < want) {
        char d[160];
        s->short_read = 1;
        problem(s, "truncated: its dimensions (%s values of %s) need %zu bytes of data, the "
                   "file holds %zu",
                dims_str(a, d, sizeof d), idx_type_name(a->type), want, have);
    }
    unsigned char extra;
    if (!s->why[0] && read_upto(s, &extra, 1) == 1) {
        char d[160];
        problem(s, "too long: more data follows the %zu bytes its dimensions (%s values of %s) "
                   "say",
                want, dims_str(a, d, sizeof d), idx_type_name(a->type));
    }
    if (s->why[0]) {
        ag_free(buf);
        return -1;
    }
    a->data = buf;
    to_host_order(a);
    return 0;
}

int idx_read(const char *path, idx_array *out) {
    if (!out) {
        ag_set_last_error("idx_read: the output struct is NULL");
        return -1;
    }
    memset(out, 0, sizeof *out);
    if (!path) {
        ag_set_last_error("idx_read: the path is NULL");
        return -1;
    }
    source s;
    idx_array a;
    memset(&a, 0, sizeof a);
    if (source_open(&s, path) == 0 && read_header(&s, &a) == 0 && check_length(&s, &a) == 0)
        read_values(&s, &a);
    source_close(&s);
    if (s.why[0]) {
        ag_free(a.data); /* set only on success, but be sure */
        ag_set_last_error("%s: %s", path, s.why);
        return -1;
    }
    *out = a;
    return 0;
}

void idx_free(idx_array *a) {
    if (!a) return;
    ag_free(a->data);
    memset(a, 0, sizeof *a);
}

double idx_value(const idx_array *a, size_t i) {
    const unsigned char *p = (const unsigned char *)a->data + i * a->elem_size;
    switch (a->type) {
    case IDX_U8: return *p;
    case IDX_I8: return (signed char)*p;
    case IDX_I16: { int16_t v; memcpy(&v, p, 2); return v; }
    case IDX_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case IDX_F32: { float v; memcpy(&v, p, 4); return v; }
    case IDX_F64: { double v; memcpy(&v, p, 8); return v; }
    }
    return 0.0;
}
