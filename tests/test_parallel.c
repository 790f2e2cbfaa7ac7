/*
 * test_parallel.c -- the worker pool that large kernels share their work with, and its promise:
 * results identical bit for bit whatever the thread count; ag_set_threads, ag_get_threads and
 * BACKPROP_THREADS; no allocation per step with workers running; callers on several threads at
 * once. (tests/test_threads.c: user threads that each train their own model.)
 */
#define _POSIX_C_SOURCE 200809L
#include "support/testutil.h"

#include "autograd_private.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Runs first: the environment variable sets the thread count at first use. */
static void test_environment_sets_the_default(void **state) {
    (void)state;
    setenv("BACKPROP_THREADS", "3", 1);
    assert_int_equal(ag_get_threads(), 3);
    assert_int_equal(ag_set_threads(2), 0);
    assert_int_equal(ag_get_threads(), 2);
    assert_int_equal(ag_set_threads(0), 0); /* one per online CPU */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(ag_get_threads(), cpus < 1 ? 1 : cpus > 64 ? 64 : cpus);
    assert_int_equal(ag_set_threads(1), 0);
    assert_int_equal(ag_get_threads(), 1);
}

/* ---- the pool hands out every task exactly once ------------------------------------------- */

typedef struct {
    atomic_int count[257];
} tally;

static void count_task(void *ctx, int task) { atomic_fetch_add(&((tally *)ctx)->count[task], 1); }

static void test_every_task_runs_once(void **state) {
    (void)state;
    static tally t;
    for (int threads = 1; threads <= 3; threads++) {
        assert_int_equal(ag_set_threads(threads), 0);
        for (int rep = 0; rep < 200; rep++) {
            const int n = rep % 257;
            for (int i = 0; i < 257; i++) atomic_store(&t.count[i], 0);
            assert_int_equal(ag_parallel(n, count_task, &t), 0);
            for (int i = 0; i < 257; i++) assert_int_equal(atomic_load(&t.count[i]), i < n);
        }
    }
    ag_set_threads(1);
}

/* Every job of two tasks reaches the worker: task 0 waits (up to two seconds) until task 1 has
 * started on another thread. A worker that returned on seeing a job still being published (its
 * generation set, its first task not yet open) waited for the next job instead, and the calling
 * thread ran both tasks of this one: no second core at all for such jobs. */
typedef struct {
    atomic_int started[2];
    pthread_t thread[2];
} meeting;

static void meeting_task(void *ctx, int task) {
    meeting *m = ctx;
    m->thread[task] = pthread_self();
    atomic_store(&m->started[task], 1);
    if (task != 0) return;
    struct timespec now, end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += 2;
    do {
        if (atomic_load(&m->started[1])) return;
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec < end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec < end.tv_nsec));
}

static void test_every_job_reaches_the_worker(void **state) {
    (void)state;
    assert_int_equal(ag_set_threads(2), 0);
    int missed = 0;
    for (int rep = 0; rep < 10000 && !missed; rep++) {
        meeting m = {0};
        assert_int_equal(ag_parallel(2, meeting_task, &m), 0);
        missed = !pthread_equal(m.thread[0], m.thread[1]) ? 0 : rep + 1;
    }
    assert_int_equal(missed, 0); /* else: the job numbered `missed` ran on one thread alone */
    ag_set_threads(1);
}

/* A task that starts a job of its own: that inner job runs on the task's thread, in order. */
typedef struct {
    tally *inner;
    atomic_int started;
} nesting;

static void nested_task(void *ctx, int task) {
    nesting *n = ctx;
    atomic_fetch_add(&n->started, 1);
    assert_int_equal(ag_parallel(4, count_task, &n->inner[task]), 0);
}

