/*
 * test_op_recipe.c -- docs/design.md's "How to add an op", followed for a dummy op, softsign,
 * that exists only here.
 *
 * Each step of the recipe is a block of code marked <!-- recipe: FILE -->. The blocks below
 * are those blocks, word for word, put through the same macros the library and the test tables
 * use: the op list line becomes a caller and a tu_op (TU_OP_CALLER, TU_OP_ENTRY), the shapes
 * line a tu_op_case (UN_SHAPES). The dummy op then goes through the two checks every op of the
 * library goes through: its gradient against finite differences and every bad input.
 *
 * The recipe cannot go stale unnoticed. This suite fails when
 *   - a recipe block is not found, word for word, in this file (the recipe changed, or the
 *     macros changed and this file with them);
 *   - the number of blocks is not the number of edits the recipe announces;
 *   - a file the recipe edits does not name every op of the table (the step is not how the
 *     existing ops are done);
 *   - a file outside the recipe names every op's public function (a new hand-written list of
 *     ops that the recipe does not mention), unless it is one of the few listed below.
 */
#define _POSIX_C_SOURCE 200809L /* strdup, strndup */
#include "support/op_cases.h"
#include "support/testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- step 3: the declaration (autograd/autograd.h) --------------------------------------------- */

ag_tensor *ag_softsign(ag_tape *t, ag_tensor *a); /* x / (1 + |x|), in (-1, 1) */

/* ---- step 1: the op entry and the public function (autograd/ops_elementwise.c) ------------------ */

/* softsign: y = x / (1 + |x|);  dx += dy * (1 - |y|)^2 */
static void softsign_fwd(ag_node *n) { AG_UNARY_FWD(n, y = x / (1.0f + fabsf(x))); }
static void softsign_vjp(ag_node *n) {
    AG_UNARY_VJP(n, dx = dy * (1.0f - fabsf(y)) * (1.0f - fabsf(y)));
}
const ag_op ag_op_softsign = {"softsign", softsign_fwd, softsign_vjp};

ag_tensor *ag_softsign(ag_tape *t, ag_tensor *a) { return ag_unary(t, &ag_op_softsign, a, 0); }

/* ---- step 2: the line in the op list (autograd/ops.h) --------------------------------------------- */

#define RECIPE_OP_LIST(X) \
    X(softsign, 1, ag_softsign(t, in[0]))

RECIPE_OP_LIST(TU_OP_CALLER)
static const tu_op recipe_ops[] = {RECIPE_OP_LIST(TU_OP_ENTRY)};

/* ---- step 4: the test shapes (tests/support/op_cases.c) ------------------------------------------ */

static const tu_op_case recipe_cases[] = {
    UN_SHAPES(softsign, -2, 2, false, 0),
};
#define NCASES ((int)(sizeof recipe_cases / sizeof recipe_cases[0]))

/* =================================================================================================
 * The dummy op goes through the checks every op goes through.
 * =============================================================================================== */

static const char *marked[8];
static int nmarked;
static void mark(const char *fn) {
    if (nmarked < 8) marked[nmarked++] = fn;
}

static void test_the_dummy_op_is_gradchecked(void **state) {
    (void)state;
    assert_true(NCASES >= 1);
    for (int i = 0; i < NCASES; i++) {
        const tu_op *op = tu_op_find(recipe_ops, 1, recipe_cases[i].op);
        assert_non_null(op);
        tu_gradcheck_case(op, &recipe_cases[i]);
    }
    /* and its value and derivative at 0.5 are the ones worked by hand: 1/3 and 1/(1.5^2) */
    ag_tensor *x = ag_scalar_param(0.5);
    ag_tape *t = ag_tape_new();
    ag_tensor *y = ag_softsign(t, x);
    assert_int_equal(ag_backward(t, y), 0);
    assert_float_equal(ag_item(y), 0.5 / 1.5, 1e-6);
    assert_float_equal(ag_grad_item(x), 1.0 / (1.5 * 1.5), 1e-6);
    ag_tape_free(t);
    ag_tensor_free(x);
}

