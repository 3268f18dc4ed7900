/* loadgen.c - pgpin_loadgen: a one-thread libpq asynchronous load generator.
 *
 * N connections, one ppoll() loop over PQsocket(), PQsendQueryParams / PQsendQueryPrepared /
 * PQsendQuery in nonblocking mode. Workloads: a pgbench-style point SELECT, and a DBOS-shaped
 * workflow (insert status, 3 step outputs, update status: 5 autocommit statements) sent either
 * like node-postgres (extended protocol, unnamed statements, text parameters) or as simple
 * queries with the values inlined. Latency goes into a log-linear histogram in microseconds
 * (no per-sample allocation). The run is bounded by --seconds (loop deadline) and by a SIGALRM
 * watchdog that also covers the blocking setup calls. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define LG_MAX_CLIENTS      10000
#define LG_MAX_PARAMS       4
#define LG_PARAM_LEN        64
#define LG_DBOS_STEPS       5  /* insert status, 3 x insert output, update status */
#define LG_ERR_PRINT_MAX    5  /* errors echoed to stderr; the rest are only counted */
#define LG_NOTICE_PRINT_MAX 3  /* same for notices */
#define LG_WATCHDOG_GRACE   10 /* seconds past a phase's own bound before SIGALRM kills us */
#define LG_SETUP_TIMEOUT_S  20 /* statement_timeout of the --setup DDL */
#define LG_ACCOUNTS_PER_SF  100000
#define LG_HIST_SUB_BITS    7
#define LG_HIST_HALF        (1 << (LG_HIST_SUB_BITS - 1))
#define LG_HIST_BUCKETS     2048 /* covers 2^37 us; larger values land in the last bucket */

typedef enum { LG_MODE_SELECT = 0, LG_MODE_DBOS, LG_MODE_DBOS_RAW } LgMode;

static const char *const lg_mode_names[] = {"select", "dbos", "dbos-raw"};

typedef struct LgOpts {
    const char *conninfo;
    const char *report_path; /* per-second CSV, NULL = none */
    LgMode mode;
    int clients;
    double seconds;
    double rate;    /* offered transactions/s over all clients; 0 = closed loop */
    int64_t max_tx; /* 0 = no cap */
    int scale;      /* pgbench scale factor: aid in [1, scale * 100000] */
    int connect_timeout_s;
    uint64_t seed;
    bool prepared, setup, strict;
} LgOpts;

/* Log-linear histogram: values below 2*HALF exact, then HALF buckets per power of two
 * (relative error under 1/HALF). */
typedef struct LgHist {
    uint64_t counts[LG_HIST_BUCKETS];
    uint64_t n, sum_us, max_us;
} LgHist;

typedef struct LgStats {
    uint64_t ok_tx, err_tx, ok_stmt;
    LgHist hist;
} LgStats;

typedef enum { LG_CS_CONNECTING = 0, LG_CS_IDLE, LG_CS_BUSY, LG_CS_DEAD } LgConnState;

typedef struct LgConn {
    PGconn *pg;
    LgConnState state;
    PostgresPollingStatusType poll; /* while connecting: what PQconnectPoll waits for */
    bool want_write;                /* while busy: PQflush left bytes unsent */
    bool step_failed;
    int step;            /* statement index inside the current transaction */
    int64_t tx_start_us; /* closed loop: send time; open loop: scheduled time */
    char uuid[37];       /* dbos modes: this workflow's ID */
} LgConn;

typedef struct LgRun {
    const LgOpts *opt;
    LgConn *conns;
    struct pollfd *pfds;
    int *pfd_conn; /* pfds[i] belongs to conns[pfd_conn[i]] */
    int live, busy, dead_conns, errs_printed;
    uint64_t notices; /* NOTICE/WARNING messages received (a proxy may send them) */
    uint64_t rng;
    int64_t t0_us, deadline_us, next_report_us, end_us;
    int64_t issued; /* transactions started; in open loop also the schedule index */
    int report_sec;
    FILE *report;
    LgStats total, sec;
} LgRun;

typedef struct LgStmt {
    const char *name; /* --prepared statement name */
    const char *sql;
    int nparams;
} LgStmt;

typedef struct LgParams {
    const char *v[LG_MAX_PARAMS];
    char buf[LG_MAX_PARAMS][LG_PARAM_LEN];
} LgParams;

static const LgStmt lg_select_stmts[] = {
    {"lg_sel", "SELECT abalance FROM pgbench_accounts WHERE aid = $1", 1},
};