static void test_tasks_may_start_jobs(void **state) {
    (void)state;
    static tally inner[3];
    nesting n = {inner, 0};
    assert_int_equal(ag_set_threads(2), 0);
    assert_int_equal(ag_parallel(3, nested_task, &n), 0);
    assert_int_equal(atomic_load(&n.started), 3);
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 257; i++) assert_int_equal(atomic_load(&inner[t].count[i]), i < 4);
    assert_int_equal(ag_parallel(0, count_task, &n), 0); /* no tasks: nothing to do */
    ag_set_threads(1);
}

/* ---- the optimisers' steps: same bits for any thread count -------------------------------- */

/* Three parameters with decay on; `steps` steps of gradients from a fixed sequence. Big: the
 * first big enough that a step is split over the threads (the split falls inside it and at its
 * end); small: a step run whole on the calling thread. The weights after it, as the parameters'
 * data. */
static nn_params *optimised(int kind, int threads, int steps, bool big) {
    assert_int_equal(ag_set_threads(threads), 0);
    nn_params *ps = nn_params_new();
    const int sizes[3] = {big ? 70001 : 13, 7, big ? 40000 : 1};
    for (int p = 0; p < 3; p++) {
        ag_tensor *w = nn_param_new(ps, p == 0 ? "a" : p == 1 ? "b" : "c", 1, &sizes[p]);
        for (int i = 0; i < sizes[p]; i++) w->data[i] = (float)sin(0.37 * i + p);
    }
    nn_optim *o = kind == 0   ? nn_sgd_new(ps, 0.1, 0.9)
                  : kind == 1 ? nn_adam_new(ps, 0.01)
                  : kind == 2 ? nn_rmsprop_new(ps, 0.01)
                              : nn_adamw_new(ps, 0.01, 0.1);
    assert_non_null(o);
    if (kind < 3) nn_optim_set_weight_decay(o, 0.001);
    for (int k = 0; k < steps; k++) {
        for (int p = 0; p < 3; p++) {
            ag_tensor *w = nn_params_at(ps, p);
            for (int i = 0; i < w->numel; i++) w->grad[i] = (float)cos(0.11 * i * (k + 1) + p);
        }
        assert_int_equal(nn_optim_step(o, NULL), 0);
        for (int p = 0; p < 3; p++) /* the step zeroed every gradient */
            for (int i = 0; i < nn_params_at(ps, p)->numel; i++)
                assert_true(nn_params_at(ps, p)->grad[i] == 0.0f);
    }
    nn_optim_free(o);
    ag_set_threads(1);
    return ps;
}

static void test_optimiser_steps_are_bit_identical(void **state) {
    (void)state;
    for (int big = 0; big <= 1; big++)
        for (int kind = 0; kind < 4; kind++) {
            nn_params *one = optimised(kind, 1, 3, big);
            for (int threads = 2; threads <= 3; threads++) {
                nn_params *many = optimised(kind, threads, 3, big);
                for (int p = 0; p < 3; p++) {
                    const ag_tensor *a = nn_params_at(one, p), *b = nn_params_at(many, p);
                    assert_memory_equal(a->data, b->data, sizeof(float) * (size_t)a->numel);
                }
                nn_params_free(many);
            }
            nn_params_free(one);
        }
}

/* A NaN in the part of the gradients another thread scans: the step is refused and names it. */
static void test_a_refused_split_step_changes_nothing(void **state) {
    (void)state;
    assert_int_equal(ag_set_threads(2), 0);
    nn_params *ps = nn_params_new();
    ag_tensor *a = nn_param_new(ps, "a", 1, (const int[]){50000});
    ag_tensor *b = nn_param_new(ps, "b", 1, (const int[]){50000});
    nn_optim *o = nn_sgd_new(ps, 0.1, 0.9);
    for (int i = 0; i < 50000; i++) a->data[i] = b->data[i] = 1, a->grad[i] = b->grad[i] = 0.5f;
    b->grad[49998] = INFINITY;
    assert_int_equal(nn_optim_step(o, NULL), -1);
    assert_non_null(strstr(nn_error(NULL), "gradient of b holds Inf at element 49998"));
    for (int i = 0; i < 50000; i++)
        assert_true(a->data[i] == 1 && b->data[i] == 1 && a->grad[i] == 0.5f &&
                    (i == 49998 || b->grad[i] == 0.5f));
    b->grad[49998] = 0.5f;
    assert_int_equal(nn_optim_step(o, NULL), 0);
    assert_true(b->data[49999] != 1 && a->grad[0] == 0 && b->grad[49999] == 0);
    nn_optim_free(o);
    nn_params_free(ps);
    ag_set_threads(1);
}

