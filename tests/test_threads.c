/*
 * test_threads.c -- the library keeps no hidden mutable global state: threads that each have
 * their own tape, model and optimiser train at the same time and get, bit for bit, what they get
 * alone. Each also checks its own errors, finite check, save and load on the way. `make tsan`
 * runs this suite under ThreadSanitizer, which fails it on any data race.
 *
 * And the audit, as a test: the library's object code holds no writable global variable but
 * the ones listed in `allowed` below, each set once at start-up or private to its thread.
 */
#define _POSIX_C_SOURCE 200809L /* pthreads, mkdtemp */
#include "support/testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTHREADS 3
#define STEPS 150

static char dir[64];

typedef struct {
    int id;
    uint64_t seed;
    bool adam;
    float *result;   /* the trained parameters, all in one block */
    long numel;
    char error[256]; /* "" when everything went as expected */
} job;

/* Record the first thing that went wrong (assertions cannot be used off the main thread). */
#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond) && !j->error[0]) snprintf(j->error, sizeof j->error, __VA_ARGS__);          \
    } while (0)

/* Train an 8-16-4 net on data made from the seed; save and reload half-way; leave the final
 * parameters in j->result. */
static void *train(void *arg) {
    job *j = arg;
    nn_rng rng = nn_rng_seed(j->seed);
    nn_params *ps = nn_params_new();
    nn_mlp net = nn_mlp_new(ps, "net", "8-16-4", NN_TANH, NN_SIGMOID, nn_init_xavier(), &rng);
    nn_optim *opt = j->adam ? nn_adam_new(ps, 0.01) : nn_sgd_new(ps, 0.1, 0.9);
    ag_tape *t = ag_tape_new();
    float x[32 * 8], d[32 * 4];
    for (int i = 0; i < 32 * 8; i++) x[i] = (float)nn_rng_range(&rng, -1, 1);
    for (int i = 0; i < 32 * 4; i++) d[i] = (float)(nn_rng_uniform(&rng) < 0.5);
    ag_tensor *X = ag_tensor_from(2, (const int[]){32, 8}, x, false);
    ag_tensor *D = ag_tensor_from(2, (const int[]){32, 4}, d, false);
    CHECK(ps && net.nlayers == 2 && opt && t && X && D, "thread %d: set-up failed: %s", j->id, ag_last_error());
    if (j->error[0]) goto done;
    ag_tape_check_finite(t, true);
    char path[128];
    snprintf(path, sizeof path, "%s/thread-%d.bp", dir, j->id);
    for (int step = 0; step < STEPS && !j->error[0]; step++) {
        ag_tensor *y = nn_mlp_forward(t, &net, X);
        ag_tensor *E = ag_bce(t, y, D);
        CHECK(ag_backward(t, E) == 0, "thread %d step %d: %s", j->id, step, nn_error(t));
        CHECK(nn_optim_step(opt, t) == 0, "thread %d step %d: %s", j->id, step, nn_error(t));
        ag_tape_reset(t);
        if (step % 50 == 25) {
            /* this thread's own errors: a failed op and a refused load name this thread's
             * shapes and file, whatever the other threads are doing */
            ag_tensor *bad = ag_matmul(t, X, ag_tape_tensor(t, 2, (const int[]){j->id + 2, 3}, NULL));
            (void)bad;
            char want[96];
            snprintf(want, sizeof want, "matmul: (32,8) @ (%d,3): inner dimensions differ", j->id + 2);
            CHECK(ag_tape_error(t) && strstr(ag_tape_error(t), want), "thread %d: tape error %s", j->id, ag_tape_error(t));
            ag_tape_reset(t);
            CHECK(nn_load("/nonexistent/x.bp", ps, NULL) == -1 && strstr(ag_last_error(), "/nonexistent/x.bp"),
                  "thread %d: last error %s", j->id, ag_last_error());
            /* save everything and load it back: training goes on exactly as before */
            CHECK(nn_save(path, ps, opt) == 0, "thread %d: %s", j->id, ag_last_error());
            CHECK(nn_load(path, ps, opt) == 0, "thread %d: %s", j->id, ag_last_error());
        }
    }
    j->numel = nn_params_numel(ps);
    j->result = malloc((size_t)j->numel * sizeof(float));
    for (int i = 0, off = 0; j->result && i < nn_params_count(ps); off += nn_params_at(ps, i)->numel, i++)
        memcpy(j->result + off, nn_params_at(ps, i)->data, (size_t)nn_params_at(ps, i)->numel * sizeof(float));
done:
    nn_optim_free(opt);
    nn_params_free(ps);
    ag_tensor_free(X);
    ag_tensor_free(D);
    ag_tape_free(t);
    return NULL;
}

