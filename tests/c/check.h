/* A tiny assertion helper shared by the C tests: prints the failing expression and the
 * library's last error, then exits non-zero. */
#ifndef TRIMTAB_TEST_CHECK_H
#define TRIMTAB_TEST_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include "trimtab.h"

static void check_fail(const char *file, int line, const char *expr) {
    char msg[512];
    size_t len = 0;
    if (trimtab_last_error(msg, sizeof msg, &len) != TRIMTAB_STATUS_OK) {
        msg[0] = '\0';
    }
    fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", file, line, expr, msg);
    exit(1);
}

#define CHECK(expr) do { if (!(expr)) check_fail(__FILE__, __LINE__, #expr); } while (0)
#define CHECK_OK(call) CHECK((call) == TRIMTAB_STATUS_OK)

#endif
