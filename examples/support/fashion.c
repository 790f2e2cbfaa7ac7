/*
 * fashion.c -- the Fashion-MNIST data for the examples (see fashion.h).
 */
#define _POSIX_C_SOURCE 200809L /* access */
#include "fashion.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

const char *const fashion_class_names[FASHION_NCLASS] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

/* dir/base if it exists, else dir/base.gz; NULL when neither is there. */
static const char *find_file(const char *dir, const char *base, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", dir, base);
    if (access(buf, F_OK) == 0) return buf;
    snprintf(buf, size, "%s/%s.gz", dir, base);
    return access(buf, F_OK) == 0 ? buf : NULL;
}

static void no_data(const char *prog, const char *dir, const char *base, bool default_dir) {
    fprintf(stderr,
            "%s: Fashion-MNIST is not in %s (neither %s nor %s.gz is there).\n"
            "  Install it with:  sudo apt-get install dataset-fashion-mnist\n"
            "  (it goes to " FASHION_DEFAULT_DATA ")%s\n",
            prog, dir, base, base,
            default_dir ? ", or give another directory with --data DIR." : ".");
}

int fashion_load_split(const char *prog, const char *dir, const char *prefix, int limit,
                       bool default_dir, fashion_split *s) {
    char base[2][64], path[2][1024];
    snprintf(base[0], sizeof base[0], "%s-images-idx3-ubyte", prefix);
    snprintf(base[1], sizeof base[1], "%s-labels-idx1-ubyte", prefix);
    for (int k = 0; k < 2; k++)
        if (!find_file(dir, base[k], path[k], sizeof path[k])) {
            no_data(prog, dir, base[k], default_dir);
            return 1;
        }
    if (idx_read(path[0], &s->images) != 0 || idx_read(path[1], &s->labels) != 0) {
        fprintf(stderr, "%s: %s\n", prog, ag_last_error());
        return 1;
    }
    const idx_array *im = &s->images, *lb = &s->labels;
    if (im->type != IDX_U8 || im->ndim != 3 || lb->type != IDX_U8 || lb->ndim != 1) {
        fprintf(stderr,
                "%s: %s and %s are not image and label files: want u8 (n,rows,cols) "
                "and u8 (n), got %s with %d dimensions and %s with %d\n",
                prog, path[0], path[1], idx_type_name(im->type), im->ndim, idx_type_name(lb->type),
                lb->ndim);
        return 1;
    }
    if (im->dims[0] != lb->dims[0]) {
        fprintf(stderr, "%s: %s holds %d images but %s holds %d labels\n", prog, path[0],
                im->dims[0], path[1], lb->dims[0]);
        return 1;
    }
    s->n = limit > 0 && limit < im->dims[0] ? limit : im->dims[0];
    s->pixels = im->dims[1] * im->dims[2];
    return 0;
}

void fashion_split_free(fashion_split *s) {
    idx_free(&s->images);
    idx_free(&s->labels);
}

int fashion_label(const fashion_split *s, int i) {
    return ((const unsigned char *)s->labels.data)[i];
}

int fashion_check_labels(const char *prog, const fashion_split *s, const char *which) {
    for (int i = 0; i < s->n; i++)
        if (fashion_label(s, i) >= FASHION_NCLASS) {
            fprintf(stderr, "%s: %s label %d is %d; labels must be 0..%d\n", prog, which, i,
                    fashion_label(s, i), FASHION_NCLASS - 1);
            return 1;
        }
    return 0;
}

void fashion_standardise(const fashion_split *train, float pixel_value[256], double *mean,
                         double *sd) {
    const unsigned char *px = train->images.data;
    const size_t n = train->images.count; /* the whole file, whatever part of it is used */
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        const double v = px[i] / 255.0;
        s += v;
        s2 += v * v;
    }
    *mean = s / n;
    *sd = sqrt(fmax(s2 / n - *mean * *mean, 1e-12));
    for (int v = 0; v < 256; v++) pixel_value[v] = (float)((v / 255.0 - *mean) / *sd);
}

void fashion_fill_batch(const fashion_split *s, const float pixel_value[256], const int *order,
                        int start, int b, float *x, int *lab) {
    const unsigned char *px = s->images.data;
    for (int r = 0; r < b; r++) {
        const int item = order ? order[start + r] : start + r;
        const unsigned char *img = px + (size_t)item * s->pixels;
        for (int j = 0; j < s->pixels; j++) x[(size_t)r * s->pixels + j] = pixel_value[img[j]];
        lab[r] = fashion_label(s, item);
    }
}

int fashion_argmax_row(const ag_tensor *y, int r) {
    const int c = y->shape[1];
    const float *p = y->data + (size_t)r * c;
    int best = 0;
    for (int j = 1; j < c; j++)
        if (p[j] > p[best]) best = j;
    return best;
}

void fashion_print_confusion(long confusion[FASHION_NCLASS][FASHION_NCLASS]) {
    printf("\nconfusion matrix on the test set (rows: true class, columns: predicted)\n%-12s",
           "");
    for (int c = 0; c < FASHION_NCLASS; c++) printf(" %5.5s", fashion_class_names[c]);
    printf("  correct\n");
    for (int r = 0; r < FASHION_NCLASS; r++) {
        long row = 0;
        printf("%-12s", fashion_class_names[r]);
        for (int c = 0; c < FASHION_NCLASS; c++) {
            printf(" %5ld", confusion[r][c]);
            row += confusion[r][c];
        }
        printf("  %6.1f%%\n", row ? 100.0 * confusion[r][r] / row : 0.0);
    }
}
