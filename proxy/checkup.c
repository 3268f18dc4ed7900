/* checkup.c - `pgpin check CONFIG` (see checkup.h). */
#include "checkup.h"

#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Longest connect_timeout check uses: server_connect_timeout, but a check should not hang. */
#define CHECKUP_CONNECT_MAX_SECS 15

#define NOTIFY_REASON                                                                              \
    "no notification within 3 s: something between pgpin and Postgres breaks LISTEN/NOTIFY, "      \
    "most likely a pooler in transaction mode"
#define NOTIFY_FIX "point this database at Postgres directly, or run the pooler in session mode"
#define CONNECT_FIX                                                                                \
    "check the entry's conninfo (host, port, dbname, user, password) and that the server is up "   \
    "and accepts connections from this host"

static double now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* libpq's messages span lines ("...failed: ...\n\tIs the server running..."): make one line. */
static void one_line(char *dst, size_t len, const char *src)
{
    size_t n = 0;
    bool blank = false;
    for (; *src && n + 1 < len; src++) {
        bool ws = *src == '\n' || *src == '\t' || *src == '\r' || *src == ' ';
        if (ws) {
            blank = n > 0;
            continue;
        }
        if (blank && n + 2 < len) dst[n++] = ' ';
        blank = false;
        dst[n++] = *src;
    }
    dst[n] = '\0';
}

static void note_add(CheckupRow *row, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_add(CheckupRow *row, const char *fmt, ...)
{
    size_t n = strlen(row->note);
    if (n > 0 && n + 2 < sizeof row->note) {
        memcpy(row->note + n, "; ", 3);
        n += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(row->note + n, sizeof row->note - n, fmt, ap);
    va_end(ap);
}

void checkup_fail(CheckupRow *row, const char *reason, const char *fix)
{
    row->result = CHECKUP_FAIL;
    if (row->nfails == CHECKUP_MAX_FAILS) return;
    CheckupFailure *f = &row->fails[row->nfails++];
    one_line(f->reason, sizeof f->reason, reason);
    snprintf(f->fix, sizeof f->fix, "%s", fix);
}

void checkup_warn(CheckupRow *row, const char *text)
{
    if (row->result == CHECKUP_OK) row->result = CHECKUP_WARN;
    note_add(row, "%s", text);
}

bool checkup_skips(const CfgDatabase *db)
{
    return strcmp(db->name, "*") == 0 && !(db->has_user && db->has_dbname);
}

/* Wait until c's socket is readable or the deadline passes: 1 readable, 0 timeout, -1 error. */
static int wait_readable(PGconn *c, double deadline)
{
    struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
    for (;;) {
        double left = deadline - now_secs();
        if (left <= 0) return 0;
        int r = poll(&p, 1, (int)ceil(left * 1000));
        if (r > 0) return 1;
        if (r == 0) continue; /* poll may wake a little early: the deadline decides */
        if (errno != EINTR) return -1;
    }
}

/* Run one statement on c with a bounded wait. Returns its result (caller clears) when it is
 * TUPLES_OK or COMMAND_OK, else NULL with the reason in err. On a timeout c is left busy: the
 * caller closes it. */
static PGresult *exec_bounded(PGconn *c, const char *sql, int nparams, const char *const *params,
                              char *err, size_t errlen)
{
    double deadline = now_secs() + CHECKUP_QUERY_SECS;
    PGresult *res = NULL;
    if (!PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0)) goto conn_fail;
    for (;;) {
        while (!PQisBusy(c)) {
            PGresult *r = PQgetResult(c);
            if (!r) goto done;
            if (res) PQclear(res);
            res = r;
        }
        int w = wait_readable(c, deadline);
        if (w == 0) {
            snprintf(err, errlen, "no answer within %d s", CHECKUP_QUERY_SECS);
            goto fail;
        }
        if (w < 0 || !PQconsumeInput(c)) goto conn_fail;
    }
done:
    if (res && (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK))
        return res;
    one_line(err, errlen, res ? PQresultErrorMessage(res) : "no result");
    goto fail;
conn_fail:
    one_line(err, errlen, PQerrorMessage(c));
fail:
    if (res) PQclear(res);
    return NULL;
}

/* A connection as pgpin's server connections are opened (server_open): the entry's conninfo
 * expanded, then the login check stands in for the client's. Blocking, connect_timeout-bound. */
static PGconn *checkup_connect(const Config *cfg, const CfgDatabase *db, char *err, size_t errlen)
{
    const char *keys[5], *vals[5];
    char timeout[16];
    int n = 0, secs = (int)ceil(cfg->server_connect_timeout);
    if (secs < 1 || secs > CHECKUP_CONNECT_MAX_SECS) secs = CHECKUP_CONNECT_MAX_SECS;
    snprintf(timeout, sizeof timeout, "%d", secs);
    keys[n] = "dbname", vals[n++] = db->conninfo;
    if (!db->has_dbname) keys[n] = "dbname", vals[n++] = db->name;
    keys[n] = "application_name", vals[n++] = "pgpin-check";
    keys[n] = "connect_timeout", vals[n++] = timeout;
    keys[n] = NULL, vals[n] = NULL;
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c && PQstatus(c) == CONNECTION_OK) return c;
    one_line(err, errlen, c ? PQerrorMessage(c) : "out of memory");
    PQfinish(c);
    return NULL;
}

