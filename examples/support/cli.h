/*
 * cli.h -- the examples' command-line parsing: a table of options, each with its type, where
 * its value goes, its accepted range and a line of help. Bad flags and values give a usage
 * message and a non-zero exit status, never a crash.
 */
#ifndef BACKPROP_EXAMPLES_CLI_H
#define BACKPROP_EXAMPLES_CLI_H

#include <stdbool.h>

typedef enum { CLI_INT, CLI_LONG, CLI_DOUBLE, CLI_STRING, CLI_FLAG } cli_kind;

typedef struct {
    const char *name;  /* "--sweeps" */
    cli_kind kind;
    void *value;       /* int*, long*, double*, const char**, bool* (set to true by the flag) */
    double min, max;   /* accepted range for numbers (inclusive); ignored when min > max */
    const char *help;  /* one line; the default is printed after it */
} cli_opt;

/* Parse argv against opts[0..n-1]. Returns CLI_CONTINUE when the program should go on;
 * otherwise the status to exit with: 0 after printing --help to stdout, 2 after printing the
 * error and the usage to stderr. `about` is the program's one-line description. */
#define CLI_CONTINUE (-1)
int cli_parse(int argc, char **argv, const cli_opt *opts, int n, const char *about);

/* Print the usage message (program name, about, every option with its default). */
void cli_usage(const char *prog, const cli_opt *opts, int n, const char *about, bool to_stderr);

/* For checks cli_parse cannot make (a name from a list, a list of numbers): print
 * "PROG: message" (printf-style) and the usage to stderr, and return 2, the status to exit with. */
int cli_error(char **argv, const cli_opt *opts, int n, const char *about, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

#endif