static void test_threads_train_independently(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/backprop-threads-XXXXXX");
    assert_non_null(mkdtemp(dir));
    job alone[NTHREADS], together[NTHREADS];
    for (int k = 0; k < NTHREADS; k++) {
        job j = {k, 100 + (uint64_t)k, k % 2 == 1, NULL, 0, ""};
        alone[k] = together[k] = j;
    }
    /* one at a time, on this thread */
    for (int k = 0; k < NTHREADS; k++) {
        train(&alone[k]);
        if (alone[k].error[0]) {
            print_error("%s\n", alone[k].error);
            fail();
        }
    }
    /* all at once */
    pthread_t th[NTHREADS];
    for (int k = 0; k < NTHREADS; k++) assert_int_equal(pthread_create(&th[k], NULL, train, &together[k]), 0);
    for (int k = 0; k < NTHREADS; k++) assert_int_equal(pthread_join(th[k], NULL), 0);
    for (int k = 0; k < NTHREADS; k++) {
        if (together[k].error[0]) {
            print_error("%s\n", together[k].error);
            fail();
        }
        assert_non_null(together[k].result);
        assert_int_equal(together[k].numel, alone[k].numel);
        assert_memory_equal(together[k].result, alone[k].result, (size_t)alone[k].numel * sizeof(float));
        /* and the threads really computed different things */
        if (k > 0) assert_true(memcmp(alone[k].result, alone[0].result, 16 * sizeof(float)) != 0);
        char path[128];
        snprintf(path, sizeof path, "%s/thread-%d.bp", dir, k);
        unlink(path);
    }
    for (int k = 0; k < NTHREADS; k++) free(alone[k].result), free(together[k].result);
    rmdir(dir);
}

/* The writable globals the library may have, and why each is safe. A new one fails the test:
 * make it const, per tape, or thread-local, or add it here with its reason (and to
 * docs/robustness.md). */
static const char *const allowed[] = {
    "hook_alloc", "hook_release", "hook_ctx", /* ag_set_allocator: set once, before any use */
    "last_error",                             /* ag_last_error: _Thread_local */
    "pool",              /* threads.c: the worker pool; its size set by ag_set_threads at start-up,
                            its job hand-out all atomics (tests/test_parallel.c) */
    "ag_kernels_in_use", /* kernels.c: the kernel table, an atomic pointer chosen once for the CPU */
};

/* Every symbol objdump places in a writable data section (.data, .bss and their thread-local
 * kinds, but not .data.rel.ro, which is read-only once loaded) of the static library. Names the
 * compiler or a sanitizer makes up (starting with '.' or "__") are left out. */
static void test_no_hidden_global_state(void **state) {
    (void)state;
    const char *lib = getenv("BACKPROP_LIB");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "objdump -t '%s' 2>/dev/null", lib ? lib : "build/libbackprop.a");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    int symbols = 0, unknown = 0;
    while (fgets(line, sizeof line, p)) {
        char *tok[16], *save = NULL;
        int n = 0;
        for (char *s = strtok_r(line, " \t\n", &save); s && n < 16; s = strtok_r(NULL, " \t\n", &save))
            tok[n++] = s;
        if (n < 4) continue;
        symbols++;
        const char *name = tok[n - 1];
        bool writable = false;
        for (int i = 1; i < n - 1; i++)
            if ((!strncmp(tok[i], ".data", 5) || !strncmp(tok[i], ".bss", 4) || !strncmp(tok[i], ".tdata", 6) ||
                 !strncmp(tok[i], ".tbss", 5)) && !strstr(tok[i], "rel.ro"))
                writable = true;
        if (!writable || name[0] == '.' || !strncmp(name, "__", 2)) continue;
        bool ok = false;
        for (size_t k = 0; k < sizeof allowed / sizeof allowed[0]; k++) ok |= !strcmp(name, allowed[k]);
        if (!ok) {
            print_error("writable global '%s' in the library: hidden mutable state?\n", name);
            unknown++;
        }
    }
    int status = pclose(p);
    if (symbols == 0 || status != 0) skip(); /* no objdump here, or no library: nothing to audit */
    assert_int_equal(unknown, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_train_independently),
        cmocka_unit_test(test_no_hidden_global_state),
    };
    return cmocka_run_group_tests_name("threads", tests, NULL, NULL);
}
