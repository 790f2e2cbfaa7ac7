/*
 * test_idx.c -- the IDX reader (examples/support/idx.h) on tiny files the tests write
 * themselves: good files of every type, plain and gzip-compressed, and bad ones (truncated,
 * too long, wrong magic, dimensions that disagree with the size, damaged compression), each
 * refused with a message that says what is wrong. A lying header costs no memory.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, setenv */
#include "support/testutil.h"

#include "examples/support/idx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static int make_dir(void **state) {
    (void)state;
    return tu_tmpdir_make(dir, sizeof dir, "test_idx");
}

static int remove_dir(void **state) {
    (void)state;
    return tu_tmpdir_remove(dir);
}

/* dir/name, in a static buffer (one at a time is enough). */
static const char *at(const char *name) {
    static char path[2][128];
    static int k;
    k ^= 1;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

static void write_bytes(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* An IDX header for `type` with the given dimensions into b; returns its length. */
static size_t header(unsigned char *b, int type, int ndim, const unsigned *dims) {
    b[0] = 0, b[1] = 0, b[2] = (unsigned char)type, b[3] = (unsigned char)ndim;
    for (int k = 0; k < ndim; k++) {
        b[4 + 4 * k] = (unsigned char)(dims[k] >> 24);
        b[5 + 4 * k] = (unsigned char)(dims[k] >> 16);
        b[6 + 4 * k] = (unsigned char)(dims[k] >> 8);
        b[7 + 4 * k] = (unsigned char)dims[k];
    }
    return 4 + 4 * (size_t)ndim;
}

/* A good u8 file of shape 3x2x4 whose values are 10*i + 1 (mod 256): returns its length. */
static size_t good_u8(unsigned char *b) {
    size_t n = header(b, 0x08, 3, (unsigned[]){3, 2, 4});
    for (int i = 0; i < 24; i++) b[n + i] = (unsigned char)(10 * i + 1);
    return n + 24;
}

static void gzip_file(const char *path, const char *gz) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", path, gz);
    assert_int_equal(system(cmd), 0);
}

/* Read path and expect failure with a message containing each of the parts (and the path). */
static void expect_refused(const char *path, const char *part1, const char *part2) {
    idx_array a;
    memset(&a, 0x5a, sizeof a);
    int rc = idx_read(path, &a);
    const char *e = ag_last_error();
    if (rc != -1 || !strstr(e, path) || !strstr(e, part1) || (part2 && !strstr(e, part2))) {
        print_error("idx_read(%s) returned %d, message '%s'; wanted -1 and '%s' '%s'\n", path, rc,
                    e, part1, part2 ? part2 : "");
        fail();
    }
    assert_null(a.data); /* zeroed on failure */
    assert_int_equal(a.count, 0);
}

static void expect_good_u8(const char *path) {
    idx_array a;
    if (idx_read(path, &a) != 0) {
        print_error("idx_read(%s): %s\n", path, ag_last_error());
        fail();
    }
    assert_int_equal(a.type, IDX_U8);
    assert_int_equal(a.ndim, 3);
    assert_int_equal(a.dims[0], 3);
    assert_int_equal(a.dims[1], 2);
    assert_int_equal(a.dims[2], 4);
    assert_int_equal(a.count, 24);
    assert_int_equal(a.elem_size, 1);
    for (int i = 0; i < 24; i++) assert_int_equal(((unsigned char *)a.data)[i], (10 * i + 1) & 255);
    assert_true(idx_value(&a, 23) == 231.0);
    idx_free(&a);
    assert_null(a.data);
}

static void test_reads_plain_and_gzip(void **state) {
    (void)state;
    unsigned char b[64];
    size_t n = good_u8(b);
    write_bytes(at("good"), b, n);
    expect_good_u8(at("good"));
    gzip_file(at("good"), at("good.gz"));
    expect_good_u8(at("good.gz"));
    /* compression is recognised by content, not by name */
    gzip_file(at("good"), at("compressed-without-suffix"));
    expect_good_u8(at("compressed-without-suffix"));
}

/* Multi-byte types arrive big-endian and come out right on any host. */
static void test_every_type_big_endian(void **state) {
    (void)state;
    struct { int type; size_t size; unsigned char bytes[8]; double want; } cases[] = {
        {0x09, 1, {0xfe}, -2.0},
        {0x0B, 2, {0xfe, 0xd4}, -300.0},
        {0x0C, 4, {0x00, 0x01, 0xe2, 0x40}, 123456.0},
        {0x0C, 4, {0xff, 0xff, 0xff, 0xff}, -1.0},
        {0x0D, 4, {0x3f, 0xc0, 0x00, 0x00}, 1.5},
        {0x0E, 8, {0xc0, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18}, -3.141592653589793},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        unsigned char b[64];
        size_t n = header(b, cases[c].type, 1, (unsigned[]){2});
        for (int item = 0; item < 2; item++)
            for (size_t k = 0; k < cases[c].size; k++) b[n++] = cases[c].bytes[k];
        for (int gz = 0; gz < 2; gz++) {
            const char *path = at("typed");
            write_bytes(path, b, n);
            if (gz) {
                gzip_file(path, at("typed.gz"));
                path = at("typed.gz");
            }
            idx_array a;
            if (idx_read(path, &a) != 0) {
                print_error("type %02x: %s\n", cases[c].type, ag_last_error());
                fail();
            }
            assert_int_equal(a.type, cases[c].type);
            assert_int_equal(a.elem_size, cases[c].size);
            assert_int_equal(a.count, 2);
            for (int item = 0; item < 2; item++)
                if (idx_value(&a, (size_t)item) != cases[c].want) {
                    print_error("type %02x: value %d is %.17g, want %.17g\n", cases[c].type, item,
                                idx_value(&a, (size_t)item), cases[c].want);
                    fail();
                }
            idx_free(&a);
        }
    }
}

static void test_truncated_files(void **state) {
    (void)state;
    unsigned char b[64];
    size_t n = good_u8(b);
    write_bytes(at("short-data"), b, n - 1); /* one value missing */
    expect_refused(at("short-data"), "disagree", "truncated");
    write_bytes(at("short-header"), b, 10); /* 3 dimensions need 12 bytes, 6 are there */
    expect_refused(at("short-header"), "truncated in its header", NULL);
    write_bytes(at("short-magic"), b, 3);
    expect_refused(at("short-magic"), "truncated", "magic");
    write_bytes(at("empty"), b, 0);
    expect_refused(at("empty"), "truncated", "0 bytes");
    /* compressed, the data is streamed: the same faults found as the bytes run out */
    write_bytes(at("short-data"), b, n - 1);
    gzip_file(at("short-data"), at("short-data.gz"));
    expect_refused(at("short-data.gz"), "truncated", "need 24 bytes of data, the file holds 23");
    write_bytes(at("short-header"), b, 10);
    gzip_file(at("short-header"), at("short-header.gz"));
    expect_refused(at("short-header.gz"), "truncated in its header", NULL);
}

static void test_too_long(void **state) {
    (void)state;
    unsigned char b[64];
    size_t n = good_u8(b);
    b[n] = 7;
    write_bytes(at("long"), b, n + 1);
    expect_refused(at("long"), "disagree", "too long");
    gzip_file(at("long"), at("long.gz"));
    expect_refused(at("long.gz"), "too long", NULL);
}

static void test_wrong_magic(void **state) {
    (void)state;
    unsigned char b[64];
    size_t n = good_u8(b);
    struct { int byte, value; } bad[] = {
        {0, 1},    /* must start 00 00 */
        {1, 8},
        {2, 0x0A}, /* not a type code */
        {2, 0x00},
        {3, 0},    /* no dimensions */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        unsigned char c[64];
        memcpy(c, b, n);
        c[bad[k].byte] = (unsigned char)bad[k].value;
        write_bytes(at("magic"), c, n);
        expect_refused(at("magic"), "not an IDX file", "magic number");
    }
    unsigned char c[64];
    memcpy(c, b, n);
    c[3] = 9; /* more dimensions than the reader takes */
    write_bytes(at("magic"), c, n);
    expect_refused(at("magic"), "9 dimensions", NULL);
    /* a text file, and the same compressed */
    write_bytes(at("text"), (const unsigned char *)"hello, world\n", 13);
    expect_refused(at("text"), "not an IDX file", NULL);
    gzip_file(at("text"), at("text.gz"));
    expect_refused(at("text.gz"), "not an IDX file", NULL);
}

static void test_dimensions_disagree_with_size(void **state) {
    (void)state;
    unsigned char b[64];
    size_t n = good_u8(b);
    /* say 4 items where the file holds 3 */
    b[7] = 4;
    write_bytes(at("dims"), b, n);
    expect_refused(at("dims"), "4x2x4", "disagree");
    /* say 2 items: now 8 bytes too many */
    b[7] = 2;
    write_bytes(at("dims"), b, n);
    expect_refused(at("dims"), "2x2x4", "too long");
    /* a type with bigger values: 24 bytes are 6 i32 values, not 24 */
    b[7] = 3;
    b[2] = 0x0C;
    write_bytes(at("dims"), b, n);
    expect_refused(at("dims"), "of i32", "disagree");
    /* a zero dimension */
    b[2] = 0x08;
    b[11] = 0;
    write_bytes(at("dims"), b, n);
    expect_refused(at("dims"), "dimension 2 is 0", NULL);
    /* dimensions whose product overflows */
    unsigned char h[64];
    size_t m = header(h, 0x0E, 4, (unsigned[]){0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff});
    write_bytes(at("huge"), h, m);
    expect_refused(at("huge"), "more values than memory can address", NULL);
}

/* An allocator that remembers the largest request. */
static size_t largest;
static void *spy_alloc(size_t size, void *ctx) {
    (void)ctx;
    if (size > largest) largest = size;
    return malloc(size);
}
static void spy_release(void *p, size_t size, void *ctx) {
    (void)size, (void)ctx;
    free(p);
}

/* A header that claims a gigabyte on a file of a few bytes allocates nothing (plain: the
 * length is checked first) or only a first piece (compressed: memory grows with the data). */
static void test_lying_header_costs_no_memory(void **state) {
    (void)state;
    unsigned char b[64];
    size_t n = header(b, 0x08, 2, (unsigned[]){1000000, 1000});
    memset(b + n, 1, 16);
    write_bytes(at("liar"), b, n + 16);
    gzip_file(at("liar"), at("liar.gz"));
    ag_set_allocator(spy_alloc, spy_release, NULL);
    largest = 0;
    idx_array a;
    int plain = idx_read(at("liar"), &a);
    size_t plain_largest = largest;
    largest = 0;
    int gz = idx_read(at("liar.gz"), &a);
    size_t gz_largest = largest;
    ag_set_allocator(NULL, NULL, NULL);
    assert_int_equal(plain, -1);
    assert_int_equal(gz, -1);
    assert_non_null(strstr(ag_last_error(), "need 1000000000 bytes of data, the file holds 16"));
    assert_true(plain_largest < 1024);
    assert_true(gz_largest <= ((size_t)2 << 20));
}

static void test_damaged_compression(void **state) {
    (void)state;
    unsigned char b[64];
    size_t n = good_u8(b);
    write_bytes(at("good"), b, n);
    gzip_file(at("good"), at("cut.gz"));
    /* cut the compressed file short */
    FILE *f = fopen(at("cut.gz"), "rb");
    assert_non_null(f);
    unsigned char z[256];
    size_t zn = fread(z, 1, sizeof z, f);
    fclose(f);
    assert_true(zn > 20);
    write_bytes(at("cut.gz"), z, zn - 6);
    expect_refused(at("cut.gz"), "gzip -dc could not decompress it", "damaged or truncated");
    /* every byte there, but the checksum in the trailer is wrong */
    z[zn - 8] ^= 0xff;
    write_bytes(at("crc.gz"), z, zn);
    expect_refused(at("crc.gz"), "gzip -dc could not decompress it", NULL);
}

static void test_gzip_missing(void **state) {
    (void)state;
    unsigned char b[64];
    size_t n = good_u8(b);
    write_bytes(at("good"), b, n);
    gzip_file(at("good"), at("good.gz"));
    const char *old = getenv("PATH");
    char saved[4096];
    snprintf(saved, sizeof saved, "%s", old ? old : "/usr/bin:/bin");
    setenv("PATH", dir, 1); /* a directory with no gzip in it */
    idx_array a;
    int rc = idx_read(at("good.gz"), &a);
    setenv("PATH", saved, 1);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(ag_last_error(), "gzip program was not found"));
    /* a plain file needs no gzip */
    setenv("PATH", dir, 1);
    rc = idx_read(at("good"), &a);
    setenv("PATH", saved, 1);
    assert_int_equal(rc, 0);
    idx_free(&a);
}