/* The budget as pgpin reads it, on the listening connection before it listens and before the
 * notifying one exists: the reading connection is the only one of check's and is excluded as
 * budget_parse always excludes its own. */
static void checkup_budget(const Config *cfg, PGconn *c, CheckupRow *row)
{
    static const char *const sql[3] = {BUDGET_SQL_SETTINGS, BUDGET_SQL_BACKENDS, BUDGET_SQL_ROLES};
    PGresult *res[3] = {NULL, NULL, NULL};
    char err[400], why[768];
    for (int i = 0; i < 3; i++) {
        if ((res[i] = exec_bounded(c, sql[i], 0, NULL, err, sizeof err)) != NULL) continue;
        snprintf(why, sizeof why, "cannot read the connection budget: %s", err);
        checkup_fail(row, why,
                     "let the login role read pg_settings, pg_stat_activity and pg_roles");
        goto out;
    }
    if (!budget_parse(res[0], res[1], res[2], NULL, 0, PQuser(c), cfg->reserve_headroom_pct,
                      cfg->reserve_headroom_abs, &row->facts, err, sizeof err)) {
        snprintf(why, sizeof why, "cannot read the connection budget: %s", err);
        checkup_fail(row, why, "report this: the server answered in a shape pgpin does not know");
        goto out;
    }
    row->have_facts = true;
    const BudgetFacts *f = &row->facts;
    if (f->role_limit >= 0)
        note_add(row, "role %s: rolconnlimit %d, %d used by others", PQuser(c), f->role_limit,
                 f->role_others);
    if (f->budget == 0) {
        snprintf(why, sizeof why,
                 "connection budget 0: max_connections %d - reserved %d - others %d - headroom %d"
                 "%s leaves pgpin no server connection",
                 f->max_connections, f->superuser_reserved + f->reserved, f->others, f->headroom,
                 f->role_limit >= 0 ? " (or the role's rolconnlimit)" : "");
        checkup_fail(row, why,
                     "raise max_connections (or the role's rolconnlimit), lower reserve_headroom, "
                     "or close other clients' connections");
    } else if (f->budget < 5) {
        snprintf(why, sizeof why, "budget %d is below 5, DBOS's minimum pool", f->budget);
        checkup_warn(row, why);
    }
out:
    for (int i = 0; i < 3; i++)
        if (res[i]) PQclear(res[i]);
}

