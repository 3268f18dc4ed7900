/* stats.h - counters kept by each worker for its own pools (plain integers: only the owning
 * thread writes them), and the helpers that turn them into figures.
 *
 * Nothing here is shared between threads: the admin console and /metrics collect them by
 * asking every worker for a snapshot (worker.c), so the data path never takes a lock or an
 * atomic for statistics. */
#ifndef PGPIN_STATS_H
#define PGPIN_STATS_H

#include <stdint.h>

/* Upper bounds (seconds) of the wait-time histogram buckets; one more bucket is +Inf. */
#define STATS_WAIT_BUCKETS 12
static const double stats_wait_bounds[STATS_WAIT_BUCKETS] = {
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120,
};

/* SQLSTATE classes are two characters of 0-9A-Z: 36 * 36 slots, plus one for malformed. */
#define STATS_ERROR_CLASSES (36 * 36 + 1)

typedef struct PoolStats {
    uint64_t xacts;     /* ReadyForQuery 'I' after a request: transactions and autocommit */
    uint64_t queries;   /* requests: Query, Sync, FunctionCall */
    uint64_t bytes_in;  /* client -> server, relayed */
    uint64_t bytes_out; /* server -> client, relayed */
    uint64_t query_us;  /* time from a request to its ReadyForQuery, summed */
    uint64_t waits;     /* clients that waited for a server (any wait, even 0 s) */
    uint64_t wait_us;   /* their waiting time, summed */
    uint64_t wait_hist[STATS_WAIT_BUCKETS + 1];
    uint64_t errors; /* ErrorResponses seen by clients (server's and pgpin's) */
    uint64_t error_class[STATS_ERROR_CLASSES];
} PoolStats;

/* Slot of a SQLSTATE's class ("53300" -> slot of "53"); malformed codes share the last slot. */
static inline int stats_error_slot(const char *sqlstate)
{
    int v[2];
    for (int i = 0; i < 2; i++) {
        char c = sqlstate ? sqlstate[i] : 0;
        if (c >= '0' && c <= '9')
            v[i] = c - '0';
        else if (c >= 'A' && c <= 'Z')
            v[i] = c - 'A' + 10;
        else
            return STATS_ERROR_CLASSES - 1;
    }
    return v[0] * 36 + v[1];
}

/* The two-character class of a slot into out[3] ("??" for the malformed slot). */
static inline void stats_error_class(int slot, char out[3])
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    if (slot < 0 || slot >= STATS_ERROR_CLASSES - 1) {
        out[0] = out[1] = '?';
    } else {
        out[0] = digits[slot / 36];
        out[1] = digits[slot % 36];
    }
    out[2] = '\0';
}

/* Count one wait of `seconds` into s. */
static inline void stats_add_wait(PoolStats *s, double seconds)
{
    int b = 0;
    while (b < STATS_WAIT_BUCKETS && seconds > stats_wait_bounds[b])
        b++;
    s->waits++;
    s->wait_us += (uint64_t)(seconds * 1e6);
    s->wait_hist[b]++;
}

/* Count one ErrorResponse with sqlstate into s. */
static inline void stats_add_error(PoolStats *s, const char *sqlstate)
{
    s->errors++;
    s->error_class[stats_error_slot(sqlstate)]++;
}

/* Add every counter of b into a. */
void stats_merge(PoolStats *a, const PoolStats *b);

#endif