static void test_not_a_file(void **state) {
    (void)state;
    expect_refused(at("does-not-exist"), "cannot open", "No such file");
    expect_refused(dir, "not a regular file", NULL);
    idx_array a;
    assert_int_equal(idx_read(NULL, &a), -1);
    assert_non_null(strstr(ag_last_error(), "path is NULL"));
    assert_int_equal(idx_read(at("x"), NULL), -1);
    idx_free(NULL);
}

/* The real data set, when it is installed: 60,000 training labels, 6,000 of each class. */
static void test_fashion_mnist_labels_if_installed(void **state) {
    (void)state;
    const char *path = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
    if (access(path, R_OK) != 0) skip();
    idx_array a;
    if (idx_read(path, &a) != 0) {
        print_error("%s\n", ag_last_error());
        fail();
    }
    assert_int_equal(a.type, IDX_U8);
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.dims[0], 60000);
    int per_class[10] = {0};
    for (size_t i = 0; i < a.count; i++) {
        unsigned char l = ((unsigned char *)a.data)[i];
        assert_true(l < 10);
        per_class[l]++;
    }
    for (int c = 0; c < 10; c++) assert_int_equal(per_class[c], 6000);
    idx_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_plain_and_gzip),
        cmocka_unit_test(test_every_type_big_endian),
        cmocka_unit_test(test_truncated_files),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_dimensions_disagree_with_size),
        cmocka_unit_test(test_lying_header_costs_no_memory),
        cmocka_unit_test(test_damaged_compression),
        cmocka_unit_test(test_gzip_missing),
        cmocka_unit_test(test_not_a_file),
        cmocka_unit_test(test_fashion_mnist_labels_if_installed),
    };
    return cmocka_run_group_tests_name("idx", tests, make_dir, remove_dir);
}