/* A channel name and payload nobody else uses. */
static void random_hex(char *buf, size_t len)
{
    unsigned char raw[8];
    if (getentropy(raw, sizeof raw) != 0) {
        unsigned long x = (unsigned long)getpid() ^ (unsigned long)time(NULL) ^ (unsigned long)buf;
        memcpy(raw, &x, sizeof raw < sizeof x ? sizeof raw : sizeof x);
    }
    for (size_t i = 0; i < sizeof raw && 2 * i + 2 < len; i++)
        snprintf(buf + 2 * i, 3, "%02x", raw[i]);
}

/* Wait on a's socket for the notification, sending nothing on a: through a transaction-mode
 * pooler, a query of a's own could run on the server connection that listens and receive it
 * there, a false pass. True when it arrived; else false with the reason in err. */
static bool notify_wait(PGconn *a, const char *channel, const char *payload, char *err,
                        size_t errlen)
{
    double deadline = now_secs() + CHECKUP_NOTIFY_SECS;
    for (;;) {
        if (!PQconsumeInput(a)) {
            char msg[300];
            one_line(msg, sizeof msg, PQerrorMessage(a));
            snprintf(err, errlen, "the listening connection failed while waiting: %s", msg);
            return false;
        }
        bool got = false;
        for (PGnotify *n; (n = PQnotifies(a)) != NULL; PQfreemem(n))
            got |= strcmp(n->relname, channel) == 0 && strcmp(n->extra, payload) == 0;
        if (got) return true;
        int w = wait_readable(a, deadline);
        if (w == 0) {
            snprintf(err, errlen, "%s", NOTIFY_REASON);
            return false;
        }
        if (w < 0) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return false;
        }
    }
}

/* LISTEN on a, pg_notify from a second connection b opened the same way, a must hear it. */
static void checkup_notify(const Config *cfg, const CfgDatabase *db, PGconn *a, CheckupRow *row)
{
    char channel[40], payload[24], listen[64], err[400], why[768];
    const char *fix = NOTIFY_FIX;
    PGconn *b = NULL;
    PGresult *r;
    snprintf(channel, sizeof channel, "pgpin_check_");
    random_hex(channel + strlen(channel), sizeof channel - strlen(channel));
    random_hex(payload, sizeof payload);
    snprintf(listen, sizeof listen, "LISTEN %s", channel);
    row->notify = 0;
    if (!(r = exec_bounded(a, listen, 0, NULL, err, sizeof err))) {
        snprintf(why, sizeof why, "LISTEN failed: %s", err);
        goto fail;
    }
    PQclear(r);
    if (!(b = checkup_connect(cfg, db, err, sizeof err))) {
        snprintf(why, sizeof why, "cannot open a second connection for NOTIFY: %s", err);
        fix = CONNECT_FIX;
        goto fail;
    }
    const char *params[2] = {channel, payload};
    if (!(r = exec_bounded(b, "SELECT pg_notify($1, $2)", 2, params, err, sizeof err))) {
        snprintf(why, sizeof why, "NOTIFY failed: %s", err);
        goto fail;
    }
    PQclear(r);
    if (!notify_wait(a, channel, payload, err, sizeof err)) {
        snprintf(why, sizeof why, "LISTEN/NOTIFY: %s", err);
        goto fail;
    }
    row->notify = 1;
    PQfinish(b);
    return;
fail:
    checkup_fail(row, why, fix);
    PQfinish(b);
}

