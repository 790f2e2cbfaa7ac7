/* headers.c -- see testutil.h: the functions a public header declares. */
#include "testutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Append to names[] every function declared in the header at path: after comments, preprocessor
 * lines and C++ guards are removed, each top-level declaration whose first "identifier (" is
 * ag_... or nn_... (typedefs and struct bodies are skipped). */
int tu_declared_functions(const char *path, char names[][64], int n, int max) {
    FILE *f = fopen(path, "r");
    if (!f) {
        print_error("cannot read %s (run the suite from the repository's top directory, or set "
                    "BACKPROP_SRC)\n", path);
        fail();
    }
    static char text[1 << 18];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    /* blank out comments, then preprocessor lines and #ifdef __cplusplus blocks */
    for (char *p = text; *p; p++) {
        if (p[0] == '/' && p[1] == '*') {
            char *end = strstr(p + 2, "*/");
            char *stop = end ? end + 2 : p + strlen(p);
            for (; p < stop; p++)
                if (*p != '\n') *p = ' ';
            p--;
        } else if (p[0] == '/' && p[1] == '/') {
            for (; *p && *p != '\n'; p++) *p = ' ';
            if (!*p) break;
        }
    }
    int cxx = 0;
    for (char *p = text; *p; p++) {
        bool line_start = p == text || p[-1] == '\n';
        char *q = p;
        while (line_start && (*q == ' ' || *q == '\t')) q++;
        if (line_start && *q == '#') {
            char *eol = strchr(q, '\n'), *cpp = strstr(q, "__cplusplus");
            if (cpp && (!eol || cpp < eol) && !strncmp(q, "#if", 3)) cxx = 1;
            else if (cxx && !strncmp(q, "#endif", 6)) cxx = 0;
            for (; *p && *p != '\n'; p++) {
                if (p[0] == '\\' && p[1] == '\n') *p++ = ' ';
                *p = ' ';
            }
            if (!*p) break;
        } else if (cxx && *p != '\n') {
            *p = ' ';
        }
    }
    /* statements at depth 0 end at ';' (or at a function body) */
    int depth = 0;
    char *start = text;
    for (char *p = text; *p; p++) {
        if (*p == '{') depth++;
        else if (*p == '}') depth--;
        bool end = depth == 0 && (*p == ';' || *p == '}');
        if (!end) continue;
        char save = *p;
        *p = '\0';
        char *s = start;
        while (isspace((unsigned char)*s)) s++;
        if (strncmp(s, "typedef", 7) != 0) {
            for (char *q = s; *q; q++) {
                if (!(isalpha((unsigned char)*q) || *q == '_') || (q > s && (isalnum((unsigned char)q[-1]) || q[-1] == '_')))
                    continue;
                char *id = q;
                while (isalnum((unsigned char)*q) || *q == '_') q++;
                char *paren = q;
                while (isspace((unsigned char)*paren)) paren++;
                if (*paren == '(') {
                    if ((!strncmp(id, "ag_", 3) || !strncmp(id, "nn_", 3)) && n < max && q - id < 64) {
                        memcpy(names[n], id, (size_t)(q - id));
                        names[n][q - id] = '\0';
                        n++;
                    }
                    break;
                }
                q--;
            }
        }
        *p = save;
        start = p + 1;
    }
    return n;
}
