/* shaper.c - GCRA token bucket per server (see shaper.h). */
#include "shaper.h"

#include <math.h>
#include <time.h>

int64_t shaper_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void shaper_configure(Shaper *s, double rate, int burst)
{
    if (!(rate > 0)) {
        atomic_store(&s->interval, 0);
        return;
    }
    int64_t interval = (int64_t)llround(1e9 / rate);
    if (interval < 1) interval = 1;
    if (burst < 1) burst = 1;
    atomic_store(&s->tolerance, (int64_t)(burst - 1) * interval);
    atomic_store(&s->interval, interval);
}

int64_t shaper_take(Shaper *s, int64_t now)
{
    int64_t interval = atomic_load(&s->interval);
    if (interval <= 0) return 0;
    int64_t tolerance = atomic_load(&s->tolerance);
    int64_t tat = atomic_load(&s->tat);
    for (;;) {
        int64_t start = tat > now ? tat : now; /* an idle bucket does not bank credit */
        if (start - now > tolerance) return start - now - tolerance;
        if (atomic_compare_exchange_weak(&s->tat, &tat, start + interval)) return 0;
    }
}

void shaper_count_admitted(Shaper *s, double seconds)
{
    atomic_fetch_add_explicit(&s->admitted, 1, memory_order_relaxed);
    if (seconds <= 0) return;
    int b = 0;
    while (b < SHAPER_DELAY_BUCKETS && seconds > shaper_delay_bounds[b])
        b++;
    atomic_fetch_add_explicit(&s->delayed, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->delay_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&s->delay_hist[b], 1, memory_order_relaxed);
}