void checkup_entry(const Config *cfg, const CfgDatabase *db, CheckupRow *row)
{
    char err[400], why[768];
    memset(row, 0, sizeof *row);
    snprintf(row->name, sizeof row->name, "%s", db->name);
    char *key = budget_server_key(db->conninfo);
    snprintf(row->server, sizeof row->server, "%s", key ? key : "?");
    free(key);
    row->pool_size = db->pool_size;
    row->notify = -1;
    if (checkup_skips(db)) {
        row->result = CHECKUP_SKIPPED;
        note_add(row, "fallback entry: clients name the database and user; add dbname= and "
                      "user= to check it");
        return;
    }
    if (db->pool_size < 5) {
        snprintf(why, sizeof why, "pool_size %d is below 5, DBOS's minimum pool", db->pool_size);
        checkup_warn(row, why);
    }
    PGconn *a = checkup_connect(cfg, db, err, sizeof err);
    if (!a) {
        snprintf(why, sizeof why, "cannot connect: %s", err);
        checkup_fail(row, why, CONNECT_FIX);
        note_add(row, "see below");
        return;
    }
    if (!db->has_user) note_add(row, "user %s: libpq's default, no user= in the entry", PQuser(a));
    if (!db->has_dbname) note_add(row, "dbname %s: the entry's name", PQdb(a));
    checkup_budget(cfg, a, row);
    if (!row->have_facts) {
        const char *v = PQparameterStatus(a, "server_version");
        snprintf(row->facts.version, sizeof row->facts.version, "%s", v ? v : "");
    }
    /* A broken connection cannot say anything about LISTEN/NOTIFY: report the first error. */
    if (PQstatus(a) == CONNECTION_OK && PQtransactionStatus(a) == PQTRANS_IDLE)
        checkup_notify(cfg, db, a, row);
    PQfinish(a);
    if (row->result == CHECKUP_FAIL) note_add(row, "see below");
}

/* ---- The table ---- */

enum {
    COL_NAME,
    COL_SERVER,
    COL_RESULT,
    COL_VERSION,
    COL_MAX,
    COL_RESERVED,
    COL_OTHERS,
    COL_HEADROOM,
    COL_BUDGET,
    COL_POOL,
    COL_NOTIFY,
    COL_NOTE,
    NCOLS
};

static const char *const col_names[NCOLS] = {"database", "server",    "result",        "version",
                                             "max",      "reserved",  "others",        "headroom",
                                             "budget",   "pool_size", "listen/notify", "note"};

static const char *result_text(CheckupResult r)
{
    switch (r) {
    case CHECKUP_OK: return "ok";
    case CHECKUP_WARN: return "warn";
    case CHECKUP_FAIL: return "FAIL";
    case CHECKUP_SKIPPED: return "skipped";
    default: abort();
    }
}

/* The text of one cell into buf (len >= 64); numbers only when the budget was read. */
static const char *cell(const CheckupRow *r, int col, char *buf, size_t len)
{
    const BudgetFacts *f = &r->facts;
    int num = -1;
    switch (col) {
    case COL_NAME: return r->name;
    case COL_SERVER: return r->server;
    case COL_RESULT: return result_text(r->result);
    case COL_VERSION:
        /* "15.14 (Debian 15.14-1.pgdg120+1)": the number is enough here. */
        snprintf(buf, len, "%.*s", (int)strcspn(f->version, " "), f->version);
        return buf[0] ? buf : "-";
    case COL_MAX: num = f->max_connections; break;
    case COL_RESERVED: num = f->superuser_reserved + f->reserved; break;
    case COL_OTHERS: num = f->others; break;
    case COL_HEADROOM: num = f->headroom; break;
    case COL_BUDGET: num = f->budget; break;
    case COL_POOL:
        if (r->result == CHECKUP_SKIPPED) return "-";
        snprintf(buf, len, "%d", r->pool_size);
        return buf;
    case COL_NOTIFY: return r->notify < 0 ? "-" : r->notify ? "ok" : "FAIL";
    case COL_NOTE: return r->note[0] ? r->note : "-";
    default: abort();
    }
    if (!r->have_facts) return "-";
    snprintf(buf, len, "%d", num);
    return buf;
}

