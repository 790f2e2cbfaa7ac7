/*
 * test_dot.c -- the tape as a Graphviz picture (ag_tape_write_dot): one box per node and per
 * leaf, every edge between boxes that exist, values and gradients in small boxes and norms in
 * big ones, the three kinds of leaf drawn differently, names escaped, a failed tape drawn with
 * its error, and clean failures. Where Graphviz is installed, `dot` must accept the file.
 */
#define _POSIX_C_SOURCE 200809L /* popen */
#include "support/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char text[65536];

static const char *dot_of(const ag_tape *t) {
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(ag_tape_write_dot(t, f), 0);
    long n = ftell(f);
    assert_true(n > 0 && n < (long)sizeof text);
    rewind(f);
    text[fread(text, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return text;
}

/* The box line of DOT node `id` ("n3", "l0"), or fail. */
static const char *box(const char *dot, const char *id) {
    char key[32];
    snprintf(key, sizeof key, "\n  %s [", id);
    const char *p = strstr(dot, key);
    if (!p) {
        print_error("no box %s in:\n%s\n", id, dot);
        fail();
    }
    return p + 1;
}

static bool box_has(const char *dot, const char *id, const char *part) {
    const char *b = box(dot, id), *end = strchr(b, '\n');
    const char *hit = strstr(b, part);
    return hit && hit < end;
}

static int count(const char *s, const char *part) {
    int n = 0;
    for (const char *p = strstr(s, part); p; p = strstr(p + 1, part)) n++;
    return n;
}

/* Every "a -> b" names boxes that are defined; returns the number of edges. */
static int check_edges(const char *dot) {
    int edges = 0;
    for (const char *p = strstr(dot, " -> "); p; p = strstr(p + 1, " -> ")) {
        const char *from = p;
        while (from[-1] != ' ') from--;
        char a[16] = {0}, b[16] = {0};
        memcpy(a, from, (size_t)(p - from) < 15 ? (size_t)(p - from) : 15);
        sscanf(p + 4, "%15[a-z0-9]", b);
        box(dot, a);
        box(dot, b);
        edges++;
    }
    return edges;
}

/* The chain-rule neuron: y = sigmoid(w1 x1 + w2 x2 + b), E = 1/2 (y - d)^2, with x2 user data. */
static void test_the_neuron(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w1 = ag_scalar_param(0.5), *w2 = ag_scalar_param(-0.25), *b = ag_scalar_param(0.5);
    ag_tensor *x2 = ag_tensor_from(1, (int[]){1}, (float[]){2.0f}, false);
    ag_tensor_set_name(w1, "w1"), ag_tensor_set_name(b, "b"), ag_tensor_set_name(x2, "x2");
    ag_tensor *x1 = ag_scalar(t, 1.0);
    ag_tensor_set_name(x1, "x1");
    ag_tensor *a1 = ag_mul(t, w1, x1), *a2 = ag_mul(t, w2, x2); /* in this order */
    ag_tensor *z = ag_add(t, ag_add(t, a1, a2), b);
    ag_tensor_set_name(z, "z");
    ag_tensor *E = ag_sse(t, ag_sigmoid(t, z), ag_scalar(t, 1.0));
    assert_int_equal(ag_backward(t, E), 0);
    const char *dot = dot_of(t);

    assert_int_equal(strncmp(dot, "digraph tape {\n", 15), 0);
    assert_int_equal(count(dot, "\n  n"), 1 + 6 + 5); /* "node [" defaults, 6 boxes, 5 edges */
    assert_int_equal(count(dot, "\n  l"), 6 + 6);     /* 6 leaf boxes, 6 edges from leaves */
    assert_int_equal(check_edges(dot), 11);
    /* ops, names, shapes, values, gradients */
    assert_true(box_has(dot, "n0", "<b>node 0: mul</b>"));
    assert_true(box_has(dot, "n3", "<b>node 3: add</b><br/>z (1)<br/>value 0.5<br/>"));
    assert_true(box_has(dot, "n3", "grad -0.08872"));
    assert_true(box_has(dot, "n4", "node 4: sigmoid</b><br/>v4 (1)<br/>value 0.6225"));
    assert_true(box_has(dot, "n5", "grad 1<"));
    /* the three kinds of leaf, each in its own style */
    assert_true(box_has(dot, "l0", "<b>w1</b> <i>parameter</i><br/>(1)<br/>value 0.5"));
    assert_true(box_has(dot, "l0", "grad -0.08872"));
    assert_true(box_has(dot, "l1", "<b>x1</b> <i>constant</i>"));
    assert_true(box_has(dot, "l2", "<b>param</b><br/>")); /* w2 has no name */
    assert_true(box_has(dot, "l2", "grad -0.1774"));
    assert_true(box_has(dot, "l3", "<b>x2</b> <i>data</i>"));
    assert_false(box_has(dot, "l3", "grad")); /* data and constants have no gradient */
    assert_false(box_has(dot, "l1", "grad"));
    const char *param = strstr(box(dot, "l0"), "style="), *cnst = strstr(box(dot, "l1"), "style=");
    const char *data = strstr(box(dot, "l3"), "style="), *op = strstr(box(dot, "n0"), "style=");
    assert_true(strncmp(param, strstr(box(dot, "l2"), "style="), 60) == 0);
    assert_true(strncmp(param, cnst, 60) && strncmp(param, data, 60) && strncmp(cnst, data, 60));
    assert_true(strncmp(op, param, 60) && strncmp(op, cnst, 60) && strncmp(op, data, 60));
    /* operand order is marked on two-input ops */
    assert_non_null(strstr(dot, "  l0 -> n0 [label=\"1\""));
    assert_non_null(strstr(dot, "  l1 -> n0 [label=\"2\""));
    assert_non_null(strstr(dot, "  n3 -> n4;"));
    assert_int_equal(strcmp(dot + strlen(dot) - 2, "}\n"), 0);

    ag_tensor_free(w1), ag_tensor_free(w2), ag_tensor_free(b), ag_tensor_free(x2);
    ag_tape_free(t);
}

/* A leaf used many times is one box; matrices show rows; big tensors show norms. */
static void test_tensors_and_shared_leaves(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *W = ag_tensor_from(2, (int[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6}, true);
    ag_tensor *X = ag_tape_tensor(t, 2, (int[]){5, 2}, NULL);
    for (int i = 0; i < 10; i++) X->data[i] = (float)(i % 3);
    ag_tensor *h = ag_matmul(t, X, W);                          /* (5,3): 15 values */
    ag_tensor *L = ag_sum(t, ag_mul(t, ag_mul(t, h, h), ag_sum(t, W)));
    assert_int_equal(ag_backward(t, L), 0);
    const char *dot = dot_of(t);
    assert_int_equal(count(dot, "\n  l1 ["), 1);
    assert_true(box_has(dot, "l1", "(2,3)<br/>value [1, 2, 3<br/>4, 5, 6]"));
    assert_true(box_has(dot, "l0", "(5,2)<br/>value norm "));
    double norm = 0.0;
    for (int i = 0; i < 15; i++) norm += (double)h->data[i] * h->data[i];
    char want[64];
    snprintf(want, sizeof want, "v0 (5,3)<br/>value norm %.4g<br/>", sqrt(norm));
    assert_true(box_has(dot, "n0", want));
    assert_int_equal(count(dot, "l1 -> "), 2); /* W feeds the matmul and the sum */
    assert_int_equal(check_edges(dot), 8);
    ag_tensor_free(W);
    ag_tape_free(t);
}

static void test_names_are_escaped(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar_param(1.0);
    ag_tensor_set_name(w, "<w&\"v\">");
    ag_sigmoid(t, w);
    const char *dot = dot_of(t);
    assert_true(box_has(dot, "l0", "<b>&lt;w&amp;&quot;v&quot;&gt;</b>"));
    ag_tensor_free(w);
    ag_tape_free(t);
}

/* A failed tape is drawn with what it recorded and its error; an empty tape is a valid graph. */
static void test_failed_and_empty_tapes(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    assert_string_equal(dot_of(t), "digraph tape {\n"
                                   "  rankdir=LR;\n"
                                   "  node [fontname=\"Helvetica\", fontsize=11];\n"
                                   "  edge [color=\"#505050\", arrowsize=0.7];\n"
                                   "}\n");
    ag_tensor *a = ag_tensor_2d(2, 3, true), *b = ag_tensor_2d(4, 5, true);
    ag_matmul(t, ag_sigmoid(t, a), b);
    const char *dot = dot_of(t);
    box(dot, "n0");
    assert_non_null(strstr(dot, "error [shape=note"));
    assert_non_null(strstr(dot, "the tape failed</b><br/>matmul: (2,3) @ (4,5)"));
    ag_tensor_free(a), ag_tensor_free(b);
    ag_tape_free(t);
}

static void test_failures_are_clean(void **state) {
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_scalar_param(1.0);
    ag_square(t, ag_square(t, w));
    assert_int_equal(ag_tape_write_dot(NULL, stdout), -1);
    assert_non_null(strstr(ag_last_error(), "tape is NULL"));
    assert_int_equal(ag_tape_write_dot(t, NULL), -1);
    assert_non_null(strstr(ag_last_error(), "file is NULL"));
    FILE *ro = fopen("/dev/null", "r"); /* writing to it fails */
    assert_non_null(ro);
    assert_int_equal(ag_tape_write_dot(t, ro), -1);
    assert_non_null(strstr(ag_last_error(), "write error"));
    fclose(ro);
    ag_tensor_free(w);
    ag_tape_free(t);

    /* Out of memory at each allocation the writer makes: -1, a reason, nothing lost. */
    for (long k = 1;; k++) {
        tu_alloc_install();
        t = ag_tape_new();
        w = ag_scalar_param(1.0);
        ag_square(t, ag_square(t, w));
        FILE *f = tmpfile();
        tu_alloc_fail_at(k);
        int rc = ag_tape_write_dot(t, f);
        tu_alloc_fail_at(0);
        bool failed = tu_alloc.failures > 0;
        assert_int_equal(rc, failed ? -1 : 0);
        if (failed) assert_non_null(strstr(ag_last_error(), "out of memory"));
        fclose(f);
        ag_tensor_free(w);
        ag_tape_free(t);
        assert_int_equal(tu_alloc.outstanding_blocks, 0);
        tu_alloc_uninstall();
        if (!failed) break;
    }
}

/* `examples/chain_rule --dot FILE` writes the neuron's picture (acceptance: render it with
 * `dot -Tpng FILE -o g.png` and look). */
static void test_the_example_writes_its_picture(void **state) {
    (void)state;
    const char *dir = getenv("BACKPROP_EXAMPLES");
    char path[] = "/tmp/backprop-dot-XXXXXX", cmd[512];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "%s/chain_rule --dot %s >/dev/null", dir ? dir : "examples", path);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    remove(path);
    for (int i = 0; i < 6; i++) {
        static const char *const ops[] = {"mul", "mul", "add", "add", "sigmoid", "sse"};
        char id[8], want[32];
        snprintf(id, sizeof id, "n%d", i);
        snprintf(want, sizeof want, "<b>node %d: %s</b>", i, ops[i]);
        assert_true(box_has(text, id, want));
    }
    assert_true(box_has(text, "l0", "<b>w1</b> <i>parameter</i><br/>(1)<br/>value 0.5<br/>"));
    assert_true(box_has(text, "n4", "y (1)<br/>value 0.6225<br/>"));
    assert_true(box_has(text, "n4", "grad -0.3775"));
    assert_int_equal(check_edges(text), 11);
}

/* Graphviz reads what we write (skipped where it is not installed). */
static void test_graphviz_accepts_it(void **state) {
    (void)state;
    if (system("command -v dot >/dev/null 2>&1") != 0) {
        print_message("Graphviz's dot is not installed: not run\n");
        return;
    }
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_tensor_from(2, (int[]){2, 2}, (float[]){1, -2, 3, -4}, true);
    ag_tensor_set_name(w, "W & <friends>");
    ag_tensor *y = ag_tanh(t, ag_matmul(t, w, w));
    assert_int_equal(ag_backward(t, ag_sum(t, ag_sub(t, y, ag_scalar(t, 0.5)))), 0);
    const char *dot = dot_of(t);
    FILE *p = popen("dot -Tsvg -o /dev/null 2>&1", "w");
    assert_non_null(p);
    fputs(dot, p);
    assert_int_equal(pclose(p), 0);
    ag_tensor_free(w);
    ag_tape_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_neuron),
        cmocka_unit_test(test_tensors_and_shared_leaves),
        cmocka_unit_test(test_names_are_escaped),
        cmocka_unit_test(test_failed_and_empty_tapes),
        cmocka_unit_test(test_failures_are_clean),
        cmocka_unit_test(test_the_example_writes_its_picture),
        cmocka_unit_test(test_graphviz_accepts_it),
    };
    return cmocka_run_group_tests_name("dot", tests, NULL, NULL);
}