/* ---- the matrix product: same bits for any thread count and any scratch ------------------- */

static void fill(tu_rng *r, float *x, long n) {
    for (long i = 0; i < n; i++) x[i] = (float)tu_uniform(r, -1, 1);
}

static void test_gemm_is_bit_identical(void **state) {
    (void)state;
    static const int shapes[][3] = {{1, 1, 1},    {7, 5, 3},     {33, 65, 130}, {130, 70, 300},
                                    {64, 128, 256}, {300, 40, 297}, {17, 600, 60}, {129, 257, 513},
                                    {600, 12, 400}, {300, 80, 297}};
    tu_rng r = {7};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
        float *C0 = malloc(sizeof(float) * M * N), *C1 = malloc(sizeof(float) * M * N);
        float *C = malloc(sizeof(float) * M * N);
        size_t need = ag_gemm_scratch(M, N, K, 3);
        float *scratch = ag_alloc((need + 1) * sizeof(float));
        assert_true(A && B && C0 && C1 && C && scratch);
        fill(&r, A, (long)M * K);
        fill(&r, B, (long)K * N);
        fill(&r, C0, (long)M * N);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int acc = 0; acc < 2; acc++) {
                    /* reference: one thread, all the scratch it wants */
                    ag_set_threads(1);
                    memcpy(C1, C0, sizeof(float) * M * N);
                    ag_gemm(M, N, K, A, ta, B, tb, C1, acc, scratch, need);
                    struct { int threads; size_t scratch; } run[] = {
                        {2, need}, {3, need}, {2, ag_gemm_scratch(M, N, K, 1)}, {3, 0}};
                    for (int k = 0; k < 4; k++) {
                        ag_set_threads(run[k].threads);
                        memcpy(C, C0, sizeof(float) * M * N);
                        ag_gemm(M, N, K, A, ta, B, tb, C, acc, run[k].scratch ? scratch : NULL,
                                run[k].scratch);
                        if (memcmp(C, C1, sizeof(float) * M * N) != 0) {
                            print_error("(%d,%d,%d) ta=%d tb=%d acc=%d: %d threads, %zu floats of "
                                        "scratch differ from 1 thread\n",
                                        M, N, K, ta, tb, acc, run[k].threads, run[k].scratch);
                            fail();
                        }
                    }
                }
        free(A), free(B), free(C0), free(C1), free(C);
        ag_free(scratch);
    }
    /* the shapes above include products that are split: more threads want more scratch */
    assert_true(ag_gemm_scratch(300, 80, 297, 2) > ag_gemm_scratch(300, 80, 297, 1));
    assert_true(ag_gemm_scratch(129, 257, 513, 3) > ag_gemm_scratch(129, 257, 513, 1));
    ag_set_threads(1);
}

/* ---- training: every loss and every weight, bit for bit ------------------------------------ */

#define BATCH 128 /* big enough that the first layer's products are split on every kernel table */
#define NIN 320
#define NHID 128
#define NOUT 10
#define STEPS 3

typedef struct {
    ag_tensor *W1, *b1, *W2, *b2, *X, *D;
    int labels[BATCH];
    float vel[NIN * NHID + NHID + NHID * NOUT + NOUT];
} net;

