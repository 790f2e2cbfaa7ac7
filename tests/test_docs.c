/*
 * test_docs.c -- the documentation cannot drift from the code:
 *   - every public function declared in the headers (backprop.h and what it includes) has its
 *     entry in docs/api.md, and every function docs/api.md shows is still declared;
 *   - the narrated sweep that docs/tutorial.md walks by hand is, line for line, what the
 *     example prints (<!-- trace: PROGRAM ARGS --> before the block);
 *   - every line the docs quote from a source file (<!-- source: PATH --> before the block) is
 *     still in that file.
 * (The C blocks marked <!-- compile-example --> are compiled and run by
 * scripts/check-doc-examples.sh.) Run from the top of the source tree, as `make test` does.
 */
#define _POSIX_C_SOURCE 200809L /* popen, opendir */
#include "support/testutil.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small text helpers -------------------------------------------------------------------- */

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_error("cannot open %s (run the tests from the top of the source tree)\n", path);
        fail();
    }
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (size_t got; (got = fread(s + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (n + 1 == cap) {
            cap *= 2;
            s = realloc(s, cap);
            assert_non_null(s);
        }
    }
    s[n] = '\0';
    fclose(f);
    return s;
}

static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Does `word` occur in s as a whole identifier? */
static bool has_word(const char *s, const char *word) {
    size_t n = strlen(word);
    for (const char *p = strstr(s, word); p; p = strstr(p + 1, word))
        if ((p == s || !ident_char(p[-1])) && !ident_char(p[n])) return true;
    return false;
}

/* A list of names. */
typedef struct {
    char name[256][64];
    int n;
} names;

static void add_name(names *l, const char *s, size_t len) {
    if (len >= sizeof l->name[0]) return;
    for (int i = 0; i < l->n; i++)
        if (strlen(l->name[i]) == len && !strncmp(l->name[i], s, len)) return;
    assert_true(l->n < (int)(sizeof l->name / sizeof l->name[0]));
    memcpy(l->name[l->n], s, len);
    l->name[l->n++][len] = '\0';
}

static bool has_name(const names *l, const char *s) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->name[i], s)) return true;
    return false;
}

/* ---- the public functions, read from the headers ------------------------------------------- */

/* Blank out comments, string literals, preprocessor lines and `#ifdef __cplusplus` blocks,
 * keeping newlines, so what is left is declarations. */
static void strip_to_declarations(char *s) {
    int skip_depth = 0; /* inside #ifdef __cplusplus: nesting of #if's */
    bool line_start = true;
    for (char *p = s; *p;) {
        if (line_start) {
            char *q = p;
            while (*q == ' ' || *q == '\t') q++;
            if (*q == '#') { /* a directive, with its continuation lines */
                bool cpp = !strncmp(q, "#ifdef __cplusplus", 18);
                bool opens = !strncmp(q, "#if", 3), closes = !strncmp(q, "#endif", 6);
                if (skip_depth > 0) skip_depth += opens ? 1 : closes ? -1 : 0;
                else if (cpp) skip_depth = 1;
                for (char prev = 0; *p && !(*p == '\n' && prev != '\\'); prev = *p, *p++ = ' ') {
                }
                continue;
            }
        }
        if (skip_depth > 0 && *p != '\n') {
            *p++ = ' ';
            continue;
        }
        if (p[0] == '/' && p[1] == '*') {
            char *end = strstr(p + 2, "*/");
            end = end ? end + 2 : p + strlen(p);
            for (; p < end; p++)
                if (*p != '\n') *p = ' ';
            continue;
        }
        if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n') *p++ = ' ';
            continue;
        }
        if (*p == '"' || *p == '\'') {
            char q = *p;
            *p++ = ' ';
            while (*p && *p != q) {
                if (*p == '\\' && p[1]) *p++ = ' ';
                *p++ = ' ';
            }
            if (*p) *p++ = ' ';
            continue;
        }
        line_start = *p == '\n';
        p++;
    }
}

/* The ag_/nn_ functions declared at file scope in text (already stripped): in each top-level
 * statement that is not a typedef, the identifier right before the first '('. */
static void declared_functions(const char *text, names *out) {
    int depth = 0;
    const char *stmt = text;
    for (const char *p = text; *p; p++) {
        if ((*p == ';' || *p == '{') && depth == 0) { /* a '{' ends a struct's or a body's head */
            const char *s = stmt;
            while (isspace((unsigned char)*s)) s++;
            const char *paren = memchr(s, '(', (size_t)(p - s));
            if (paren && strncmp(s, "typedef", 7) != 0) {
                const char *e = paren;
                while (e > s && isspace((unsigned char)e[-1])) e--;
                const char *b = e;
                while (b > s && ident_char(b[-1])) b--;
                if (e - b > 3 && (!strncmp(b, "ag_", 3) || !strncmp(b, "nn_", 3)))
                    add_name(out, b, (size_t)(e - b));
            }
        }
        if (*p == '{') depth++;
        else if (*p == '}') depth--;
        if ((*p == ';' || *p == '{' || *p == '}') && depth == 0) stmt = p + 1;
    }
}

