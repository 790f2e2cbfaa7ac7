/*
 * test_docs.c -- the documentation cannot drift from the code:
 *   - docs/api.md is byte for byte what scripts/gen-api-md.sh writes from the public headers
 *     (backprop.h and what it includes), which are the manual, and no public function lacks a
 *     comment; the generator reads every style a header may use (checked on a made-up one);
 *   - as a second opinion on the generator, every function the headers declare is on the page,
 *     and every function the page names is still declared;
 *   - the narrated sweep that docs/tutorial.md walks by hand is, line for line, what the
 *     example prints (<!-- trace: PROGRAM ARGS --> before the block);
 *   - every unindented line of a block marked <!-- output: PROGRAM ARGS --> is a line the
 *     example prints, in order, and the block leaves out no line of the narrated sweep between
 *     its first and last line (lines indented by 4 spaces are the doc's own commentary);
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

static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Does `word` occur in s as a whole identifier? */
static bool has_word(const char *s, const char *word) {
    size_t n = strlen(word);
    for (const char *p = strstr(s, word); p; p = strstr(p + 1, word))
        if ((p == s || !ident_char(p[-1])) && !ident_char(p[n])) return true;
    return false;
}

/* ---- the public headers and the API reference they generate -------------------------------- */

#define MAX_HEADERS 16

/* backprop.h and every header it includes with quotes (found in ., autograd/ or nn/), in the
 * order they are met: the headers the manual is made of (the Makefile's HEADERS). */
static int public_headers(char paths[MAX_HEADERS][128]) {
    int n = 0;
    snprintf(paths[n++], 128, "backprop.h");
    for (int i = 0; i < n; i++) {
        char *text = tu_read_text(paths[i]);
        for (const char *p = strstr(text, "#include \""); p; p = strstr(p + 1, "#include \"")) {
            const char *name = p + 10, *end = strchr(name, '"');
            const char *dirs[] = {"", "autograd/", "nn/"};
            for (int d = 0; d < 3 && end; d++) {
                char path[128];
                snprintf(path, sizeof path, "%s%.*s", dirs[d], (int)(end - name), name);
                FILE *f = fopen(path, "r");
                if (!f) continue;
                fclose(f);
                bool seen = false;
                for (int k = 0; k < n; k++) seen = seen || !strcmp(paths[k], path);
                if (!seen && n < MAX_HEADERS) snprintf(paths[n++], 128, "%s", path);
                break;
            }
        }
        free(text);
    }
    return n;
}

/* Everything a shell command writes to stdout (free it); fails the test when it fails. */
static char *command_output(const char *cmd) {
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *s = tu_read_stream(p);
    int status = pclose(p);
    if (status != 0) {
        print_error("'%s' failed (status %d)\n", cmd, status);
        fail();
    }
    return s;
}

/* The generator's command for the given headers; `redirect` is appended (e.g. to keep only
 * its warnings). */
