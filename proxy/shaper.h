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
    /* write_rate = auto: the rate adapts to the commit latency writes see (AIMD). */
    atomic_bool adaptive;
    _Atomic double rate;                /* current rate when adaptive */
    atomic_int burst;                   /* configured write_burst (0 = a tenth of the rate) */
    _Atomic double target;              /* write_latency_target, seconds */
    atomic_uint_fast64_t lat_us, lat_n; /* commit latencies since the last step */
    uint64_t seen_delayed;              /* main thread: `delayed` at the last step */
} Shaper;

/* The smallest and the starting rate of write_rate = auto (writes/s). */
#define SHAPER_AUTO_MIN   10.0
#define SHAPER_AUTO_START 1000.0

/* Set rate (writes per second; <= 0 turns shaping off) and burst (>= 1). Thread-safe. */
void shaper_configure(Shaper *s, double rate, int burst);

/* write_rate = auto with write_burst (0 = a tenth of the rate) and the latency target. Starts
 * at SHAPER_AUTO_START the first time; a reload keeps the rate it has found. */
void shaper_configure_auto(Shaper *s, int burst, double target);

/* One AIMD step (pure): the next rate after a window whose writes took avg_latency seconds
 * from admission to commit (< 0: none finished), `limited` when writes had to wait for tokens
 * in it. Above target: x0.7; at or below it and limited: +5% (at least +1); else unchanged. */
double shaper_aimd_next(double rate, double avg_latency, double target, bool limited);

/* Main thread, every half second or so: take the window's figures and set the next rate. */
void shaper_aimd_step(Shaper *s);

/* A shaped write transaction committed (or ended) `seconds` after its admission. */
void shaper_count_latency(Shaper *s, double seconds);

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