void checkup_print(const CheckupRow *rows, int n, FILE *out)
{
    int width[NCOLS];
    char buf[64];
    for (int c = 0; c < NCOLS; c++) {
        width[c] = (int)strlen(col_names[c]);
        for (int i = 0; i < n; i++) {
            int w = (int)strlen(cell(&rows[i], c, buf, sizeof buf));
            if (w > width[c]) width[c] = w;
        }
    }
    for (int i = -1; i < n; i++) {
        for (int c = 0; c < NCOLS; c++) {
            const char *s = i < 0 ? col_names[c] : cell(&rows[i], c, buf, sizeof buf);
            if (c == NCOLS - 1)
                fprintf(out, "%s\n", s);
            else
                fprintf(out, "%-*s  ", width[c], s);
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < rows[i].nfails; j++)
            fprintf(out, "FAIL %s (%s): %s; fix: %s\n", rows[i].name, rows[i].server,
                    rows[i].fails[j].reason, rows[i].fails[j].fix);
}

/* A sharded database commits across shards with PREPARE TRANSACTION: each shard needs
 * max_prepared_transactions > 0 (DESIGN.md section 7). */
static void checkup_prepared(const Config *cfg, const CfgDatabase *db, CheckupRow *row)
{
    char err[400], why[768];
    PGconn *c = checkup_connect(cfg, db, err, sizeof err);
    PGresult *r =
        c ? exec_bounded(c, "SHOW max_prepared_transactions", 0, NULL, err, sizeof err) : NULL;
    if (r && PQntuples(r) == 1 && atoi(PQgetvalue(r, 0, 0)) == 0) {
        snprintf(why, sizeof why,
                 "max_prepared_transactions = 0: a transaction that writes on two shards "
                 "commits with PREPARE TRANSACTION");
        checkup_fail(row, why,
                     "set max_prepared_transactions at least to pool_size on this server, and "
                     "restart it");
    }
    if (r) PQclear(r);
    PQfinish(c);
}

/* A sharded database is checked shard by shard: one row "database/shard" each, with the
 * shard's conninfo and the database's pool settings. */
static void checkup_shard(const Config *cfg, const CfgDatabase *db, int i, CheckupRow *row)
{
    const CfgShard *sh = &cfg->shards[db->shards[i]];
    CfgDatabase one = *db;
    one.conninfo = sh->conninfo;
    one.has_user = sh->has_user;
    one.has_dbname = sh->has_dbname;
    one.nshards = 0;
    checkup_entry(cfg, &one, row);
    snprintf(row->name, sizeof row->name, "%s/%s", db->name, sh->name);
    if (row->result != CHECKUP_FAIL && db->nshards > 1) checkup_prepared(cfg, &one, row);
}

int checkup_run(const Config *cfg, FILE *out)
{
    int checked = 0, failed = 0, n = 0;
    for (int i = 0; i < cfg->ndbs; i++)
        n += cfg->dbs[i].nshards ? cfg->dbs[i].nshards : 1;
    CheckupRow *rows = calloc(n > 0 ? (size_t)n : 1, sizeof *rows);
    if (!rows) {
        fprintf(out, "pgpin check: out of memory\n");
        return CHECKUP_EXIT_FAIL;
    }
    n = 0;
    for (int i = 0; i < cfg->ndbs; i++) {
        const CfgDatabase *db = &cfg->dbs[i];
        for (int s = 0; s < (db->nshards ? db->nshards : 1); s++, n++) {
            if (db->nshards)
                checkup_shard(cfg, db, s, &rows[n]);
            else
                checkup_entry(cfg, db, &rows[n]);
            checked += rows[n].result != CHECKUP_SKIPPED;
            failed += rows[n].result == CHECKUP_FAIL;
        }
    }
    if (n > 0) checkup_print(rows, n, out);
    free(rows);
    char why[512];
    if (cfg_sharding_unsupported(cfg, why, sizeof why)) fprintf(out, "NOTE %s\n", why);
    if (checked == 0) {
        fprintf(out, "pgpin check: %s has no [databases] entry to check\n", cfg->path);
        return CHECKUP_EXIT_USAGE;
    }
    return failed ? CHECKUP_EXIT_FAIL : CHECKUP_EXIT_OK;
}