static const LgStmt lg_dbos_stmts[] = {
    {"lg_wf_ins",
     "INSERT INTO bench_wf_status (workflow_uuid, status, name, created_at) "
     "VALUES ($1, $2, $3, $4)",
     4},
    {"lg_op_ins",
     "INSERT INTO bench_op_outputs (workflow_uuid, function_id, output) VALUES ($1, $2, $3)", 3},
    {"lg_wf_upd", "UPDATE bench_wf_status SET status = $2 WHERE workflow_uuid = $1 AND status = $3",
     3},
};

static const char lg_setup_sql[] =
    "SET client_min_messages = warning; SET statement_timeout = '20s';"
    "SET lock_timeout = '10s';"
    "DROP TABLE IF EXISTS bench_op_outputs, bench_wf_status;"
    "CREATE TABLE bench_wf_status (workflow_uuid text PRIMARY KEY, status text NOT NULL,"
    " name text NOT NULL, created_at bigint NOT NULL);"
    "CREATE TABLE bench_op_outputs (workflow_uuid text NOT NULL"
    " REFERENCES bench_wf_status (workflow_uuid) ON UPDATE CASCADE ON DELETE CASCADE,"
    " function_id integer NOT NULL, output text, PRIMARY KEY (workflow_uuid, function_id));";

/* ---- time, randomness, histogram ---- */

static int64_t lg_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t lg_epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64: tiny, fast, good enough to pick keys. */
static uint64_t lg_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Random version-4 UUID in canonical text form (36 chars + NUL). */
static void lg_uuid(uint64_t *rng, char out[37])
{
    uint64_t hi = (lg_rand(rng) & ~0xF000ULL) | 0x4000ULL;
    uint64_t lo = (lg_rand(rng) & ~(3ULL << 62)) | (2ULL << 62);
    snprintf(out, 37, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
             hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48, lo & (uint64_t)0xffffffffffff);
}

static int lg_hist_index(uint64_t v)
{
    if (v < 2 * LG_HIST_HALF) return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - (LG_HIST_SUB_BITS - 1);
    int idx = 2 * LG_HIST_HALF + (shift - 1) * LG_HIST_HALF + (int)((v >> shift) - LG_HIST_HALF);
    return idx < LG_HIST_BUCKETS ? idx : LG_HIST_BUCKETS - 1;
}

/* Middle of bucket idx, in microseconds. */
static uint64_t lg_hist_value(int idx)
{
    if (idx < 2 * LG_HIST_HALF) return (uint64_t)idx;
    int shift = (idx - 2 * LG_HIST_HALF) / LG_HIST_HALF + 1;
    uint64_t top = (uint64_t)((idx - 2 * LG_HIST_HALF) % LG_HIST_HALF + LG_HIST_HALF);
    return (top << shift) + ((1ULL << shift) >> 1);
}

static void lg_hist_add(LgHist *h, uint64_t us)
{
    h->counts[lg_hist_index(us)]++;
    h->n++;
    h->sum_us += us;
    if (us > h->max_us) h->max_us = us;
}

/* Quantile q in (0,1] in milliseconds; 0 when empty. Never above the observed maximum. */
static double lg_hist_quantile_ms(const LgHist *h, double q)
{
    if (h->n == 0) return 0.0;
    uint64_t rank = (uint64_t)(q * (double)h->n);
    if ((double)rank < q * (double)h->n || rank == 0) rank++;
    uint64_t cum = 0;
    for (int i = 0; i < LG_HIST_BUCKETS; i++) {
        cum += h->counts[i];
        if (cum >= rank) {
            uint64_t v = lg_hist_value(i);
            return (double)(v < h->max_us ? v : h->max_us) / 1000.0;
        }
    }
    return (double)h->max_us / 1000.0;
}

static double lg_hist_avg_ms(const LgHist *h)
{
    return h->n ? (double)h->sum_us / (double)h->n / 1000.0 : 0.0;
}

/* ---- errors ---- */

/* Echo the first few errors with context; count the rest silently so a broken target does not
 * flood the terminal at thousands of lines per second. */
