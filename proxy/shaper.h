/* shaper.h - write-rate shaping per server: a token bucket shared by every worker, lock-free.
 *
 * The bucket is kept as GCRA (the generic cell rate algorithm, ATM's leaky bucket): one atomic
 * "theoretical arrival time" (TAT). A write at `now` is admitted when TAT - now <= tolerance
 * (tolerance = (burst - 1) intervals), and then TAT moves on by one interval (1/rate). That is
 * exactly a token bucket of `burst` tokens refilled at `rate` per second, but it needs a single
 * compare-and-swap instead of a lock, and it tells a refused caller how long to wait. */
#ifndef PGPIN_SHAPER_H
#define PGPIN_SHAPER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Upper bounds (seconds) of the write-delay histogram; one more bucket is +Inf. */
#define SHAPER_DELAY_BUCKETS 10
static const double shaper_delay_bounds[SHAPER_DELAY_BUCKETS] = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};

typedef struct Shaper {
    _Atomic int64_t tat;       /* ns on the monotonic clock */
    _Atomic int64_t interval;  /* ns per write; 0 = shaping off */
    _Atomic int64_t tolerance; /* ns: (burst - 1) * interval */
    /* Statistics, all workers (relaxed atomics: written on the write path only when shaping
     * is on). */
    atomic_uint_fast64_t admitted, delayed, delay_us, expired, canceled;
    atomic_uint_fast64_t delay_hist[SHAPER_DELAY_BUCKETS + 1];
    atomic_int queued; /* writes waiting now */
} Shaper;

/* Set rate (writes per second; <= 0 turns shaping off) and burst (>= 1). Thread-safe. */
void shaper_configure(Shaper *s, double rate, int burst);

/* Whether shaping is on (a relaxed read: the fast path when it is off). */
static inline bool shaper_on(const Shaper *s)
{
    return atomic_load_explicit(&s->interval, memory_order_relaxed) > 0;
}

/* Take one write at now_ns. Returns 0 when admitted, else the ns to wait before asking again
 * (nothing was taken). Thread-safe, lock-free. */
int64_t shaper_take(Shaper *s, int64_t now_ns);

/* Count an admitted write that waited `seconds` (0 = never waited) in the statistics. */
void shaper_count_admitted(Shaper *s, double seconds);

/* Monotonic clock in ns. */
int64_t shaper_now_ns(void);

#endif