/* backprop.h and every header it includes with quotes (found in ., autograd/ or nn/). */
static void public_functions(names *out) {
    const char *queue[16] = {"backprop.h"};
    char found[16][128];
    int nq = 1;
    for (int i = 0; i < nq; i++) {
        char *text = read_text(queue[i]);
        for (const char *p = strstr(text, "#include \""); p; p = strstr(p + 1, "#include \"")) {
            const char *name = p + 10, *end = strchr(name, '"');
            char path[128];
            const char *dirs[] = {"", "autograd/", "nn/"};
            for (int d = 0; d < 3 && end; d++) {
                snprintf(path, sizeof path, "%s%.*s", dirs[d], (int)(end - name), name);
                FILE *f = fopen(path, "r");
                if (!f) continue;
                fclose(f);
                bool seen = false;
                for (int k = 0; k < nq; k++) seen = seen || !strcmp(queue[k], path);
                if (!seen && nq < 16) {
                    snprintf(found[nq], sizeof found[nq], "%s", path);
                    queue[nq] = found[nq];
                    nq++;
                }
                break;
            }
        }
        strip_to_declarations(text);
        declared_functions(text, out);
        free(text);
    }
}

static void test_the_header_scan_finds_the_api(void **state) {
    (void)state;
    static names fns;
    fns.n = 0;
    public_functions(&fns);
    /* Functions of every form: plain, variadic with an attribute, returning a struct or a
     * pointer, in both headers; and no typedef'd function type. */
    const char *known[] = {"ag_tape_new", "ag_set_last_error", "ag_tape_fail", "ag_backward",
                           "ag_gradcheck", "ag_tape_write_dot", "nn_rng_seed", "nn_dense_new",
                           "nn_optim_step", "nn_error"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!has_name(&fns, known[i])) {
            print_error("the header scan missed %s\n", known[i]);
            fail();
        }
    assert_false(has_name(&fns, "ag_loss_fn"));
    assert_true(fns.n >= 100);

    /* And on a made-up header: */
    char text[] = "/* ag_in_comment(void); */\n#define ag_macro(x) x\n"
                  "#ifdef __cplusplus\nextern \"C\" {\n#endif\n"
                  "typedef struct ag_s { int (*ag_field)(void); } ag_s;\n"
                  "typedef int (*ag_fnptr)(int);\n"
                  "int ag_one(int a);\nag_s *ag_two(const char *s, ...)\n"
                  "    __attribute__((format(printf, 1, 2)));\n"
                  "static inline int ag_three(void) { return ag_two(\"x;\") != 0; }\n"
                  "const char *nn_four(void);\n"
                  "#ifdef __cplusplus\n}\n#endif\n";
    names got = {.n = 0};
    strip_to_declarations(text);
    declared_functions(text, &got);
    assert_int_equal(got.n, 4);
    assert_string_equal(got.name[0], "ag_one");
    assert_string_equal(got.name[1], "ag_two");
    assert_string_equal(got.name[2], "ag_three");
    assert_string_equal(got.name[3], "nn_four");
}

/* The public functions (into fns) and the text of docs/api.md (free it). */
static char *api_md_and_functions(names *fns) {
    fns->n = 0;
    public_functions(fns);
    return read_text("docs/api.md");
}

static void test_every_public_function_is_in_api_md(void **state) {
    (void)state;
    static names fns;
    char *api = api_md_and_functions(&fns);
    int missing = 0;
    for (int i = 0; i < fns.n; i++)
        if (!has_word(api, fns.name[i])) {
            print_error("%s is declared in the public headers but not documented in "
                        "docs/api.md\n",
                        fns.name[i]);
            missing++;
        }
    free(api);
    assert_int_equal(missing, 0);
}

/* Every `ag_x(` / `nn_x(` that docs/api.md shows is a declared function: no stale entries. */
static void test_api_md_shows_only_declared_functions(void **state) {
    (void)state;
    static names fns;
    char *api = api_md_and_functions(&fns);
    int stale = 0;
    for (const char *p = api; *p; p++) {
        if ((p != api && ident_char(p[-1])) || (strncmp(p, "ag_", 3) && strncmp(p, "nn_", 3)))
            continue;
        const char *e = p;
        while (ident_char(*e)) e++;
        if (*e != '(') continue;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(e - p), p);
        if (!has_name(&fns, name)) {
            print_error("docs/api.md shows %s(...), which no public header declares\n", name);
            stale++;
        }
    }
    free(api);
    assert_int_equal(stale, 0);
}

/* ---- marked blocks in the docs --------------------------------------------------------------- */

/* The lines of the fenced block that follows `marker_end` (the end of a marker comment):
 * copies them into buf, one per line, and returns where the block ends. */