static void net_init(net *n) {
    tu_rng r = {11};
    n->W1 = tu_param(&r, 2, (const int[]){NIN, NHID}, -0.1, 0.1);
    n->b1 = tu_param(&r, 2, (const int[]){1, NHID}, -0.1, 0.1);
    n->W2 = tu_param(&r, 2, (const int[]){NHID, NOUT}, -0.1, 0.1);
    n->b2 = tu_param(&r, 2, (const int[]){1, NOUT}, -0.1, 0.1);
    n->X = ag_tensor_2d(BATCH, NIN, false);
    n->D = ag_tensor_2d(BATCH, NOUT, false);
    assert_true(n->X && n->D);
    fill(&r, n->X->data, BATCH * NIN);
    fill(&r, n->D->data, BATCH * NOUT);
    for (int i = 0; i < BATCH; i++) n->labels[i] = i % NOUT;
    memset(n->vel, 0, sizeof n->vel);
}

static void net_free(net *n) {
    ag_tensor_free(n->W1), ag_tensor_free(n->b1), ag_tensor_free(n->W2), ag_tensor_free(n->b2);
    ag_tensor_free(n->X), ag_tensor_free(n->D);
}

/* One step: tanh hidden layer, two losses (softmax cross-entropy and squared error on the
 * sigmoid of the logits), backward, the paper's momentum update. Returns the loss. */
static float net_step(ag_tape *t, net *n) {
    ag_tensor *h = ag_tanh(t, ag_add(t, ag_matmul(t, n->X, n->W1), n->b1));
    ag_tensor *z = ag_add(t, ag_matmul(t, h, n->W2), n->b2);
    ag_tensor *E = ag_add(t, ag_softmax_xent(t, z, n->labels), ag_sse(t, ag_sigmoid(t, z), n->D));
    assert_int_equal(ag_backward(t, E), 0);
    float loss = (float)ag_item(E);
    ag_tensor *p[4] = {n->W1, n->b1, n->W2, n->b2};
    float *v = n->vel;
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < p[k]->numel; i++, v++) {
            *v = -0.05f * p[k]->grad[i] + 0.9f * *v;
            p[k]->data[i] += *v;
            p[k]->grad[i] = 0.0f;
        }
    ag_tape_reset(t);
    return loss;
}

/* Train with `threads` threads; the losses and all the weights, end to end, into out. */
static long train(int threads, float *out) {
    assert_int_equal(ag_set_threads(threads), 0);
    net n;
    net_init(&n);
    ag_tape *t = ag_tape_new();
    long k = 0;
    for (int s = 0; s < STEPS; s++) out[k++] = net_step(t, &n);
    ag_tensor *p[4] = {n.W1, n.b1, n.W2, n.b2};
    for (int j = 0; j < 4; j++) {
        memcpy(out + k, p[j]->data, sizeof(float) * p[j]->numel);
        k += p[j]->numel;
    }
    ag_tape_free(t);
    net_free(&n);
    return k;
}

static void test_training_is_bit_identical(void **state) {
    (void)state;
    const long total = STEPS + NIN * NHID + NHID + NHID * NOUT + NOUT;
    float *one = malloc(sizeof(float) * total), *more = malloc(sizeof(float) * total);
    assert_true(one && more);
    assert_int_equal(train(1, one), total);
    for (int threads = 2; threads <= 3; threads++) {
        assert_int_equal(train(threads, more), total);
        for (long i = 0; i < total; i++)
            if (memcmp(&one[i], &more[i], sizeof(float)) != 0) {
                print_error("%d threads: value %ld is %.9g, with 1 thread %.9g\n", threads, i,
                            more[i], one[i]);
                fail();
            }
    }
    /* the first layer's products are big enough to be split */
    assert_true(ag_gemm_scratch(BATCH, NHID, NIN, 2) > ag_gemm_scratch(BATCH, NHID, NIN, 1));
    free(one);
    free(more);
    ag_set_threads(1);
}

/* ---- the bench's cnn and lstm models: every loss and every weight, bit for bit -------------- */

