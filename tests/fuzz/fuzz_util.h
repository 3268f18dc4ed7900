/* fuzz_util.h - shared helpers of the libFuzzer targets: a checked assertion that works in any
 * build type, and exact-size copies so that ASan sees every read past a bound. */
#ifndef PGPIN_FUZZ_UTIL_H
#define PGPIN_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Not assert(): it must fire in RelWithDebInfo too; abort() is a crash to libFuzzer. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz assertion failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A heap copy of exactly n bytes (NULL for n == 0), so a read at p[n] is a heap overflow. */
static inline uint8_t *fuzz_dup(const uint8_t *p, size_t n)
{
    if (n == 0) return NULL;
    uint8_t *c = malloc(n);
    FUZZ_ASSERT(c != NULL);
    memcpy(c, p, n);
    return c;
}

/* True when the NUL-terminated string s lies wholly inside [base, base + n). */
static inline int fuzz_str_within(const char *s, const uint8_t *base, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    if (p < base || p >= base + n) return 0;
    return memchr(p, 0, (size_t)(base + n - p)) != NULL;
}

#endif
