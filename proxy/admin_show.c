/* admin_show.c - result sets of the SHOW commands (see admin_show.h). Times are seconds;
 * timestamps are UTC text. */
#include "admin_show.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Type OIDs of the columns (text format throughout). */
#define T_TEXT 25u
#define T_INT8 20u
#define T_BOOL 16u
#define T_NUM  1700u

#define ROW_MAX 32

typedef struct Col {
    const char *name;
    uint32_t type;
} Col;

/* One DataRow being filled: cells point at caller strings or at buf. */
typedef struct Row {
    int n;
    const char *cell[ROW_MAX];
    char buf[ROW_MAX][48];
} Row;

static void head(WireBuf *b, const Col *cols, int n)
{
    const char *names[ROW_MAX];
    uint32_t types[ROW_MAX];
    for (int i = 0; i < n && i < ROW_MAX; i++)
        names[i] = cols[i].name, types[i] = cols[i].type;
    wire_build_row_description(b, n, names, types);
}

static void c_text(Row *r, const char *s)
{
    r->cell[r->n++] = s;
}

static void c_int(Row *r, long long v)
{
    snprintf(r->buf[r->n], sizeof r->buf[0], "%lld", v);
    r->cell[r->n] = r->buf[r->n];
    r->n++;
}

static void c_num(Row *r, double v)
{
    snprintf(r->buf[r->n], sizeof r->buf[0], "%.6f", v);
    r->cell[r->n] = r->buf[r->n];
    r->n++;
}

static void c_bool(Row *r, bool v)
{
    c_text(r, v ? "t" : "f");
}

/* A wall-clock time as "YYYY-MM-DD HH:MM:SS+00". */
static void c_time(Row *r, double wall)
{
    time_t t = (time_t)wall;
    struct tm tm;
    if (!gmtime_r(&t, &tm) ||
        strftime(r->buf[r->n], sizeof r->buf[0], "%Y-%m-%d %H:%M:%S+00", &tm) == 0) {
        c_text(r, NULL);
        return;
    }
    r->cell[r->n] = r->buf[r->n];
    r->n++;
}

static void row_end(WireBuf *b, Row *r)
{
    wire_build_data_row(b, r->n, r->cell);
    r->n = 0;
}

/* ---- From a snapshot ---- */

static void show_pools(WireBuf *b, const Snapshot *s)
{
    static const Col cols[] = {
        {"database", T_TEXT},     {"user", T_TEXT},          {"pool_mode", T_TEXT},
        {"paused", T_BOOL},       {"pool_size", T_INT8},     {"cl_active", T_INT8},
        {"cl_waiting", T_INT8},   {"cl_held", T_INT8},       {"sv_active", T_INT8},
        {"sv_idle", T_INT8},      {"sv_connecting", T_INT8}, {"sv_syncing", T_INT8},
        {"sv_resetting", T_INT8}, {"maxwait", T_NUM},
    };
    int n;
    SnapPool *p = snapshot_pools(s, &n);
    Row r = {0};
    head(b, cols, sizeof cols / sizeof cols[0]);
    for (int i = 0; i < n; i++) {
        c_text(&r, p[i].dbname), c_text(&r, p[i].user), c_text(&r, p[i].mode);
        c_bool(&r, p[i].paused), c_int(&r, p[i].size);
        c_int(&r, p[i].cl_active), c_int(&r, p[i].cl_waiting), c_int(&r, p[i].cl_held);
        c_int(&r, p[i].sv_active), c_int(&r, p[i].sv_idle), c_int(&r, p[i].sv_connecting);
        c_int(&r, p[i].sv_syncing), c_int(&r, p[i].sv_resetting), c_num(&r, p[i].max_wait);
        row_end(b, &r);
    }
    free(p);
}

static void show_stats(WireBuf *b, const Snapshot *s)
{
    static const Col cols[] = {
        {"database", T_TEXT},          {"user", T_TEXT},           {"total_xact_count", T_INT8},
        {"total_query_count", T_INT8}, {"total_received", T_INT8}, {"total_sent", T_INT8},
        {"total_query_time", T_NUM},   {"avg_query_time", T_NUM},  {"total_wait_count", T_INT8},
        {"total_wait_time", T_NUM},    {"avg_wait_time", T_NUM},   {"total_errors", T_INT8},
    };
    int n;
    SnapPool *p = snapshot_pools(s, &n);
    Row r = {0};
    head(b, cols, sizeof cols / sizeof cols[0]);
    for (int i = 0; i < n; i++) {
        const PoolStats *st = &p[i].stats;
        double q = (double)st->query_us / 1e6, w = (double)st->wait_us / 1e6;
        c_text(&r, p[i].dbname), c_text(&r, p[i].user);
        c_int(&r, (long long)st->xacts), c_int(&r, (long long)st->queries);
        c_int(&r, (long long)st->bytes_in), c_int(&r, (long long)st->bytes_out);
        c_num(&r, q), c_num(&r, st->queries ? q / (double)st->queries : 0);
        c_int(&r, (long long)st->waits), c_num(&r, w);
        c_num(&r, st->waits ? w / (double)st->waits : 0), c_int(&r, (long long)st->errors);
        row_end(b, &r);
    }
    free(p);
}