static void lg_note_error(LgRun *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void lg_note_error(LgRun *run, const char *fmt, ...)
{
    if (run->errs_printed > LG_ERR_PRINT_MAX) return;
    if (run->errs_printed++ == LG_ERR_PRINT_MAX) {
        fprintf(stderr, "pgpin_loadgen: further errors are counted, not printed\n");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fputs("pgpin_loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* libpq notice processor: count notices, echo the first few (default would print them all). */
static void lg_notice_cb(void *arg, const char *msg)
{
    LgRun *run = arg;
    if (++run->notices <= LG_NOTICE_PRINT_MAX) fprintf(stderr, "pgpin_loadgen: notice: %s", msg);
}

static void lg_watchdog_cb(int sig)
{
    static const char msg[] = "pgpin_loadgen: watchdog: hard deadline passed, exiting\n";
    (void)sig;
    ssize_t rc = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)rc;
    _exit(3);
}

/* ---- workload: statements and parameters ---- */

static int lg_nsteps(LgMode mode)
{
    return mode == LG_MODE_SELECT ? 1 : LG_DBOS_STEPS;
}

static const LgStmt *lg_step_stmt(LgMode mode, int step)
{
    if (mode == LG_MODE_SELECT) return &lg_select_stmts[0];
    if (step == 0) return &lg_dbos_stmts[0];
    return step == LG_DBOS_STEPS - 1 ? &lg_dbos_stmts[2] : &lg_dbos_stmts[1];
}

static void lg_param(LgParams *p, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void lg_param(LgParams *p, int i, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->buf[i], LG_PARAM_LEN, fmt, ap);
    va_end(ap);
    p->v[i] = p->buf[i];
}

/* Text parameters of the connection's current step (what node-postgres would send). */
static void lg_step_params(LgRun *run, const LgConn *c, LgParams *p)
{
    if (run->opt->mode == LG_MODE_SELECT) {
        uint64_t naccounts = (uint64_t)run->opt->scale * LG_ACCOUNTS_PER_SF;
        lg_param(p, 0, "%" PRIu64, 1 + lg_rand(&run->rng) % naccounts);
        return;
    }
    lg_param(p, 0, "%s", c->uuid);
    if (c->step == 0) {
        lg_param(p, 1, "PENDING");
        lg_param(p, 2, "bench_workflow");
        lg_param(p, 3, "%" PRId64, lg_epoch_ms());
    } else if (c->step < LG_DBOS_STEPS - 1) {
        lg_param(p, 1, "%d", c->step);
        lg_param(p, 2, "{\"step\":%d,\"result\":\"ok\"}", c->step);
    } else {
        lg_param(p, 1, "SUCCESS");
        lg_param(p, 2, "PENDING");
    }
}

/* dbos-raw: the same statements as one simple Query with the values inlined. The values are
 * generated here (hex UUIDs, digits, fixed words) and contain no quote characters. */
static void lg_raw_sql(char *sql, size_t len, int step, const LgParams *p)
{
    if (step == 0) {
        snprintf(sql, len,
                 "INSERT INTO bench_wf_status (workflow_uuid, status, name, created_at) "
                 "VALUES ('%s', '%s', '%s', %s)",
                 p->v[0], p->v[1], p->v[2], p->v[3]);
    } else if (step < LG_DBOS_STEPS - 1) {
        snprintf(sql, len,
                 "INSERT INTO bench_op_outputs (workflow_uuid, function_id, output) "
                 "VALUES ('%s', %s, '%s')",
                 p->v[0], p->v[1], p->v[2]);
    } else {
        snprintf(sql, len,
                 "UPDATE bench_wf_status SET status = '%s' WHERE workflow_uuid = '%s' "
                 "AND status = '%s'",
                 p->v[1], p->v[0], p->v[2]);
    }
}

/* Queue the current step on c and start flushing it. Returns false when libpq refused it
 * (the connection is then unusable; PQerrorMessage says why). */
static bool lg_send_step(LgRun *run, LgConn *c)
{
    const LgStmt *st = lg_step_stmt(run->opt->mode, c->step);
    LgParams p;
    int ok;

    lg_step_params(run, c, &p);
    if (run->opt->mode == LG_MODE_DBOS_RAW) {
        char sql[512];
        lg_raw_sql(sql, sizeof sql, c->step, &p);
        ok = PQsendQuery(c->pg, sql);
    } else if (run->opt->prepared) {
        ok = PQsendQueryPrepared(c->pg, st->name, st->nparams, p.v, NULL, NULL, 0);
    } else {
        ok = PQsendQueryParams(c->pg, st->sql, st->nparams, NULL, p.v, NULL, NULL, 0);
    }
    if (!ok) return false;
    int f = PQflush(c->pg);
    c->want_write = f == 1;
    return f >= 0;
}

/* ---- transactions ---- */

static void lg_conn_fail(LgRun *run, LgConn *c, const char *why)
{
    lg_note_error(run, "connection %d lost: %s", (int)(c - run->conns), why);
    if (c->state == LG_CS_BUSY) {
        run->busy--;
        run->total.err_tx++;
        run->sec.err_tx++;
    }
    PQfinish(c->pg);
    c->pg = NULL;
    c->state = LG_CS_DEAD;
    run->live--;
    run->dead_conns++;
}

static bool lg_cap_reached(const LgRun *run)
{
    return run->opt->max_tx > 0 && run->issued >= run->opt->max_tx;
}

/* Open loop: when transaction k is due, at a constant offered rate from t0. */
static int64_t lg_sched_us(const LgRun *run, int64_t k)
{
    return run->t0_us + (int64_t)((double)k * 1e6 / run->opt->rate);
}

static void lg_tx_begin(LgRun *run, LgConn *c, int64_t start_us)
{
    run->issued++;
    c->step = 0;
    c->step_failed = false;
    c->tx_start_us = start_us;
    if (run->opt->mode != LG_MODE_SELECT) lg_uuid(&run->rng, c->uuid);
    c->state = LG_CS_BUSY;
    run->busy++;
    if (!lg_send_step(run, c)) lg_conn_fail(run, c, PQerrorMessage(c->pg));
}

static void lg_tx_end(LgRun *run, LgConn *c, bool ok)
{
    c->state = LG_CS_IDLE;
    run->busy--;
    if (!ok) {
        run->total.err_tx++;
        run->sec.err_tx++;
        return;
    }
    int64_t lat = lg_now_us() - c->tx_start_us;
    uint64_t us = lat > 0 ? (uint64_t)lat : 0;
    run->total.ok_tx++;
    run->sec.ok_tx++;
    lg_hist_add(&run->total.hist, us);
    lg_hist_add(&run->sec.hist, us);
}

/* Start transactions on idle connections: closed loop starts one on each, open loop only
 * those whose scheduled time has come (latency is then measured from the schedule, so a
 * stalled target is charged for the queueing it causes). */
static void lg_start_idle(LgRun *run, int64_t now)
{
    for (int i = 0; i < run->opt->clients && run->busy < run->live; i++) {
        LgConn *c = &run->conns[i];
        if (c->state != LG_CS_IDLE) continue;
        if (lg_cap_reached(run)) return;
        int64_t start = now;
        if (run->opt->rate > 0) {
            start = lg_sched_us(run, run->issued);
            if (start > now) return;
        }
        lg_tx_begin(run, c, start);
    }
}

/* A result of the current step: anything but success fails the transaction. Besides the
 * status, a select must find its row (else --scale is wrong) and the final UPDATE must hit
 * exactly the row the first INSERT wrote. */
static void lg_check_result(LgRun *run, LgConn *c, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    const char *why = NULL;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        why = PQresultErrorMessage(res);
    else if (run->opt->mode == LG_MODE_SELECT && PQntuples(res) != 1)
        why = "SELECT returned no row (is --scale larger than pgbench -i -s?)\n";
    else if (run->opt->mode != LG_MODE_SELECT && c->step == LG_DBOS_STEPS - 1 &&
             strcmp(PQcmdTuples(res), "1") != 0)
        why = "UPDATE of the workflow row did not hit exactly one row\n";
    if (why == NULL) return;
    if (!c->step_failed)
        lg_note_error(run, "conn %d step %d: %s", (int)(c - run->conns), c->step, why);
    c->step_failed = true;
}

/* The current statement finished (PQgetResult returned NULL): send the next one or end. */
static void lg_step_done(LgRun *run, LgConn *c)
{
    if (c->step_failed) {
        lg_tx_end(run, c, false);
        return;
    }
    run->total.ok_stmt++;
    run->sec.ok_stmt++;
    if (++c->step < lg_nsteps(run->opt->mode)) {
        if (!lg_send_step(run, c)) lg_conn_fail(run, c, PQerrorMessage(c->pg));
        return;
    }
    lg_tx_end(run, c, true);
}

/* Socket of a busy connection is ready: flush, read, and take every complete result. */
static void lg_conn_ready(LgRun *run, LgConn *c, short revents)
{
    if (c->want_write && (revents & POLLOUT)) {
        int f = PQflush(c->pg);
        if (f < 0) {
            lg_conn_fail(run, c, PQerrorMessage(c->pg));
            return;
        }
        c->want_write = f == 1;
    }
    if (!(revents & (POLLIN | POLLERR | POLLHUP))) return;
    if (!PQconsumeInput(c->pg)) {
        lg_conn_fail(run, c, PQerrorMessage(c->pg));
        return;
    }
    /* Bounded: each PQgetResult consumes buffered input; NULL ends the statement. */
    while (c->state == LG_CS_BUSY && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (res == NULL) {
            lg_step_done(run, c);
            return;
        }
        lg_check_result(run, c, res);
        PQclear(res);
    }
}

/* ---- the loop ---- */

static void lg_report_row(LgRun *run)
{
    LgStats *s = &run->sec;
    if (run->report) {
        fprintf(run->report, "%d,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.3f,%.3f,%.3f\n",
                run->report_sec, s->ok_tx, s->err_tx, s->ok_stmt, lg_hist_avg_ms(&s->hist),
                lg_hist_quantile_ms(&s->hist, 0.50), lg_hist_quantile_ms(&s->hist, 0.99));
    }
    memset(s, 0, sizeof *s);
}

/* Emit one CSV row per whole second elapsed (rows for seconds with no completions too). */
static void lg_report_tick(LgRun *run, int64_t now)
{
    while (now >= run->next_report_us && run->next_report_us <= run->deadline_us) {
        run->report_sec++;
        lg_report_row(run);
        run->next_report_us += 1000000;
    }
}

static int lg_build_pollfds(LgRun *run)
{
    int n = 0;
    for (int i = 0; i < run->opt->clients; i++) {
        LgConn *c = &run->conns[i];
        if (c->state != LG_CS_BUSY) continue;
        run->pfds[n].fd = PQsocket(c->pg);
        run->pfds[n].events = (short)(POLLIN | (c->want_write ? POLLOUT : 0));
        run->pfds[n].revents = 0;
        run->pfd_conn[n++] = i;
    }
    return n;
}

static int64_t lg_next_wake(const LgRun *run, int64_t now)
{
    int64_t wake = run->deadline_us;
    if (run->report && run->next_report_us < wake) wake = run->next_report_us;
    if (run->opt->rate > 0 && run->busy < run->live && !lg_cap_reached(run)) {
        int64_t due = lg_sched_us(run, run->issued);
        if (due < wake) wake = due;
    }
    return wake > now ? wake : now;
}

static bool lg_wait(LgRun *run, int n, int64_t wait_us)
{
    struct timespec ts = {.tv_sec = wait_us / 1000000, .tv_nsec = (wait_us % 1000000) * 1000};
    int rc = ppoll(run->pfds, (nfds_t)n, &ts, NULL);
    if (rc < 0 && errno != EINTR) {
        lg_note_error(run, "ppoll: %s\n", strerror(errno));
        return false;
    }
    for (int i = 0; rc > 0 && i < n; i++) {
        if (run->pfds[i].revents)
            lg_conn_ready(run, &run->conns[run->pfd_conn[i]], run->pfds[i].revents);
    }
    return true;
}

/* Runs until the deadline, the --max-tx cap (after in-flight work drains), or until every
 * connection is lost. Time-bounded: every wait ends at the deadline at the latest. */
static void lg_run_loop(LgRun *run)
{
    for (;;) {
        int64_t now = lg_now_us();
        if (now >= run->deadline_us || run->live == 0) break;
        if (lg_cap_reached(run) && run->busy == 0) break;
        lg_report_tick(run, now);
        lg_start_idle(run, now);
        int n = lg_build_pollfds(run);
        if (!lg_wait(run, n, lg_next_wake(run, now) - now)) break;
    }
    run->end_us = lg_now_us();
    if (run->end_us > run->deadline_us) run->end_us = run->deadline_us;
    lg_report_tick(run, run->end_us);
    if (run->sec.ok_tx + run->sec.err_tx > 0) { /* partial last second (--max-tx) */
        run->report_sec++;
        lg_report_row(run);
    }
}

/* ---- connecting ---- */

/* Non-blocking connect start; connect_timeout goes first so the user's conninfo overrides it. */
static PGconn *lg_connect_start(const LgOpts *opt, bool blocking)
{
    char tmo[16];
    snprintf(tmo, sizeof tmo, "%d", opt->connect_timeout_s);
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const vals[] = {tmo, opt->conninfo, NULL};
    if (blocking) return PQconnectdbParams(keys, vals, 1);
    return PQconnectStartParams(keys, vals, 1);
}

/* Drive PQconnectPoll for every connecting connection once its socket is ready. */
static void lg_connect_step(LgRun *run, int64_t wait_us)
{
    int n = 0;
    for (int i = 0; i < run->opt->clients; i++) {
        LgConn *c = &run->conns[i];
        if (c->state != LG_CS_CONNECTING) continue;
        run->pfds[n].fd = PQsocket(c->pg);
        run->pfds[n].events = c->poll == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        run->pfds[n].revents = 0;
        run->pfd_conn[n++] = i;
    }
    struct timespec ts = {.tv_sec = wait_us / 1000000, .tv_nsec = (wait_us % 1000000) * 1000};
    int rc = ppoll(run->pfds, (nfds_t)n, &ts, NULL);
    for (int i = 0; rc > 0 && i < n; i++) {
        LgConn *c = &run->conns[run->pfd_conn[i]];
        if (!run->pfds[i].revents) continue;
        c->poll = PQconnectPoll(c->pg);
        if (c->poll == PGRES_POLLING_OK) {
            PQsetNoticeProcessor(c->pg, lg_notice_cb, run);
            c->state = LG_CS_IDLE;
            run->live++;
        } else if (c->poll == PGRES_POLLING_FAILED) {
            lg_note_error(run, "connect: %s", PQerrorMessage(c->pg));
            c->state = LG_CS_DEAD;
            run->dead_conns++;
        }
    }
}

/* Open all --clients connections concurrently. Returns false unless every one is up within
 * --connect-timeout (a run with fewer clients than asked would be mislabelled). */
static bool lg_connect_all(LgRun *run)
{
    int64_t deadline = lg_now_us() + (int64_t)run->opt->connect_timeout_s * 1000000;
    for (int i = 0; i < run->opt->clients; i++) {
        LgConn *c = &run->conns[i];
        c->pg = lg_connect_start(run->opt, false);
        c->poll = PGRES_POLLING_WRITING;
        if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
            lg_note_error(run, "connect: %s", c->pg ? PQerrorMessage(c->pg) : "out of memory\n");
            return false;
        }
    }
    for (;;) {
        int64_t now = lg_now_us();
        if (run->live + run->dead_conns == run->opt->clients || now >= deadline) break;
        lg_connect_step(run, deadline - now);
    }
    if (run->live == run->opt->clients) return true;
    if (run->dead_conns == 0) lg_note_error(run, "connect: timed out\n");
    return false;
}

/* --prepared: name each statement of the mode on every connection (blocking, before the
 * clock starts; the watchdog bounds it). */
static bool lg_prepare_all(LgRun *run)
{
    const LgStmt *stmts = run->opt->mode == LG_MODE_SELECT ? lg_select_stmts : lg_dbos_stmts;
    int nstmts = run->opt->mode == LG_MODE_SELECT ? 1 : 3;
    for (int i = 0; i < run->opt->clients; i++) {
        for (int s = 0; s < nstmts; s++) {
            PGresult *res =
                PQprepare(run->conns[i].pg, stmts[s].name, stmts[s].sql, stmts[s].nparams, NULL);
            bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
            if (!ok) lg_note_error(run, "prepare %s: %s", stmts[s].name, PQresultErrorMessage(res));
            PQclear(res);
            if (!ok) return false;
        }
    }
    return true;
}

static bool lg_setup_tables(const LgOpts *opt)
{
    PGconn *pg = lg_connect_start(opt, true);
    bool ok = pg != NULL && PQstatus(pg) == CONNECTION_OK;
    if (ok) {
        PGresult *res = PQexec(pg, lg_setup_sql);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok) fprintf(stderr, "pgpin_loadgen: setup: %s", PQresultErrorMessage(res));
        PQclear(res);
    } else {
        fprintf(stderr, "pgpin_loadgen: setup connect: %s",
                pg ? PQerrorMessage(pg) : "out of memory\n");
    }
    PQfinish(pg);
    return ok;
}

/* ---- options ---- */

static void lg_usage(FILE *out)
{
    fprintf(
        out,
        "usage: pgpin_loadgen --conninfo STR [options]\n"
        "  --conninfo STR        libpq conninfo or URI of the target (direct, PgBouncer, pgpin)\n"
        "  --clients N           connections, one thread, async (default 1)\n"
        "  --seconds S           measured run, a hard deadline (default 10; 0 = --setup only)\n"
        "  --mode M              select | dbos | dbos-raw (default select)\n"
        "  --rate R              offered transactions/s in total, 0 = closed loop (default 0)\n"
        "  --max-tx N            stop after N transactions (default 0 = no cap)\n"
        "  --scale N             pgbench scale of pgbench_accounts (default 1)\n"
        "  --prepared            named prepared statements (select, dbos)\n"
        "  --setup               (re)create bench_wf_status and bench_op_outputs first\n"
        "  --report FILE         per-second CSV\n"
        "  --connect-timeout S   seconds to open all connections (default 10)\n"
        "  --seed N              random seed (default: time and pid)\n"
        "  --strict              exit 1 if a transaction failed, a connection was lost or\n"
        "                        none completed\n");
}

static bool lg_parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "pgpin_loadgen: bad number '%s' (allowed %.0f..%.0f)\n", s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

static bool lg_parse_seed(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0') {
        fprintf(stderr, "pgpin_loadgen: bad --seed '%s'\n", s);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

static bool lg_parse_mode(const char *s, LgMode *mode)
{
    for (int i = 0; i < (int)(sizeof lg_mode_names / sizeof lg_mode_names[0]); i++) {
        if (strcmp(s, lg_mode_names[i]) == 0) {
            *mode = (LgMode)i;
            return true;
        }
    }
    fprintf(stderr, "pgpin_loadgen: unknown --mode '%s' (select, dbos, dbos-raw)\n", s);
    return false;
}

/* One option with its argument. Returns false on a bad value. */
static bool lg_parse_opt(LgOpts *o, int ch, const char *arg)
{
    double v = 0;
    switch (ch) {
    case 'c': o->conninfo = arg; return true;
    case 'r': o->report_path = arg; return true;
    case 'm': return lg_parse_mode(arg, &o->mode);
    case 'P': o->prepared = true; return true;
    case 'S': o->setup = true; return true;
    case 'x': o->strict = true; return true;
    case 'n':
        if (!lg_parse_num(arg, 1, LG_MAX_CLIENTS, &v)) return false;
        o->clients = (int)v;
        return true;
    case 's': return lg_parse_num(arg, 0, 86400, &o->seconds);
    case 'R': return lg_parse_num(arg, 0, 1e8, &o->rate);
    case 'X':
        if (!lg_parse_num(arg, 0, 1e15, &v)) return false;
        o->max_tx = (int64_t)v;
        return true;
    case 'k':
        if (!lg_parse_num(arg, 1, 100000, &v)) return false;
        o->scale = (int)v;
        return true;
    case 't':
        if (!lg_parse_num(arg, 1, 3600, &v)) return false;
        o->connect_timeout_s = (int)v;
        return true;
    case 'e': return lg_parse_seed(arg, &o->seed);
    default: return false;
    }
}

/* Parse argv into o. Returns 0 to run, 1 after --help, 2 on a usage error. */
static int lg_parse_args(int argc, char **argv, LgOpts *o)
{
    static const struct option longopts[] = {{"conninfo", required_argument, NULL, 'c'},
                                             {"clients", required_argument, NULL, 'n'},
                                             {"seconds", required_argument, NULL, 's'},
                                             {"mode", required_argument, NULL, 'm'},
                                             {"rate", required_argument, NULL, 'R'},
                                             {"report", required_argument, NULL, 'r'},
                                             {"max-tx", required_argument, NULL, 'X'},
                                             {"scale", required_argument, NULL, 'k'},
                                             {"prepared", no_argument, NULL, 'P'},
                                             {"setup", no_argument, NULL, 'S'},
                                             {"strict", no_argument, NULL, 'x'},
                                             {"seed", required_argument, NULL, 'e'},
                                             {"connect-timeout", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    *o = (LgOpts){.clients = 1,
                  .seconds = 10,
                  .scale = 1,
                  .connect_timeout_s = 10,
                  .seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32)};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (ch == 'h') {
            lg_usage(stdout);
            return 1;
        }
        if (!lg_parse_opt(o, ch, optarg)) goto fail;
    }
    if (optind != argc || o->conninfo == NULL) goto fail;
    if (o->prepared && o->mode == LG_MODE_DBOS_RAW) {
        fprintf(stderr, "pgpin_loadgen: --prepared does not apply to dbos-raw\n");
        goto fail;
    }
    if (o->seconds <= 0 && !o->setup) goto fail;
    return 0;
fail:
    lg_usage(stderr);
    return 2;
}

/* ---- main ---- */

static void lg_print_summary(const LgRun *run)
{
    const LgStats *t = &run->total;
    double el = (double)(run->end_us - run->t0_us) / 1e6;
    int64_t unstarted = 0;
    if (el <= 0) el = 1e-9;
    if (run->opt->rate > 0) {
        int64_t due = (int64_t)(el * run->opt->rate);
        if (run->opt->max_tx > 0 && due > run->opt->max_tx) due = run->opt->max_tx;
        unstarted = due > run->issued ? due - run->issued : 0;
    }
    printf("ok_tx=%" PRIu64 " err_tx=%" PRIu64 " tps=%.1f stmt_per_s=%.1f lat_avg_ms=%.3f "
           "lat_p50_ms=%.3f lat_p99_ms=%.3f lat_max_ms=%.3f mode=%s clients=%d rate=%g "
           "elapsed_s=%.3f abandoned_tx=%d unstarted_tx=%" PRId64 " dead_conns=%d notices=%" PRIu64
           "\n",
           t->ok_tx, t->err_tx, (double)t->ok_tx / el, (double)t->ok_stmt / el,
           lg_hist_avg_ms(&t->hist), lg_hist_quantile_ms(&t->hist, 0.50),
           lg_hist_quantile_ms(&t->hist, 0.99), (double)t->hist.max_us / 1000.0,
           lg_mode_names[run->opt->mode], run->opt->clients, run->opt->rate, el, run->busy,
           unstarted, run->dead_conns, run->notices);
    fflush(stdout);
}

static bool lg_run_init(LgRun *run, const LgOpts *opt)
{
    memset(run, 0, sizeof *run);
    run->opt = opt;
    run->rng = opt->seed;
    run->conns = calloc((size_t)opt->clients, sizeof *run->conns);
    run->pfds = calloc((size_t)opt->clients, sizeof *run->pfds);
    run->pfd_conn = calloc((size_t)opt->clients, sizeof *run->pfd_conn);
    if (!run->conns || !run->pfds || !run->pfd_conn) return false;
    if (opt->report_path) {
        run->report = fopen(opt->report_path, "w");
        if (run->report == NULL) {
            fprintf(stderr, "pgpin_loadgen: %s: %s\n", opt->report_path, strerror(errno));
            return false;
        }
        fprintf(run->report, "second,ok_tx,err_tx,stmts,lat_avg_ms,lat_p50_ms,lat_p99_ms\n");
    }
    return true;
}

static void lg_run_free(LgRun *run)
{
    for (int i = 0; run->conns && i < run->opt->clients; i++)
        PQfinish(run->conns[i].pg);
    if (run->report) fclose(run->report);
    free(run->conns);
    free(run->pfds);
    free(run->pfd_conn);
}

/* (Re)arm the SIGALRM watchdog: the process ends after `seconds` plus a grace period even if
 * a blocking libpq call (setup, prepare) or a bug keeps the loop from seeing its deadline. */
static void lg_arm_watchdog(double seconds)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = lg_watchdog_cb;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)seconds + 1 + LG_WATCHDOG_GRACE);
}

