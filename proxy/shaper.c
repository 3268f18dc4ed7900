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
    atomic_store(&s->adaptive, false);
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

/* Rate and burst into the bucket (adaptive mode keeps its flag). */
static void shaper_apply(Shaper *s, double rate, int burst)
{
    int64_t interval = (int64_t)llround(1e9 / rate);
    if (interval < 1) interval = 1;
    if (burst < 1) burst = (int)(rate / 10) > 1 ? (int)(rate / 10) : 1;
    atomic_store(&s->tolerance, (int64_t)(burst - 1) * interval);
    atomic_store(&s->interval, interval);
}

void shaper_configure_auto(Shaper *s, int burst, double target)
{
    atomic_store(&s->burst, burst);
    atomic_store(&s->target, target);
    if (!atomic_exchange(&s->adaptive, true)) atomic_store(&s->rate, SHAPER_AUTO_START);
    shaper_apply(s, atomic_load(&s->rate), burst);
}

double shaper_aimd_next(double rate, double avg_latency, double target, bool limited)
{
    double next = rate;
    if (avg_latency > target)
        next = rate * 0.7;
    else if (avg_latency >= 0 && limited)
        next = rate + (rate * 0.05 > 1 ? rate * 0.05 : 1);
    return next < SHAPER_AUTO_MIN ? SHAPER_AUTO_MIN : next;
}

void shaper_aimd_step(Shaper *s)
{
    if (!atomic_load(&s->adaptive)) return;
    uint64_t n = atomic_exchange(&s->lat_n, 0), us = atomic_exchange(&s->lat_us, 0);
    uint64_t delayed = atomic_load(&s->delayed);
    bool limited = delayed != s->seen_delayed || atomic_load(&s->queued) > 0;
    s->seen_delayed = delayed;
    double rate = atomic_load(&s->rate);
    double next = shaper_aimd_next(rate, n ? (double)us / 1e6 / (double)n : -1,
                                   atomic_load(&s->target), limited);
    if (next == rate) return;
    atomic_store(&s->rate, next);
    shaper_apply(s, next, atomic_load(&s->burst));
}

void shaper_count_latency(Shaper *s, double seconds)
{
    atomic_fetch_add_explicit(&s->lat_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&s->lat_n, 1, memory_order_relaxed);
}
