/* budget.h - each Postgres server's connection budget, read from the server itself.
 *
 * A control connection per server (libpq, asynchronous, on the main thread's loop) reads
 * max_connections, superuser_reserved_connections, reserved_connections (16+), the client
 * backends that are not pgpin's own, and the connection limits of the roles pgpin logs in as:
 *
 *     budget = max - superuser_reserved - reserved - others - headroom
 *
 * Every pool that leads to that server (on any worker) draws from the budget through
 * budget_reserve(); pgpin's own server connections, including the control connection, count
 * as "in use". Another pgpin in front of the same server sees ours as "others" and we see its
 * as ours: they share the server without talking. Growth is granted a step at a time past
 * the connections the server already shows as ours (then read again): the other instance
 * cannot see grants, only connections, so the step (half the headroom, at least 1) bounds how
 * far two instances growing at once overshoot together; the headroom covers it. */
#ifndef PGPIN_BUDGET_H
#define PGPIN_BUDGET_H

#include "config.h"
#include "shaper.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct Root Root;

/* ---- The reading itself (pure; also used by `pgpin check`) ---- */

/* Three statements, each one result: settings (one row), client backends (pid, usename),
 * roles with a connection limit (rolname, rolconnlimit). */
#define BUDGET_SQL_SETTINGS                                                                        \
    "SELECT current_setting('max_connections')::int, "                                             \
    "current_setting('superuser_reserved_connections')::int, "                                     \
    "coalesce(nullif(current_setting('reserved_connections', true), ''), '0')::int, "              \
    "pg_backend_pid(), current_setting('server_version')"
#define BUDGET_SQL_BACKENDS                                                                        \
    "SELECT pid, usename FROM pg_stat_activity WHERE backend_type = 'client backend'"
#define BUDGET_SQL_ROLES "SELECT rolname, rolconnlimit FROM pg_roles WHERE rolconnlimit >= 0"

typedef struct BudgetFacts {
    int max_connections;
    int superuser_reserved;
    int reserved; /* reserved_connections (Postgres 16+), else 0 */
    int self_pid; /* the reading connection's backend: never "others" */
    char version[32];
    int backends;    /* client backends in pg_stat_activity, all */
    int ours;        /* of them, pgpin's (the pids it was given) plus the reading connection */
    int others;      /* backends - ours */
    int headroom;    /* from reserve_headroom */
    int budget;      /* max - superuser_reserved - reserved - others - headroom, >= 0 */
    int role_limit;  /* rolconnlimit of `role`, -1 = none */
    int role_others; /* backends of `role` that are not ours */
} BudgetFacts;

/* Headroom for a server with max_connections: the count, or pct% of it with a minimum of 2. */
int budget_headroom(double pct, int abs, int max_connections);

/* Fill f from the three results (NULL roles: no role limits). ours[] (any order, nours) are
 * pgpin's backend pids; role is the login role to take rolconnlimit for (NULL: none).
 * False with a message when a result has the wrong shape. */
bool budget_parse(const PGresult *settings, const PGresult *backends, const PGresult *roles,
                  const int *ours, int nours, const char *role, double headroom_pct,
                  int headroom_abs, BudgetFacts *f, char *err, size_t errlen);

/* "host:port[,host:port...]" for a conninfo, libpq's defaults for what it leaves out: what
 * identifies a server (Budget.key). Caller frees; NULL when out of memory. */
char *budget_server_key(const char *conninfo);

/* What a conninfo's target_session_attrs (else PGTARGETSESSIONATTRS) asks of a server: pgpin
 * retires connections to a server that no longer qualifies (pool.c) and the control connection
 * follows libpq's multi-host pick to the one that does. */
typedef enum {
    BUDGET_TSA_ANY,        /* any, or what pgpin does not check (standby, prefer-standby, ...) */
    BUDGET_TSA_READ_WRITE, /* read-write: no hot standby, default_transaction_read_only off */
    BUDGET_TSA_PRIMARY,    /* primary: no hot standby */
} BudgetTsa;
BudgetTsa budget_conninfo_tsa(const char *conninfo);

/* ---- The live budget per server ---- */

typedef enum {
    BUDGET_NEW,     /* no reading yet: nothing is granted */
    BUDGET_OK,      /* read; the budget applies */
    BUDGET_UNKNOWN, /* the control connection fails: pools open connections as if uncapped */
} BudgetState;