/* Train fashion_cnn's net (kind 0; batch 32 of random 28x28 images) or an LSTM 16->32 over 8
 * steps of batch 8 (kind 1) for 3 steps with momentum SGD on `threads` threads; the losses,
 * then every parameter, into out (NULL: count only). Also checks that the steps after the
 * first ask the allocator for nothing. Returns how many floats. */
static long train_model(int kind, int threads, float *out) {
    assert_int_equal(ag_set_threads(threads), 0);
    nn_params *ps = nn_params_new();
    nn_rng rng = nn_rng_seed(21);
    tu_rng r = {13};
    nn_conv2d c1 = {0}, c2 = {0};
    nn_dense d1 = {0}, d2 = {0};
    nn_lstm cell = {0};
    ag_tensor *X, *D = NULL;
    int labels[32];
    if (kind == 0) {
        c1 = nn_conv2d_new(ps, "c1", 1, 32, 3, 1, 0, NN_RELU, nn_init_he(), &rng);
        c2 = nn_conv2d_new(ps, "c2", 32, 64, 3, 1, 0, NN_RELU, nn_init_he(), &rng);
        d1 = nn_dense_new(ps, "d1", 1600, 128, NN_RELU, nn_init_he(), &rng);
        d2 = nn_dense_new(ps, "d2", 128, 10, NN_IDENTITY, nn_init_he(), &rng);
        assert_true(c1.W && c2.W && d1.W && d2.W);
        X = ag_tensor_new(4, (const int[]){32, 1, 28, 28}, false);
        for (int i = 0; i < 32; i++) labels[i] = i % 10;
    } else {
        cell = nn_lstm_new(ps, "lstm", 16, 32, nn_init_xavier(), &rng);
        assert_non_null(cell.W_ih);
        X = ag_tensor_2d(8 * 8, 16, false);
        D = ag_tensor_2d(8 * 8, 32, false);
        assert_non_null(D);
        fill(&r, D->data, D->numel);
    }
    assert_non_null(X);
    fill(&r, X->data, X->numel);
    nn_optim *opt = nn_sgd_new(ps, 0.01, 0.9);
    ag_tape *t = ag_tape_new();
    assert_true(opt && t);
    long k = 0, allocs = 0;
    for (int step = 0; step < 3; step++) {
        if (step == 1) allocs = tu_alloc.allocs;
        ag_tensor *E;
        if (kind == 0) {
            ag_tensor *h = ag_max_pool2d(t, nn_conv2d_forward(t, &c1, X), 2, 2, 0);
            h = ag_max_pool2d(t, nn_conv2d_forward(t, &c2, h), 2, 2, 0);
            h = ag_reshape(t, h, 2, (const int[]){32, 1600});
            E = ag_softmax_xent(t, nn_dense_forward(t, &d2, nn_dense_forward(t, &d1, h)), labels);
        } else {
            ag_tensor *h = NULL, *c = NULL;
            E = NULL;
            for (int s = 0; s < 8; s++) {
                h = nn_lstm_step(t, &cell, h, c, ag_slice_rows(t, X, s * 8, 8), &c);
                ag_tensor *e = ag_sse(t, h, ag_slice_rows(t, D, s * 8, 8));
                E = E ? ag_add(t, E, e) : e;
            }
        }
        assert_int_equal(ag_backward(t, E), 0);
        if (out) out[k] = (float)ag_item(E);
        k++;
        assert_int_equal(nn_optim_step(opt, t), 0);
        ag_tape_reset(t);
    }
    assert_int_equal(tu_alloc.allocs - allocs, 0); /* steps 2 and 3 allocate nothing */
    for (int i = 0; i < nn_params_count(ps); i++) {
        const ag_tensor *p = nn_params_at(ps, i);
        if (out) memcpy(out + k, p->data, sizeof(float) * p->numel);
        k += p->numel;
    }
    ag_tape_free(t);
    nn_optim_free(opt);
    nn_params_free(ps);
    ag_tensor_free(X);
    ag_tensor_free(D);
    return k;
}