static void show_clients(WireBuf *b, const Snapshot *s)
{
    static const Col cols[] = {
        {"id", T_TEXT},    {"worker", T_INT8}, {"user", T_TEXT},   {"database", T_TEXT},
        {"state", T_TEXT}, {"addr", T_TEXT},   {"port", T_INT8},   {"connect_time", T_TEXT},
        {"wait", T_NUM},   {"server", T_TEXT}, {"pinned", T_TEXT}, {"application_name", T_TEXT},
        {"tls", T_BOOL},
    };
    Row r = {0};
    head(b, cols, sizeof cols / sizeof cols[0]);
    for (int w = 0; w < s->nparts; w++) {
        for (int i = 0; i < s->parts[w].nclients; i++) {
            const SnapClient *c = &s->parts[w].clients[i];
            c_text(&r, c->tag), c_int(&r, c->worker), c_text(&r, c->user);
            c_text(&r, c->dbname), c_text(&r, c->state), c_text(&r, c->addr[0] ? c->addr : NULL);
            if (c->addr[0])
                c_int(&r, c->port);
            else
                c_text(&r, NULL);
            c_time(&r, c->connect_time), c_num(&r, c->wait);
            c_text(&r, c->server[0] ? c->server : NULL), c_text(&r, c->pinned);
            c_text(&r, c->app), c_bool(&r, c->tls);
            row_end(b, &r);
        }
    }
}

static void show_servers(WireBuf *b, const Snapshot *s)
{
    static const Col cols[] = {
        {"id", T_TEXT},           {"worker", T_INT8}, {"database", T_TEXT},    {"user", T_TEXT},
        {"state", T_TEXT},        {"server", T_TEXT}, {"backend_pid", T_INT8}, {"client", T_TEXT},
        {"connect_time", T_TEXT}, {"tls", T_BOOL},
    };
    Row r = {0};
    head(b, cols, sizeof cols / sizeof cols[0]);
    for (int w = 0; w < s->nparts; w++) {
        for (int i = 0; i < s->parts[w].nservers; i++) {
            const SnapServer *v = &s->parts[w].servers[i];
            c_text(&r, v->tag), c_int(&r, v->worker), c_text(&r, v->dbname);
            c_text(&r, v->user), c_text(&r, v->state), c_text(&r, v->server);
            if (v->backend_pid)
                c_int(&r, v->backend_pid);
            else
                c_text(&r, NULL);
            c_text(&r, v->client[0] ? v->client : NULL), c_time(&r, v->connect_time);
            c_bool(&r, v->tls);
            row_end(b, &r);
        }
    }
}

static const char *budget_state_name(BudgetState st)
{
    switch (st) {
    case BUDGET_NEW: return "reading";
    case BUDGET_OK: return "ok";
    case BUDGET_UNKNOWN: return "unknown";
    }
    return "?";
}