int main(int argc, char **argv)
{
    static LgRun run; /* holds two histograms; keep it off the stack */
    LgOpts opt;
    int rc = lg_parse_args(argc, argv, &opt);
    if (rc) return rc == 1 ? 0 : 2;

    /* setup: connect_timeout + statement_timeout; run: 2 connect phases + the run */
    lg_arm_watchdog(opt.connect_timeout_s + LG_SETUP_TIMEOUT_S);
    if (opt.setup && opt.mode != LG_MODE_SELECT && !lg_setup_tables(&opt)) return 2;
    if (opt.setup && opt.mode == LG_MODE_SELECT)
        fprintf(stderr, "pgpin_loadgen: --setup: select mode uses pgbench -i tables\n");
    if (opt.seconds <= 0) return 0;

    rc = 2;
    lg_arm_watchdog(2.0 * opt.connect_timeout_s + opt.seconds);
    if (!lg_run_init(&run, &opt) || !lg_connect_all(&run)) goto out;
    if (opt.prepared && !lg_prepare_all(&run)) goto out;
    for (int i = 0; i < opt.clients; i++)
        PQsetnonblocking(run.conns[i].pg, 1);

    run.t0_us = lg_now_us();
    run.deadline_us = run.t0_us + (int64_t)(opt.seconds * 1e6);
    run.next_report_us = run.t0_us + 1000000;
    lg_run_loop(&run);
    lg_print_summary(&run);
    rc = opt.strict && (run.total.err_tx > 0 || run.dead_conns > 0 || run.total.ok_tx == 0);
out:
    lg_run_free(&run);
    return rc;
}
