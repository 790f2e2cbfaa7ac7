/*
 * idx.h -- read IDX files, the format of MNIST and Fashion-MNIST, plain or gzip-compressed.
 *
 * An IDX file is a 4-byte magic number (0, 0, a type code, the number of dimensions), then each
 * dimension as a 32-bit big-endian unsigned integer, then the values, big-endian, row-major.
 * A compressed file (recognised by its first two bytes, 1f 8b, whatever its name) is read
 * through a `gzip -dc` child process, so nothing links zlib.
 *
 * The reader trusts nothing in the header: the magic, the type, the number of dimensions and
 * every dimension are checked, and the data must be exactly as long as the dimensions say --
 * no shorter (truncated) and no longer. It never reads past the end of the file, and it never
 * allocates more than the file actually holds (for a plain file the length is checked before
 * anything is allocated; a compressed stream is read in growing pieces).
 *
 *   idx_array img;
 *   if (idx_read("train-images-idx3-ubyte.gz", &img) != 0) {
 *       fprintf(stderr, "%s\n", ag_last_error());   // names the file and what is wrong
 *       return 1;
 *   }
 *   // img.type == IDX_U8, img.ndim == 3, img.dims = {60000, 28, 28}, img.data = 47 million bytes
 *   idx_free(&img);
 */
#ifndef BACKPROP_EXAMPLES_IDX_H
#define BACKPROP_EXAMPLES_IDX_H

#include <stddef.h>

#define IDX_MAX_DIMS 8 /* the format allows 255; real files have 1 to 4 */

/* The type codes of the format (the magic number's third byte). */
typedef enum {
    IDX_U8 = 0x08,  /* unsigned byte */
    IDX_I8 = 0x09,  /* signed byte */
    IDX_I16 = 0x0B, /* 16-bit signed integer */
    IDX_I32 = 0x0C, /* 32-bit signed integer */
    IDX_F32 = 0x0D, /* 32-bit float */
    IDX_F64 = 0x0E  /* 64-bit float */
} idx_type;

typedef struct {
    idx_type type;
    int ndim;               /* 1 .. IDX_MAX_DIMS */
    int dims[IDX_MAX_DIMS]; /* dims[0..ndim-1], each >= 1; dims[0] counts the items */
    size_t count;           /* values: the product of the dimensions */
    size_t elem_size;       /* bytes per value: 1, 2, 4 or 8 */
    void *data;             /* count values in the host's byte order (ag_alloc'd; idx_free) */
} idx_array;

/* Read the IDX file at path (plain, or gzip-compressed) into *out. Returns 0, or -1 with *out
 * zeroed and the reason, naming the file, in ag_last_error(). */
int idx_read(const char *path, idx_array *out);

/* Free the values and zero the struct. NULL and zeroed structs are fine. */
void idx_free(idx_array *a);

/* The i-th value (0 <= i < count) as a double, whatever the type. */
double idx_value(const idx_array *a, size_t i);

/* The type's name: "u8", "i8", "i16", "i32", "f32", "f64", or "unknown". */
const char *idx_type_name(idx_type type);

#endif