typedef struct Budget Budget;
struct Budget {
    Budget *next;
    Root *root;
    char *key;      /* "host:port[,host:port...]": what identifies the server */
    char *conninfo; /* the control connection's: a pool's conninfo (under lock) */
    char *user;     /* and that pool's login where the conninfo does not set it, or NULL */
    char *dbname;
    atomic_int inuse;      /* pgpin's connections to the server, all workers, control included */
    atomic_int grant;      /* budget_reserve() succeeds below this (<= budget) */
    atomic_int total;      /* the budget itself (uncapped until read) */
    atomic_int nstarved;   /* pools whose clients wait because of the grant */
    atomic_int state;      /* BudgetState */
    atomic_bool want_read; /* a pool asked for more than the grant: read again now */
    atomic_bool reconnect; /* the server it reads turned read-only: open the control anew */
    Shaper shaper;         /* write-rate bucket of this server (shape.c) */
    pthread_mutex_t lock;  /* guards pids and facts */
    int *pids, npids, cappids; /* backend pids of pgpin's server connections */
    BudgetFacts facts;         /* last reading */
    char error[256];           /* why the last reading failed, "" if it did not */
    char warning[160];         /* budget below DBOS's pool floor or the pools' minimums */
    double read_at;            /* when facts were read (proxy_now) */
    /* Main thread only: */
    PGconn *ctl;
    struct event *ev;
    int step;         /* 0 = idle; -1 connecting; reading: which result comes next */
    bool flushing;    /* the query is not all written yet */
    double next_aimd; /* write_rate = auto's next step */
    PGresult *res[3];
    int ctl_pid;
    double next_read;
    double read_started; /* when the reading under way (step != 0) began */
};

/* The Budget for the server pool_conninfo leads to (created on first use, with a control
 * connection opened by the main thread). user/dbname are the pool's login when the conninfo
 * does not set them. Thread-safe. Returns NULL only when out of memory. Owned by root. */
Budget *budget_get(Root *root, const char *conninfo, const char *user, const char *dbname);

/* Claim one connection of the budget; false when the grant is used up (then a new reading is
 * requested). budget_release gives one back. Thread-safe, lock-free. */
bool budget_reserve(Budget *l);
void budget_release(Budget *l);

/* A server connection of pgpin's is up with backend pid / went away. */
void budget_pid_add(Budget *l, int pid);
void budget_pid_del(Budget *l, int pid);

/* Every slot of the budget is taken (not just the grant of the moment): only then do pools
 * give up idle servers for one another. */
static inline bool budget_full(Budget *l)
{
    return atomic_load(&l->inuse) >= atomic_load(&l->total);
}

/* The server answered 53300 to a new connection: lower the grant to what pgpin holds now and
 * read again (clients keep waiting). */
void budget_overflow(Budget *l);

/* A pool found the server read-only (a demoted primary): the control connection is opened again
 * (libpq's multi-host list leads it to the new primary) before the next reading. Thread-safe. */
void budget_follow(Budget *l);

/* Start the main thread's side: a timer that reads every server each
 * limits_refresh_interval and whenever a pool asks. False when out of memory. */
bool budget_start(Root *root);
/* Close the control connections and free every Budget (main thread, after workers stopped). */
void budget_free_all(Root *root);

/* A consistent copy of l's reading and counters for SHOW LIMITS and /metrics. */
typedef struct BudgetInfo {
    char key[128];
    BudgetState state;
    BudgetFacts facts;
    int inuse, grant, nstarved;
    double age; /* seconds since the reading */
    char error[256];
    char warning[160];
    /* Write shaping (shaper.h): rate 0 = off. */
    double write_rate;
    int write_burst, writes_waiting;
    uint64_t writes_admitted, writes_delayed, write_delay_us, writes_canceled, writes_expired;
    uint64_t write_delay_hist[SHAPER_DELAY_BUCKETS + 1];
} BudgetInfo;
void budget_info(Budget *l, BudgetInfo *out);

/* Text for a waiting client: why it waits (server, budget, use); "" when the budget is not
 * the reason. */
void budget_describe(Budget *l, char *buf, size_t len);

#endif
