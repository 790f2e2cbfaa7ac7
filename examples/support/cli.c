/* cli.c -- see cli.h. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_default(FILE *f, const cli_opt *o) {
    switch (o->kind) {
    case CLI_INT: fprintf(f, " (default %d)", *(int *)o->value); break;
    case CLI_LONG: fprintf(f, " (default %ld)", *(long *)o->value); break;
    case CLI_DOUBLE: fprintf(f, " (default %g)", *(double *)o->value); break;
    case CLI_STRING: {
        const char *s = *(const char **)o->value;
        if (s) fprintf(f, " (default %s)", s);
        break;
    }
    case CLI_FLAG: break;
    }
}

void cli_usage(const char *prog, const cli_opt *opts, int n, const char *about, bool to_stderr) {
    FILE *f = to_stderr ? stderr : stdout;
    const char *base = strrchr(prog, '/');
    fprintf(f, "usage: %s [options]\n  %s\n\noptions:\n", base ? base + 1 : prog, about);
    for (int i = 0; i < n; i++) {
        const char *arg = opts[i].kind == CLI_FLAG     ? ""
                          : opts[i].kind == CLI_STRING ? " TEXT"
                          : opts[i].kind == CLI_DOUBLE ? " X"
                                                       : " N";
        char left[64];
        snprintf(left, sizeof left, "%s%s", opts[i].name, arg);
        fprintf(f, "  %-22s %s", left, opts[i].help);
        print_default(f, &opts[i]);
        fputc('\n', f);
    }
    fprintf(f, "  %-22s %s\n", "--help", "show this message");
}

int cli_error(char **argv, const cli_opt *opts, int n, const char *about, const char *fmt, ...) {
    const char *base = strrchr(argv[0], '/');
    fprintf(stderr, "%s: ", base ? base + 1 : argv[0]);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    cli_usage(argv[0], opts, n, about, true);
    return 2;
}

int cli_parse(int argc, char **argv, const cli_opt *opts, int n, const char *about) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            cli_usage(argv[0], opts, n, about, false);
            return 0;
        }
        int k = 0;
        while (k < n && strcmp(arg, opts[k].name)) k++;
        if (k == n) return cli_error(argv, opts, n, about, "unknown option '%s'", arg);
        const cli_opt *o = &opts[k];
        if (o->kind == CLI_FLAG) {
            *(bool *)o->value = true;
            continue;
        }
        if (i + 1 >= argc) return cli_error(argv, opts, n, about, "%s needs a value", arg);
        const char *v = argv[++i];
        if (o->kind == CLI_STRING) {
            if (!*v) return cli_error(argv, opts, n, about, "%s needs a non-empty value", arg);
            *(const char **)o->value = v;
            continue;
        }
        char *end = NULL;
        errno = 0;
        double x = o->kind == CLI_DOUBLE ? strtod(v, &end) : (double)strtol(v, &end, 10);
        if (end == v || *end || errno == ERANGE || !isfinite(x))
            return cli_error(argv, opts, n, about, "%s: '%s' is not a number of the right kind", arg, v);
        if (o->min <= o->max && (x < o->min || x > o->max)) {
            char range[96];
            snprintf(range, sizeof range, "'%s' is out of range [%g, %g]", v, o->min, o->max);
            return cli_error(argv, opts, n, about, "%s: %s", arg, range);
        }
        if (o->kind == CLI_INT) {
            if (x < -2147483648.0 || x > 2147483647.0)
                return cli_error(argv, opts, n, about, "%s: '%s' is too large", arg, v);
            *(int *)o->value = (int)x;
        } else if (o->kind == CLI_LONG) {
            *(long *)o->value = strtol(v, NULL, 10);
        } else {
            *(double *)o->value = x;
        }
    }
    return CLI_CONTINUE;
}