static void generator_command(char *cmd, size_t size, char paths[][128], int n,
                              const char *redirect) {
    size_t len = (size_t)snprintf(cmd, size, "sh scripts/gen-api-md.sh");
    for (int i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(cmd + len, size - len, " '%s'", paths[i]);
    assert_true(len + strlen(redirect) + 1 < size);
    strcat(cmd, redirect);
}

/* Compare two texts; on a difference, say where (line, and both lines) and fail. */
static void assert_same_text(const char *want, const char *got, const char *what) {
    int line = 1;
    const char *w = want, *g = got;
    while (*w && *w == *g) {
        if (*w == '\n') line++;
        w++, g++;
    }
    if (!*w && !*g) return;
    while (w > want && w[-1] != '\n') w--;
    while (g > got && g[-1] != '\n') g--;
    print_error("%s, line %d:\n  docs/api.md: %.*s\n  generated:   %.*s\n", what, line,
                (int)strcspn(w, "\n"), w, (int)strcspn(g, "\n"), g);
    fail();
}

/* docs/api.md is byte for byte what scripts/gen-api-md.sh writes from the public headers, and
 * the generator found no public function without a comment. */
static void test_api_md_is_what_the_headers_give(void **state) {
    (void)state;
    char paths[MAX_HEADERS][128], cmd[4096];
    int n = public_headers(paths);
    assert_true(n >= 3);
    generator_command(cmd, sizeof cmd, paths, n, " 2>&1 >/dev/null");
    char *warnings = command_output(cmd);
    if (*warnings) {
        print_error("%severy public function needs a comment in its header\n", warnings);
        fail();
    }
    free(warnings);
    generator_command(cmd, sizeof cmd, paths, n, "");
    char *got = command_output(cmd);
    char *want = tu_read_text("docs/api.md");
    assert_same_text(want, got,
                     "docs/api.md is not what the headers give (run make docs and commit it)");
    free(got);
    free(want);
}

/* The generator on a made-up header in every style a public header may use: multi-line
 * declarations, a function-pointer typedef, attributes behind #if and behind a macro, the
 * visibility pragmas, extern "C" guards, comments of both kinds before and after declarations,
 * both forms of section heading; and a function with no comment, which it names. */
static void test_the_generator_reads_every_header_style(void **state) {
    (void)state;
    char dir[100], path[1][128], cmd[4096];
    assert_int_equal(tu_tmpdir_make(dir, sizeof dir, "backprop-docs"), 0);
    snprintf(path[0], sizeof path[0], "%s/made_up.h", dir);
    static const char header[] =
        "/*\n"
          " * made_up.h -- a header in every style.\n"
          " *\n"
          " *   mu_pair p = {1, 2};   // an indented example\n"
          " */\n"
          "#ifndef MADE_UP_H\n#define MADE_UP_H\n\n#include <stdio.h>\n\n"
          "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
          "#if defined(__GNUC__)\n#pragma GCC visibility push(default)\n#endif\n\n"
          "/* Printf-style checking where the compiler has it. */\n"
          "#if defined(__GNUC__)\n#define MU_PRINTF(f, a) __attribute__((format(printf, f, a)))\n"
          "#else\n#define MU_PRINTF(f, a)\n#endif\n\n"
          "/* ------------------------------------------------------------------------------\n"
          " * First section. Its prose goes on\n"
          " * over two lines.\n"
          " * ---------------------------------------------------------------------------- */\n\n"
          "/* Builds a loss. */\n"
          "typedef int (*mu_fn)(void *ctx, const char *name);\n\n"
          "/* A struct with comments in it, values\n"
          " * >= 0 (a line that starts like a quote). */\n"
          "typedef struct mu_pair {\n"
          "    int a; /* the first; { not a brace */\n"
          "    /* a whole line */\n"
          "    int b;\n"
          "} mu_pair;\n\n"
          "/* Kinds, one per line. */\n"
          "typedef enum {\n"
          "    MU_ONE, /* the first */\n"
          "    MU_TWO  /* the second; } is not the end */\n"
          "} mu_kind;\n"
          "#define MU_LIMIT 8 /* a limit, with a comment that\n"
          "                   * goes on */\n\n"
          "/* ---- Second section ---- */\n\n"
          "/* Split over lines, with an attribute behind #if. */\n"
          "int mu_log(mu_pair *p,\n"
          "           const char *fmt, ...)\n"
          "#if defined(__GNUC__)\n"
          "    __attribute__((format(printf, 2, 3)))\n"
          "#endif\n"
          "    ;\n"
          "void mu_warn(const char *fmt, ...) MU_PRINTF(1, 2); /* behind a macro */\n"
          "int mu_trailing(int x); /* a comment that goes on\n"
          "                         * over a second line */\n"
          "static inline int mu_inline(int x) { return x + 1; } /* with a body */\n"
          "// A line comment\n"
          "// over two lines.\n"
          "int mu_slashed(void);\n\n"
          "int mu_undocumented(int y);\n\n"
          "#if defined(__GNUC__)\n#pragma GCC visibility pop\n#endif\n\n"
          "#ifdef __cplusplus\n}\n#endif\n\n"
          "#endif /* MADE_UP_H */\n";
    FILE *f = fopen(path[0], "w");
    assert_non_null(f);
    assert_int_equal(fputs(header, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    int undocumented_line = 1; /* the line of mu_undocumented, for the warning */
    for (const char *c = header; c < strstr(header, "int mu_undocumented"); c++)
        undocumented_line += *c == '\n';

    generator_command(cmd, sizeof cmd, path, 1, " 2>/dev/null");
    char *md = command_output(cmd), *again = command_output(cmd);
    assert_string_equal(md, again); /* the same bytes every time */
    const char *want[] = {
        "`made_up.h` -- a header in every style.\n\n```\nmu_pair p = {1, 2};   // an indented "
        "example\n```\n",
        "Printf-style checking where the compiler has it.\n\n```c\n#define MU_PRINTF(f, a) "
        "__attribute__((format(printf, f, a)))\n```\n",
        "### First section\n\nIts prose goes on\nover two lines.\n\n",
        "Builds a loss.\n\n```c\ntypedef int (*mu_fn)(void *ctx, const char *name);\n```\n",
        "values\n\\>= 0 (a line that starts like a quote).\n\n```c\ntypedef struct mu_pair {\n"
        "    int a; /* the first; { not a brace */\n"
        "    /* a whole line */\n    int b;\n} mu_pair;\n```\n",
        "Kinds, one per line.\n\n```c\ntypedef enum {\n    MU_ONE, /* the first */\n"
        "    MU_TWO  /* the second; } is not the end */\n} mu_kind;\n"
        "#define MU_LIMIT 8 /* a limit, with a comment that\n                   * goes on */\n```\n",
        "### Second section\n\n",
        "Split over lines, with an attribute behind #if.\n\n```c\n"
        "int mu_log(mu_pair *p,\n           const char *fmt, ...)\n"
        "    __attribute__((format(printf, 2, 3)));\n"
        "void mu_warn(const char *fmt, ...) MU_PRINTF(1, 2); /* behind a macro */\n"
        "int mu_trailing(int x); /* a comment that goes on\n"
        "                         * over a second line */\n"
        "static inline int mu_inline(int x) { return x + 1; } /* with a body */\n```\n",
        "A line comment\nover two lines.\n\n```c\nint mu_slashed(void);\n```\n",
        "```c\nint mu_undocumented(int y);\n```\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(md, want[i])) {
            print_error("the generator's page lacks:\n%s\n--- its page:\n%s\n", want[i], md);
            fail();
        }
    const char *never[] = {"MADE_UP_H", "#include", "#pragma", "#if", "#else", "#endif",
                           "extern \"C\"", "__cplusplus", "#define MU_PRINTF(f, a)\n"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strstr(md, never[i]) && strcmp(never[i], "#if") != 0) {
            print_error("the generator's page shows '%s'\n", never[i]);
            fail();
        }
    /* "#if" appears only in the comment "behind #if", never as a line of its own */
    assert_null(strstr(md, "\n#if"));

    generator_command(cmd, sizeof cmd, path, 1, " 2>&1 >/dev/null");
    char *warnings = command_output(cmd);
    char line[256];
    snprintf(line, sizeof line, "%s:%d: mu_undocumented has no comment", path[0],
             undocumented_line);
    if (!strstr(warnings, line) || strstr(warnings, "mu_slashed") || strstr(warnings, "mu_log")) {
        print_error("the generator's warnings should name mu_undocumented (line %d) alone:\n%s",
                    undocumented_line, warnings);
        fail();
    }
    free(md);
    free(again);
    free(warnings);
    assert_int_equal(tu_tmpdir_remove(dir), 0);
}

/* The functions the public headers declare, read by the tests' own scanner (not the
 * generator's), into names[]; returns how many. */
static int public_functions(char names[][64], int max) {
    char paths[MAX_HEADERS][128];
    int nh = public_headers(paths), n = 0;
    for (int i = 0; i < nh; i++) n = tu_declared_functions(paths[i], names, n, max);
    return n;
}

static bool has_name(char names[][64], int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s)) return true;
    return false;
}

/* A second opinion on the generator: every function the tests' scanner finds in the headers
 * is on the page (a declaration the generator failed to read would be missing). */
static void test_every_public_function_is_in_api_md(void **state) {
    (void)state;
    static char fns[512][64];
    int n = public_functions(fns, 512), missing = 0;
    assert_true(n >= 100);
    const char *known[] = {"ag_tape_new", "ag_set_last_error", "ag_tape_fail", "ag_gradcheck",
                           "nn_rng_seed", "nn_dense_new", "nn_optim_step", "nn_error"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        assert_true(has_name(fns, n, known[i]));
    char *api = tu_read_text("docs/api.md");
    for (int i = 0; i < n; i++)
        if (!has_word(api, fns[i])) {
            print_error("%s is declared in the public headers but not in docs/api.md\n", fns[i]);
            missing++;
        }
    free(api);
    assert_int_equal(missing, 0);
}

/* Every `ag_x(` / `nn_x(` on the page (in a comment of the headers, too) is a declared
 * function: no comment names a function that is gone. */
static void test_api_md_shows_only_declared_functions(void **state) {
    (void)state;
    static char fns[512][64];
    int n = public_functions(fns, 512), stale = 0;
    char *api = tu_read_text("docs/api.md");
    for (const char *p = api; *p; p++) {
        if ((p != api && ident_char(p[-1])) || (strncmp(p, "ag_", 3) && strncmp(p, "nn_", 3)))
            continue;
        const char *e = p;
        while (ident_char(*e)) e++;
        if (*e != '(') continue;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(e - p), p);
        if (!has_name(fns, n, name)) {
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
        char *doc = tu_read_text(paths[k]);
        for (const char *m = strstr(doc, "<!-- source: "); m; m = strstr(m + 1, "<!-- source: ")) {
            char src[128];
            assert_int_equal(sscanf(m + 13, "%127s", src), 1);
            char *code = tu_read_text(src);
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
    char *doc = tu_read_text("docs/tutorial.md");
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

/* One <!-- output: --> block against the program's output: each of the block's lines (but the
 * commentary, indented by 4 spaces or more) must be the program's next line, skipping only
 * lines that are not trace lines. Returns how many lines matched. */
static int match_output_block(const char *cmdline, char *block, char *out) {
    char *save_doc = NULL, *save_out = NULL;
    char *got = strtok_r(out, "\n", &save_out);
    int compared = 0;
    for (char *want = strtok_r(block, "\n", &save_doc); want; want = strtok_r(NULL, "\n", &save_doc)) {
        if (!*want || !strncmp(want, "    ", 4)) continue;
        while (got && strcmp(got, want) != 0) {
            if (compared > 0 && is_trace_line(got)) {
                print_error("docs/tutorial.md, the output of %s: the doc leaves out the line\n  %s\n"
                            "before\n  %s\n", cmdline, got, want);
                fail();
            }
            got = strtok_r(NULL, "\n", &save_out);
        }
        if (!got) {
            print_error("docs/tutorial.md, the output of %s: after %d matching lines, the "
                        "program prints no line\n  %s\n(in that order)\n", cmdline, compared, want);
            fail();
        }
        compared++;
        got = strtok_r(NULL, "\n", &save_out);
    }
    return compared;
}

static void test_the_tutorial_shows_the_real_output(void **state) {
    (void)state;
    char *doc = tu_read_text("docs/tutorial.md");
    static char block[16384];
    int blocks = 0;
    for (const char *m = strstr(doc, "<!-- output: "); m; m = strstr(m + 1, "<!-- output: ")) {
        const char *end = strstr(m, " -->");
        assert_non_null(end);
        char cmdline[128];
        snprintf(cmdline, sizeof cmdline, "%.*s", (int)(end - (m + 13)), m + 13);
        char *out = run_example(cmdline);
        fenced_block_after(end, block, sizeof block);
        assert_true(match_output_block(cmdline, block, out) > 0);
        free(out);
        blocks++;
    }
    free(doc);
    assert_true(blocks >= 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_md_is_what_the_headers_give),
        cmocka_unit_test(test_the_generator_reads_every_header_style),
        cmocka_unit_test(test_every_public_function_is_in_api_md),
        cmocka_unit_test(test_api_md_shows_only_declared_functions),
        cmocka_unit_test(test_quoted_source_lines_are_in_the_source),
        cmocka_unit_test(test_the_tutorial_walks_the_real_trace),
        cmocka_unit_test(test_the_tutorial_shows_the_real_output),
    };
    return cmocka_run_group_tests_name("docs", tests, NULL, NULL);
}
