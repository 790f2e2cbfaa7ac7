/*
 * test_memory.c -- every byte goes through the allocator hook: a steady-state training step
 * allocates nothing, failing the Nth allocation, for every N, gives a clear error, no crash
 * and no leak, and the memory after every tensor's data is mapped (the kernels' masked moves
 * reach up to a vector past the end, and run slowly over a page never touched).
 */
#define _DEFAULT_SOURCE /* mmap's MAP_ANONYMOUS, mincore */
#include "support/testutil.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A small sigmoid net 6-2-1 trained on random data with the paper's momentum rule, one full
 * step (record, backward, update, reset) per call. Returns 0, or -1 with *why set. */
typedef struct {
    ag_tensor *W1, *b1, *W2, *b2, *X, *D;
    float vel[6 * 2 + 2 + 2 + 1];
} net;

static void net_free(net *n) {
    ag_tensor_free(n->W1);
    ag_tensor_free(n->b1);
    ag_tensor_free(n->W2);
    ag_tensor_free(n->b2);
    ag_tensor_free(n->X);
    ag_tensor_free(n->D);
}

static int net_new(net *n) {
    memset(n, 0, sizeof *n);
    n->W1 = ag_tensor_2d(6, 2, true);
    n->b1 = ag_tensor_2d(1, 2, true);
    n->W2 = ag_tensor_2d(2, 1, true);
    n->b2 = ag_tensor_2d(1, 1, true);
    n->X = ag_tensor_2d(64, 6, false);
    n->D = ag_tensor_2d(64, 1, false);
    if (!n->W1 || !n->b1 || !n->W2 || !n->b2 || !n->X || !n->D) return -1;
    tu_rng r = {3};
    ag_tensor *p[4] = {n->W1, n->b1, n->W2, n->b2};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < p[k]->numel; i++) p[k]->data[i] = (float)tu_uniform(&r, -0.3, 0.3);
    for (int i = 0; i < 64 * 6; i++) n->X->data[i] = (float)((i / 6 >> (i % 6)) & 1);
    for (int i = 0; i < 64; i++) n->D->data[i] = (float)(i % 3 == 0);
    return 0;
}

static int net_step(ag_tape *t, net *n) {
    ag_tensor *h = ag_sigmoid(t, ag_add(t, ag_matmul(t, n->X, n->W1), n->b1));
    ag_tensor *y = ag_sigmoid(t, ag_add(t, ag_matmul(t, h, n->W2), n->b2));
    ag_tensor *E = ag_sse(t, y, n->D);
    if (ag_backward(t, E) != 0) return -1;
    ag_tensor *p[4] = {n->W1, n->b1, n->W2, n->b2};
    float *v = n->vel;
    for (int k = 0; k < 4; k++) /* dw(t) = -eps dE/dw + alpha dw(t-1) */
        for (int i = 0; i < p[k]->numel; i++, v++) {
            *v = -0.1f * p[k]->grad[i] + 0.9f * *v;
            p[k]->data[i] += *v;
            p[k]->grad[i] = 0;
        }
    ag_tape_reset(t);
    return 0;
}