static void test_the_dummy_op_is_bad_input_checked(void **state) {
    (void)state;
    ag_tape *T = ag_tape_new(), *F = ag_tape_new(), *O = ag_tape_new();
    assert_true(T && F && O);
    ag_tape_fail(F, "the first error");
    const tu_op_case *first = tu_op_first_case(recipe_cases, NCASES, &ag_op_softsign);
    tu_bad_target b = tu_bad_target_of(&recipe_ops[0], first);
    assert_string_equal(b.name, "softsign");
    assert_string_equal(b.fn, "ag_softsign");
    tu_bad_mark = mark;
    tu_bad_all(&b, T, F, O);
    tu_bad_mark = NULL;
    assert_true(nmarked > 0);
    for (int i = 0; i < nmarked; i++) assert_string_equal(marked[i], "ag_softsign");
    ag_tape_free(T), ag_tape_free(F), ag_tape_free(O);
}

/* =================================================================================================
 * The recipe matches this file and the code.
 * =============================================================================================== */

/* Text with every line-continuation backslash dropped and every run of white space made one
 * space, so that indentation and line joins do not matter when blocks are compared. */
static char *squeeze(const char *s) {
    char *out = malloc(strlen(s) + 1), *o = out;
    assert_non_null(out);
    bool space = false;
    for (; *s; s++) {
        if (*s == '\\' && s[1] == '\n') continue;
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
            space = true;
            continue;
        }
        if (space && o != out) *o++ = ' ';
        space = false;
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

typedef struct {
    char path[128];
    char *code;
} recipe_step;

/* The section of design.md between "## How to add an op" and the next "## " heading, and
 * its steps: each <!-- recipe: PATH --> marker and the fenced block after it. */
static int read_recipe(char **section, recipe_step *steps, int max) {
    char *doc = tu_read_text("docs/design.md");
    char *start = strstr(doc, "\n## How to add an op");
    assert_non_null(start);
    char *end = strstr(start + 1, "\n## ");
    if (end) *end = '\0';
    *section = strdup(start);
    int n = 0;
    for (char *p = strstr(start, "<!-- recipe: "); p; p = strstr(p + 1, "<!-- recipe: ")) {
        assert_true(n < max);
        char *q = p + strlen("<!-- recipe: ");
        size_t len = strcspn(q, " ");
        assert_true(len < sizeof steps[n].path);
        memcpy(steps[n].path, q, len);
        steps[n].path[len] = '\0';
        char *fence = strstr(q, "```");
        assert_non_null(fence);
        char *body = strchr(fence, '\n') + 1;
        char *close = strstr(body, "```");
        assert_non_null(close);
        steps[n].code = strndup(body, (size_t)(close - body));
        n++;
    }
    free(doc);
    return n;
}

static void test_the_recipe_is_this_file(void **state) {
    (void)state;
    char *section;
    recipe_step steps[16];
    int n = read_recipe(&section, steps, 16);
    assert_true(n >= 1);
    /* the number of edits it announces is the number of its blocks */
    char want[64];
    snprintf(want, sizeof want, "takes %d edits in ", n);
    if (!strstr(section, want)) {
        print_error("design.md's recipe has %d steps but does not say \"%s\"\n", n, want);
        fail();
    }
    /* every block is here, word for word */
    char *source = tu_read_text("tests/test_op_recipe.c"), *self = squeeze(source);
    free(source);
    for (int i = 0; i < n; i++) {
        char *code = squeeze(steps[i].code);
        if (!strstr(self, code)) {
            print_error("recipe step %d (%s) is not in tests/test_op_recipe.c:\n%s\n", i + 1,
                        steps[i].path, steps[i].code);
            fail();
        }
        free(code);
        free(steps[i].code);
    }
    free(self);
    free(section);
}

/* Whether text names op: its public function, its table entry, or its name as the first
 * argument of a macro (X(add, ...), UN_SHAPES(add, ...)). */
static bool names_op(const char *text, const tu_op *op) {
    const char *fn = strchr(op->call_text, '(');
    char pattern[96];
    snprintf(pattern, sizeof pattern, "%.*s(", (int)(fn - op->call_text), op->call_text);
    if (strstr(text, pattern)) return true;
    snprintf(pattern, sizeof pattern, "ag_op_%s", op->name);
    if (strstr(text, pattern)) return true;
    snprintf(pattern, sizeof pattern, "(%s,", op->name);
    return strstr(text, pattern) != NULL;
}

/* Every file a step edits names every op of the table (for the ops' own files, ops_*.c, the
 * step's file stands for all of them). */
static void test_every_step_is_how_the_ops_are_done(void **state) {
    (void)state;
    char *section;
    recipe_step steps[16];
    int n = read_recipe(&section, steps, 16);
    char *ops_files = NULL;
    {
        size_t len = 0;
        const char *files[] = {"autograd/ops_elementwise.c", "autograd/ops_matrix.c",
                               "autograd/ops_loss.c", "autograd/ops_shape.c",
                               "autograd/ops_math.c", "autograd/ops_reduce.c",
                               "autograd/ops_conv.c", "autograd/ops_linear.c"};
        for (int i = 0; i < (int)(sizeof files / sizeof files[0]); i++) {
            char *t = tu_read_text(files[i]);
            ops_files = realloc(ops_files, len + strlen(t) + 1);
            assert_non_null(ops_files);
            strcpy(ops_files + len, t);
            len += strlen(t);
            free(t);
        }
    }
    for (int i = 0; i < n; i++) {
        bool ops_file = !strncmp(steps[i].path, "autograd/ops_", 13) &&
                        strcmp(steps[i].path, "autograd/ops_table.c") != 0;
        char *text = ops_file ? ops_files : tu_read_text(steps[i].path);
        for (int k = 0; k < tu_nops; k++)
            if (!names_op(text, &tu_ops[k])) {
                print_error("recipe step %d edits %s, which does not name op '%s'\n", i + 1,
                            steps[i].path, tu_ops[k].name);
                fail();
            }
        if (!ops_file) free(text);
        free(steps[i].code);
    }
    free(ops_files);
    free(section);
}

/* Files that name every op's public function without being a step of the recipe, and why. */
static const char *const not_steps[] = {
    "tests/test_ops.c", /* forward values worked by hand, op by op: good practice, not required */
    "docs/api.md",      /* written from autograd/autograd.h by `make docs` (step 3's comment) */
};

static void check_file(const char *path, const recipe_step *steps, int n, int *found) {
    char *text = tu_read_text(path);
    int named = 0;
    for (int k = 0; k < tu_nops; k++) {
        const char *fn = tu_ops[k].call_text;
        char pattern[64];
        snprintf(pattern, sizeof pattern, "%.*s(", (int)strcspn(fn, "("), fn);
        named += strstr(text, pattern) != NULL;
    }
    free(text);
    if (named < tu_nops) return;
    (*found)++;
    for (int i = 0; i < n; i++)
        if (!strcmp(steps[i].path, path)) return;
    for (size_t i = 0; i < sizeof not_steps / sizeof not_steps[0]; i++)
        if (!strcmp(not_steps[i], path)) return;
    print_error("%s names every op, but docs/design.md's recipe does not edit it: a new list of "
                "ops? Make it read AG_OP_LIST, or add it to the recipe\n",
                path);
    fail();
}

static void walk(const char *dir, const recipe_step *steps, int n, int *found) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || !strncmp(e->d_name, "build", 5)) continue;
        char path[512];
        snprintf(path, sizeof path, "%s%s%s", strcmp(dir, ".") ? dir : "",
                 strcmp(dir, ".") ? "/" : "", e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            walk(path, steps, n, found);
            continue;
        }
        const char *ext = strrchr(e->d_name, '.');
        if (ext && (!strcmp(ext, ".c") || !strcmp(ext, ".h") || !strcmp(ext, ".md") ||
                    !strcmp(ext, ".py") || !strcmp(ext, ".sh")))
            check_file(path, steps, n, found);
    }
    closedir(d);
}

static void test_no_list_of_ops_outside_the_recipe(void **state) {
    (void)state;
    char *section;
    recipe_step steps[16];
    int n = read_recipe(&section, steps, 16);
    int found = 0;
    walk(".", steps, n, &found);
    assert_true(found >= 3); /* autograd.h, ops.h, api.md at least: the scan sees them */
    for (int i = 0; i < n; i++) free(steps[i].code);
    free(section);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_dummy_op_is_gradchecked),
        cmocka_unit_test(test_the_dummy_op_is_bad_input_checked),
        cmocka_unit_test(test_the_recipe_is_this_file),
        cmocka_unit_test(test_every_step_is_how_the_ops_are_done),
        cmocka_unit_test(test_no_list_of_ops_outside_the_recipe),
    };
    return cmocka_run_group_tests_name("op_recipe", tests, NULL, NULL);
}