static void show_limits(WireBuf *b, const Snapshot *s)
{
    static const Col cols[] = {
        {"server", T_TEXT},         {"state", T_TEXT},           {"max_connections", T_INT8},
        {"reserved", T_INT8},       {"others", T_INT8},          {"headroom", T_INT8},
        {"budget", T_INT8},         {"grant", T_INT8},           {"in_use", T_INT8},
        {"waiting", T_INT8},        {"starved_pools", T_INT8},   {"age", T_NUM},
        {"warning", T_TEXT},        {"error", T_TEXT},           {"write_rate", T_NUM},
        {"write_burst", T_INT8},    {"writes_admitted", T_INT8}, {"writes_delayed", T_INT8},
        {"writes_waiting", T_INT8}, {"avg_write_delay", T_NUM},  {"writes_canceled", T_INT8},
        {"writes_expired", T_INT8},
    };
    int n;
    SnapPool *p = snapshot_pools(s, &n);
    Row r = {0};
    head(b, cols, sizeof cols / sizeof cols[0]);
    for (int i = 0; i < s->nbudgets; i++) {
        const BudgetInfo *li = &s->budgets[i].info;
        const BudgetFacts *f = &li->facts;
        long long waiting = 0;
        for (int j = 0; j < n; j++)
            if (p[j].budget == s->budgets[i].budget) waiting += p[j].cl_waiting;
        c_text(&r, li->key), c_text(&r, budget_state_name(li->state));
        if (li->age >= 0) { /* read at least once */
            c_int(&r, f->max_connections), c_int(&r, f->superuser_reserved + f->reserved);
            c_int(&r, f->others), c_int(&r, f->headroom), c_int(&r, f->budget);
        } else {
            for (int k = 0; k < 5; k++)
                c_text(&r, NULL);
        }
        c_int(&r, li->grant), c_int(&r, li->inuse), c_int(&r, waiting);
        c_int(&r, li->nstarved);
        if (li->age >= 0)
            c_num(&r, li->age);
        else
            c_text(&r, NULL);
        c_text(&r, li->warning[0] ? li->warning : NULL),
            c_text(&r, li->error[0] ? li->error : NULL);
        c_num(&r, li->write_rate), c_int(&r, li->write_burst);
        c_int(&r, (long long)li->writes_admitted), c_int(&r, (long long)li->writes_delayed);
        c_int(&r, li->writes_waiting);
        c_num(&r, li->writes_delayed ? (double)li->write_delay_us / 1e6 / li->writes_delayed : 0);
        c_int(&r, (long long)li->writes_canceled), c_int(&r, (long long)li->writes_expired);
        row_end(b, &r);
    }
    free(p);
}

void admin_show_snapshot(WireBuf *b, AdminCmdKind kind, const Snapshot *s)
{
    bool oom = false;
    for (int i = 0; i < s->nparts; i++)
        oom = oom || s->parts[i].oom;
    if (oom) wire_build_notice(b, "01000", "out of memory: the result is incomplete");
    switch (kind) {
    case ADMIN_SHOW_POOLS: show_pools(b, s); break;
    case ADMIN_SHOW_STATS: show_stats(b, s); break;
    case ADMIN_SHOW_CLIENTS: show_clients(b, s); break;
    case ADMIN_SHOW_SERVERS: show_servers(b, s); break;
    case ADMIN_SHOW_LIMITS: show_limits(b, s); break;
    default: break;
    }
}

/* ---- Without a snapshot ---- */

static void show_config(WireBuf *b, const Config *cfg)
{
    static const Col cols[] = {{"key", T_TEXT}, {"value", T_TEXT}};
    char *dump = cfg_dump(cfg), *save = NULL;
    Row r = {0};
    head(b, cols, 2);
    for (char *line = dump ? strtok_r(dump, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strstr(line, " = ");
        if (!eq) continue;
        *eq = '\0';
        c_text(&r, line), c_text(&r, eq + 3);
        row_end(b, &r);
    }
    free(dump);
}

static void show_help(WireBuf *b)
{
    static const Col cols[] = {{"command", T_TEXT}, {"description", T_TEXT}};
    static const char *const help[][2] = {
        {"SHOW POOLS", "pools per database and user: clients and servers by state, longest wait"},
        {"SHOW CLIENTS", "every client connection"},
        {"SHOW SERVERS", "every server connection"},
        {"SHOW STATS", "per pool: transactions, queries, bytes, query and wait times, errors"},
        {"SHOW LIMITS", "per Postgres server: max_connections, reserved, others, pgpin's budget"},
        {"SHOW CONFIG", "the running [pgpin] settings"},
        {"SHOW VERSION", "pgpin's version"},
        {"SHOW HELP", "this list"},
        {"RELOAD", "reload the configuration file, as SIGHUP (answers once it is applied)"},
        {"PAUSE [db]", "hold new queries at each client's next transaction boundary"},
        {"RESUME [db]", "release what PAUSE holds"},
        {"SHUTDOWN", "stop now, as SIGINT"},
        {"SHUTDOWN WAIT_FOR_CLIENTS", "stop once clients finish their transactions, as SIGTERM"},
    };
    head(b, cols, 2);
    for (size_t i = 0; i < sizeof help / sizeof help[0]; i++)
        wire_build_data_row(b, 2, help[i]);
}

void admin_show_local(WireBuf *b, AdminCmdKind kind, const Config *cfg)
{
    static const Col version_col[] = {{"version", T_TEXT}};
    static const char *const version[] = {"pgpin " PGPIN_VERSION};
    switch (kind) {
    case ADMIN_SHOW_CONFIG: show_config(b, cfg); break;
    case ADMIN_SHOW_HELP: show_help(b); break;
    case ADMIN_SHOW_VERSION:
        head(b, version_col, 1);
        wire_build_data_row(b, 1, version);
        break;
    default: break;
    }
}