static void test_steady_state_step_allocates_nothing(void **state) {
    (void)state;
    tu_alloc_install();
    ag_tape *t = ag_tape_new();
    net n;
    assert_int_equal(net_new(&n), 0);
    assert_int_equal(net_step(t, &n), 0); /* the first step grows the arena */
    long before = tu_alloc.allocs;
    for (int s = 0; s < 50; s++) assert_int_equal(net_step(t, &n), 0);
    assert_int_equal(tu_alloc.allocs - before, 0);
    /* a large graph too: 100,000 scalar ops and a matmul, stepped again and again */
    ag_tensor *a = ag_scalar_param(0.999), *b = ag_scalar_param(0.001);
    ag_tensor *W = ag_tensor_2d(128, 128, true);
    for (int s = 0; s < 4; s++) {
        if (s == 1) before = tu_alloc.allocs;
        ag_tensor *x = ag_scalar(t, 1.0);
        for (int i = 0; i < 50000; i++) x = ag_add(t, ag_mul(t, x, a), b);
        ag_tensor *loss = ag_add(t, x, ag_sum(t, ag_tanh(t, ag_matmul(t, W, W))));
        assert_int_equal(ag_backward(t, loss), 0);
        ag_tape_reset(t);
    }
    assert_int_equal(tu_alloc.allocs - before, 0);
    /* a convolutional step: conv2d (im2col buffer and gemm scratch), relu, both poolings, a
     * conv1d over the rows */
    ag_tensor *img = ag_tensor_new(4, (const int[]){8, 1, 28, 28}, false);
    ag_tensor *K = ag_tensor_new(4, (const int[]){16, 1, 3, 3}, true);
    ag_tensor *kb = ag_tensor_new(1, (const int[]){16}, true);
    ag_tensor *K1 = ag_tensor_new(3, (const int[]){4, 16, 3}, true);
    assert_true(img && K && kb && K1);
    for (int s = 0; s < 4; s++) {
        if (s == 1) before = tu_alloc.allocs;
        ag_tensor *h = ag_relu(t, ag_conv2d(t, img, K, kb, 1, 1, 1));        /* (8,16,28,28) */
        ag_tensor *p = ag_avg_pool2d(t, ag_max_pool2d(t, h, 2, 2, 0), 2, 2, 0); /* (8,16,7,7) */
        ag_tensor *q = ag_conv1d(t, ag_reshape(t, p, 3, (const int[]){8, 16, 49}), K1, NULL, 2, 1, 1);
        assert_int_equal(ag_backward(t, ag_sum(t, q)), 0);
        ag_tape_reset(t);
    }
    assert_int_equal(tu_alloc.allocs - before, 0);
    ag_tensor_free(img);
    ag_tensor_free(K);
    ag_tensor_free(kb);
    ag_tensor_free(K1);
    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_tensor_free(W);
    net_free(&n);
    ag_tape_free(t);
    assert_int_equal(tu_alloc.outstanding_blocks, 0);
    tu_alloc_uninstall();
}

/* The whole life of a training program: make a tape and a net, train a few steps (the arena
 * grows during the first), run a gradient check, free everything. */
static int program(void) {
    int status = 0;
    ag_tape *t = ag_tape_new();
    net n;
    int made = net_new(&n);
    if (!t || made != 0) {
        assert_non_null(strstr(ag_last_error(), "out of memory"));
        status = -1;
    }
    for (int s = 0; status == 0 && s < 3; s++)
        if (net_step(t, &n) != 0) {
            tu_assert_error(t, "out of memory");
            status = -1;
        }
    net_free(&n);
    ag_tape_free(t);
    return status;
}

static void test_every_allocation_failure_is_clean(void **state) {
    (void)state;
    tu_alloc_install();
    long n;
    for (n = 1; n < 10000; n++) {
        tu_alloc_install();
        tu_alloc_fail_at(n);
        int status = program();
        assert_int_equal(tu_alloc.outstanding_blocks, 0); /* no leak, whatever failed */
        if (tu_alloc.failures == 0) {
            assert_int_equal(status, 0); /* ran to the end: N exceeded every allocation */
            break;
        }
        assert_int_equal(status, -1); /* the failure was noticed and reported */
    }
    assert_true(n > 8); /* the program makes more than a handful of allocations */
    tu_alloc_uninstall();
}

/* Allocation failure in the middle of a backward sweep (the gradients of intermediates are
 * the last thing a step allocates) changes no parameter gradient. */
static void test_failed_backward_changes_no_gradient(void **state) {
    (void)state;
    tu_alloc_install();
    ag_tensor *W = ag_tensor_2d(256, 256, true); /* 256 KB intermediates: beyond one chunk */
    for (int i = 0; i < W->numel; i++) W->data[i] = (float)(i % 7) * 0.01f;
    W->grad[0] = 5.0f;
    ag_tape *t = ag_tape_new();
    ag_tensor *E = ag_sum(t, ag_tanh(t, ag_matmul(t, W, W)));
    assert_null(ag_tape_error(t));
    tu_alloc_fail_at(1);
    assert_int_equal(ag_backward(t, E), -1);
    assert_int_equal(tu_alloc.failures, 1);
    tu_assert_error(t, "backward: out of memory");
    assert_true(W->grad[0] == 5.0f);
    for (int i = 1; i < W->numel; i++) assert_true(W->grad[i] == 0.0f);
    ag_tape_free(t);
    ag_tensor_free(W);
    assert_int_equal(tu_alloc.outstanding_blocks, 0);
    tu_alloc_uninstall();
}

