/* stats.c - merging per-worker counters (see stats.h). */
#include "stats.h"

#include <stddef.h>

void stats_merge(PoolStats *a, const PoolStats *b)
{
    /* Every field is a uint64_t: add them as an array (checked at compile time). */
    _Static_assert(sizeof(PoolStats) % sizeof(uint64_t) == 0, "PoolStats holds only uint64_t");
    uint64_t *x = (uint64_t *)a;
    const uint64_t *y = (const uint64_t *)b;
    for (size_t i = 0; i < sizeof(PoolStats) / sizeof(uint64_t); i++)
        x[i] += y[i];
}