static void test_cnn_and_lstm_training_is_bit_identical(void **state) {
    (void)state;
    tu_alloc_install();
    for (int kind = 0; kind < 2; kind++) {
        const long total = train_model(kind, 1, NULL);
        float *one = malloc(sizeof(float) * total), *more = malloc(sizeof(float) * total);
        assert_true(one && more);
        assert_int_equal(train_model(kind, 1, one), total);
        for (int threads = 2; threads <= 3; threads++) {
            assert_int_equal(train_model(kind, threads, more), total);
            for (long i = 0; i < total; i++)
                if (memcmp(&one[i], &more[i], sizeof(float)) != 0) {
                    print_error("%s, %d threads: value %ld is %.9g, with 1 thread %.9g\n",
                                kind == 0 ? "cnn" : "lstm", threads, i, more[i], one[i]);
                    fail();
                }
        }
        free(one);
        free(more);
    }
    ag_set_threads(1);
    assert_int_equal(tu_alloc.outstanding_blocks, 0);
    tu_alloc_uninstall();
}

/* ---- no allocation per steady-state step with the workers running -------------------------- */

static void test_steady_state_allocates_nothing(void **state) {
    (void)state;
    tu_alloc_install();
    assert_int_equal(ag_set_threads(2), 0);
    net n;
    net_init(&n);
    ag_tape *t = ag_tape_new();
    net_step(t, &n); /* the first step grows the arena and the scratch memory */
    long before = tu_alloc.allocs;
    for (int s = 0; s < 5; s++) net_step(t, &n);
    assert_int_equal(tu_alloc.allocs - before, 0);
    ag_tape_free(t);
    net_free(&n);
    ag_set_threads(1);
    assert_int_equal(tu_alloc.outstanding_blocks, 0);
    tu_alloc_uninstall();
}

/* ---- several callers at once: each gets the right answer ----------------------------------- */

typedef struct {
    float *out;
    long n;
} caller;

static void *caller_main(void *arg) {
    caller *c = arg;
    net n;
    net_init(&n);
    ag_tape *t = ag_tape_new();
    long k = 0;
    for (int s = 0; s < STEPS; s++) c->out[k++] = net_step(t, &n);
    memcpy(c->out + k, n.W1->data, sizeof(float) * n.W1->numel);
    c->n = k + n.W1->numel;
    ag_tape_free(t);
    net_free(&n);
    return NULL;
}

static void test_concurrent_callers(void **state) {
    (void)state;
    const long total = STEPS + NIN * NHID;
    float *ref = malloc(sizeof(float) * (STEPS + NIN * NHID + NHID + NHID * NOUT + NOUT));
    assert_non_null(ref);
    train(1, ref);
    assert_int_equal(ag_set_threads(2), 0);
    caller c[3];
    pthread_t tid[3];
    for (int i = 0; i < 3; i++) {
        c[i].out = malloc(sizeof(float) * total);
        assert_non_null(c[i].out);
        assert_int_equal(pthread_create(&tid[i], NULL, caller_main, &c[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(tid[i], NULL);
        assert_int_equal(c[i].n, total);
        assert_memory_equal(c[i].out, ref, sizeof(float) * total);
        free(c[i].out);
    }
    free(ref);
    ag_set_threads(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_environment_sets_the_default),
        cmocka_unit_test(test_every_task_runs_once),
        cmocka_unit_test(test_every_job_reaches_the_worker),
        cmocka_unit_test(test_tasks_may_start_jobs),
        cmocka_unit_test(test_optimiser_steps_are_bit_identical),
        cmocka_unit_test(test_a_refused_split_step_changes_nothing),
        cmocka_unit_test(test_gemm_is_bit_identical),
        cmocka_unit_test(test_training_is_bit_identical),
        cmocka_unit_test(test_cnn_and_lstm_training_is_bit_identical),
        cmocka_unit_test(test_steady_state_allocates_nothing),
        cmocka_unit_test(test_concurrent_callers),
    };
    return cmocka_run_group_tests_name("threads", tests, NULL, NULL);
}