/* Making layers with the Nth allocation failing, for every N: each constructor either succeeds
 * or leaves the list as it was (the same count; a retry under the same name succeeds), and
 * nothing leaks. */
static int make_layers(nn_params *ps, nn_rng *r, int *creations_failed) {
    const nn_init init = nn_init_uniform(0.3);
    for (int k = 0; k < 4; k++) {
        for (int attempt = 0; attempt < 2; attempt++) {
            const int count = nn_params_count(ps);
            bool made;
            switch (k) {
            case 0: made = nn_dense_new(ps, "d", 3, 2, NN_TANH, init, r).W != NULL; break;
            case 1: made = nn_recurrent_new(ps, "r", 2, 3, NN_TANH, init, r).W != NULL; break;
            case 2: made = nn_mlp_new(ps, "m", "3-4-2-1", NN_TANH, NN_SIGMOID, init, r).nlayers == 3; break;
            default: made = nn_elman_new(ps, "e", 2, 3, 2, NN_TANH, NN_SIGMOID, init, r).rec.W != NULL; break;
            }
            const int added[4] = {2, 3, 6, 5};
            if (made) {
                if (nn_params_count(ps) != count + added[k]) return -1;
                break;
            }
            if (!strstr(ag_last_error(), "out of memory") || nn_params_count(ps) != count)
                return -1;
            (*creations_failed)++;
            if (attempt == 1) return -1; /* only one allocation fails: the retry must succeed */
        }
    }
    return nn_params_count(ps) == 16 ? 0 : -1;
}

static void test_failed_layer_creation_is_undone(void **state) {
    (void)state;
    long n = tu_every_allocation_fails(make_layers);
    assert_true(n > 30); /* 16 parameters, each with data, gradient and name */
}

/* ---- the 64 bytes after every tensor's data are mapped ---------------------------------------
 * An allocator that gives every block fresh pages of its own, none of them touched: a page is
 * then resident only if the library itself wrote to it. */

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static void *fresh_pages(size_t size, void *ctx) {
    (void)ctx;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
static void unmap_pages(void *p, size_t size, void *ctx) {
    (void)ctx;
    munmap(p, size);
}

/* Whether every page holding a byte of [p, p + bytes) is resident. */
static bool resident(const void *p, size_t bytes) {
    const size_t ps = page_size();
    uintptr_t first = (uintptr_t)p & ~(uintptr_t)(ps - 1), last = ((uintptr_t)p + bytes - 1) & ~(uintptr_t)(ps - 1);
    for (uintptr_t a = first; a <= last; a += ps) {
        unsigned char in = 0;
        if (mincore((void *)a, ps, &in) != 0 || !(in & 1)) return false;
    }
    return true;
}

static void test_memory_after_the_data_is_mapped(void **state) {
    (void)state;
    enum { N = 13, OPS = 600 }; /* (1,13): 52 bytes; 600 outputs fill several pages */
    ag_set_allocator(fresh_pages, unmap_pages, NULL);
    ag_tensor *x = ag_tensor_2d(1, N, true);
    ag_tape *t = ag_tape_new();
    assert_non_null(x);
    assert_non_null(t);
    assert_true(resident(x->data, N * sizeof(float) + 64));
    ag_tensor *y[OPS];
    for (int i = 0; i < OPS; i++) {
        y[i] = ag_mul(t, i ? y[i - 1] : x, x); /* each output checked before the next is made */
        assert_true(resident(y[i]->data, N * sizeof(float) + 64));
    }
    assert_int_equal(ag_backward(t, ag_sum(t, y[OPS - 1])), 0);
    for (int i = 0; i < OPS; i++) assert_true(resident(y[i]->grad, N * sizeof(float) + 64));
    ag_tape_free(t);
    ag_tensor_free(x);
    ag_set_allocator(NULL, NULL, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady_state_step_allocates_nothing),
        cmocka_unit_test(test_every_allocation_failure_is_clean),
        cmocka_unit_test(test_failed_backward_changes_no_gradient),
        cmocka_unit_test(test_failed_layer_creation_is_undone),
        cmocka_unit_test(test_memory_after_the_data_is_mapped),
    };
    return cmocka_run_group_tests_name("memory", tests, NULL, NULL);
}