static const char *fenced_block_after(const char *marker_end, char *buf, size_t size) {
    const char *open = strstr(marker_end, "\n```");
    assert_non_null(open);
    const char *body = strchr(open + 1, '\n');
    assert_non_null(body);
    body++;
    const char *close = strstr(body - 1, "\n```");
    assert_non_null(close);
    size_t n = (size_t)(close - body) + 1;
    assert_true(n < size);
    memcpy(buf, body, n);
    buf[n] = '\0';
    return close + 4;
}

/* The doc files to look in: README.md and the .md files in docs/. */
static int doc_files(char paths[][128], int max) {
    int n = 0;
    snprintf(paths[n++], 128, "README.md");
    DIR *d = opendir("docs");
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) && n < max;) {
        size_t len = strlen(e->d_name);
        if (len > 3 && !strcmp(e->d_name + len - 3, ".md"))
            snprintf(paths[n++], 128, "docs/%s", e->d_name);
    }
    closedir(d);
    return n;
}

static void test_quoted_source_lines_are_in_the_source(void **state) {
    (void)state;
    char paths[32][128];
    int nfiles = doc_files(paths, 32), quotes = 0, bad = 0;
    static char block[16384];
    for (int k = 0; k < nfiles; k++) {
        char *doc = read_text(paths[k]);
        for (const char *m = strstr(doc, "<!-- source: "); m; m = strstr(m + 1, "<!-- source: ")) {
            char src[128];
            assert_int_equal(sscanf(m + 13, "%127s", src), 1);
            char *code = read_text(src);
            fenced_block_after(m, block, sizeof block);
            for (char *line = strtok(block, "\n"); line; line = strtok(NULL, "\n")) {
                while (isspace((unsigned char)*line)) line++;
                size_t len = strlen(line);
                while (len && isspace((unsigned char)line[len - 1])) line[--len] = '\0';
                if (!len || !strcmp(line, "...")) continue;
                if (!strstr(code, line)) {
                    print_error("%s quotes a line that is no longer in %s:\n    %s\n", paths[k],
                                src, line);
                    bad++;
                }
            }
            free(code);
            quotes++;
        }
        free(doc);
    }
    assert_int_equal(bad, 0);
    assert_true(quotes >= 8); /* the tutorial quotes at least one line per equation */
}

/* The output of examples/PROGRAM ARGS. */
static char *run_example(const char *cmdline) {
    for (const char *c = cmdline; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("_- .", *c)) {
            print_error("refusing to run '%s' from a doc marker\n", cmdline);
            fail();
        }
    const char *dir = getenv("BACKPROP_EXAMPLES");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/%s", dir ? dir : "examples", cmdline);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    return out;
}

/* Lines of the narrated sweep: "backward from ..." and "node N op: ...". */
static bool is_trace_line(const char *line) {
    return !strncmp(line, "backward from ", 14) ||
           (!strncmp(line, "node ", 5) && isdigit((unsigned char)line[5]) && strchr(line, ':'));
}

static void test_the_tutorial_walks_the_real_trace(void **state) {
    (void)state;
    char *doc = read_text("docs/tutorial.md");
    static char block[16384];
    int traces = 0;
    for (const char *m = strstr(doc, "<!-- trace: "); m; m = strstr(m + 1, "<!-- trace: ")) {
        const char *end = strstr(m, " -->");
        assert_non_null(end);
        char cmdline[128];
        snprintf(cmdline, sizeof cmdline, "%.*s", (int)(end - (m + 12)), m + 12);
        char *out = run_example(cmdline);
        fenced_block_after(end, block, sizeof block);
        /* the printed lines, in order, against the block's unindented lines, in order */
        char *save_doc = NULL, *save_out = NULL;
        char *want = strtok_r(block, "\n", &save_doc);
        char *got = strtok_r(out, "\n", &save_out);
        int compared = 0;
        for (;;) {
            while (want && (!*want || isspace((unsigned char)*want)))
                want = strtok_r(NULL, "\n", &save_doc);
            while (got && !is_trace_line(got)) got = strtok_r(NULL, "\n", &save_out);
            if (!want || !got) break;
            if (strcmp(want, got) != 0) {
                print_error("docs/tutorial.md, the trace of %s, line %d:\n  the doc says: %s\n"
                            "  the program:  %s\n",
                            cmdline, compared + 1, want, got);
                fail();
            }
            compared++;
            want = strtok_r(NULL, "\n", &save_doc);
            got = strtok_r(NULL, "\n", &save_out);
        }
        if (want || got) {
            print_error("docs/tutorial.md, the trace of %s: after %d matching lines, %s has "
                        "more: %s\n",
                        cmdline, compared, want ? "the doc" : "the program", want ? want : got);
            fail();
        }
        assert_true(compared > 0);
        free(out);
        traces++;
    }
    free(doc);
    assert_true(traces >= 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_header_scan_finds_the_api),
        cmocka_unit_test(test_every_public_function_is_in_api_md),
        cmocka_unit_test(test_api_md_shows_only_declared_functions),
        cmocka_unit_test(test_quoted_source_lines_are_in_the_source),
        cmocka_unit_test(test_the_tutorial_walks_the_real_trace),
    };
    return cmocka_run_group_tests_name("docs", tests, NULL, NULL);
}
