/* metrics.c - Prometheus /metrics on worker 0's loop (see metrics.h).
 *
 * Byte counters are from the proxy's client side: pgpin_received_bytes_total is what clients
 * sent (relayed to their servers), pgpin_sent_bytes_total what clients were sent. */
#include "metrics.h"

#include "log.h"

#include <event2/http.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct Metrics {
    Proxy *w;
    struct evhttp *http;
};

/* ---- Rendering ---- */

void metrics_escape_label(struct evbuffer *out, const char *value)
{
    for (const char *p = value ? value : ""; *p; p++) {
        if (*p == '\\')
            evbuffer_add(out, "\\\\", 2);
        else if (*p == '"')
            evbuffer_add(out, "\\\"", 2);
        else if (*p == '\n')
            evbuffer_add(out, "\\n", 2);
        else
            evbuffer_add(out, p, 1);
    }
}

static void family(struct evbuffer *o, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `name{db="..",user=".."[,key="value"]} ` of pool p; the caller adds the value. */
static void pool_series(struct evbuffer *o, const char *name, const SnapPool *p, const char *key,
                        const char *value)
{
    evbuffer_add_printf(o, "%s{db=\"", name);
    metrics_escape_label(o, p->dbname);
    evbuffer_add_printf(o, "\",user=\"");
    metrics_escape_label(o, p->user);
    if (key) {
        evbuffer_add_printf(o, "\",%s=\"", key);
        metrics_escape_label(o, value);
    }
    evbuffer_add(o, "\"} ", 3);
}

static void clients(struct evbuffer *o, const Snapshot *s)
{
    long long n[6] = {0};
    static const char *const states[6] = {"login", "waiting", "active", "held", "admin", "idle"};
    for (int i = 0; i < s->nparts; i++) {
        const SnapPart *p = &s->parts[i];
        n[0] += p->cl_login, n[1] += p->cl_waiting, n[2] += p->cl_active;
        n[3] += p->cl_held, n[4] += p->cl_admin, n[5] += p->cl_idle;
    }
    family(o, "pgpin_clients", "gauge",
           "Client connections by state (held: stopped at a transaction boundary by PAUSE).");
    for (int i = 0; i < 6; i++)
        evbuffer_add_printf(o, "pgpin_clients{state=\"%s\"} %lld\n", states[i], n[i]);
}

/* A gauge or counter with one integer sample per pool. */
typedef long long (*PoolValueFn)(const SnapPool *p);
static void per_pool(struct evbuffer *o, const SnapPool *p, int n, const char *name,
                     const char *type, const char *help, PoolValueFn fn)
{
    family(o, name, type, help);
    for (int i = 0; i < n; i++) {
        pool_series(o, name, &p[i], NULL, NULL);
        evbuffer_add_printf(o, "%lld\n", fn(&p[i]));
    }
}

static long long v_size(const SnapPool *p)
{
    return p->size;
}
static long long v_paused(const SnapPool *p)
{
    return p->paused;
}
static long long v_waiting(const SnapPool *p)
{
    return p->cl_waiting;
}
static long long v_queries(const SnapPool *p)
{
    return (long long)p->stats.queries;
}
static long long v_xacts(const SnapPool *p)
{
    return (long long)p->stats.xacts;
}
static long long v_bytes_in(const SnapPool *p)
{
    return (long long)p->stats.bytes_in;
}
static long long v_bytes_out(const SnapPool *p)
{
    return (long long)p->stats.bytes_out;
}

static void pools_gauges(struct evbuffer *o, const SnapPool *p, int n)
{
    per_pool(o, p, n, "pgpin_pool_size", "gauge", "Server connections a pool may open.", v_size);
    per_pool(o, p, n, "pgpin_pool_paused", "gauge", "1 while PAUSE holds the pool.", v_paused);
    per_pool(o, p, n, "pgpin_waiting_clients", "gauge", "Clients waiting for a server.", v_waiting);
    family(o, "pgpin_max_wait_seconds", "gauge", "How long the oldest waiting client has waited.");
    for (int i = 0; i < n; i++) {
        pool_series(o, "pgpin_max_wait_seconds", &p[i], NULL, NULL);
        evbuffer_add_printf(o, "%.6f\n", p[i].max_wait);
    }
    family(o, "pgpin_server_connections", "gauge", "Server connections by state.");
    for (int i = 0; i < n; i++) {
        const char *st[] = {"active", "idle", "connecting", "syncing", "resetting"};
        int v[] = {p[i].sv_active, p[i].sv_idle, p[i].sv_connecting, p[i].sv_syncing,
                   p[i].sv_resetting};
        for (int k = 0; k < 5; k++) {
            pool_series(o, "pgpin_server_connections", &p[i], "state", st[k]);
            evbuffer_add_printf(o, "%d\n", v[k]);
        }
    }
}

static void pools_counters(struct evbuffer *o, const SnapPool *p, int n)
{
    per_pool(o, p, n, "pgpin_queries_total", "counter",
             "Requests relayed (Query, Sync, FunctionCall).", v_queries);
    per_pool(o, p, n, "pgpin_transactions_total", "counter",
             "Transactions (and autocommit statements) completed.", v_xacts);
    per_pool(o, p, n, "pgpin_received_bytes_total", "counter",
             "Bytes received from clients and relayed to servers.", v_bytes_in);
    per_pool(o, p, n, "pgpin_sent_bytes_total", "counter",
             "Bytes relayed from servers and sent to clients.", v_bytes_out);
    family(o, "pgpin_query_seconds_total", "counter",
           "Time from each request to its ReadyForQuery, summed.");
    for (int i = 0; i < n; i++) {
        pool_series(o, "pgpin_query_seconds_total", &p[i], NULL, NULL);
        evbuffer_add_printf(o, "%.6f\n", (double)p[i].stats.query_us / 1e6);
    }
    family(o, "pgpin_errors_total", "counter",
           "ErrorResponses clients received, by SQLSTATE class (non-zero classes only).");
    for (int i = 0; i < n; i++) {
        for (int slot = 0; slot < STATS_ERROR_CLASSES; slot++) {
            char cls[3];
            if (!p[i].stats.error_class[slot]) continue;
            stats_error_class(slot, cls);
            pool_series(o, "pgpin_errors_total", &p[i], "class", cls);
            evbuffer_add_printf(o, "%llu\n", (unsigned long long)p[i].stats.error_class[slot]);
        }
    }
}

static void wait_histogram(struct evbuffer *o, const SnapPool *p, int n)
{
    family(o, "pgpin_wait_seconds", "histogram", "Time clients waited for a server connection.");
    for (int i = 0; i < n; i++) {
        const PoolStats *st = &p[i].stats;
        unsigned long long cum = 0;
        char le[32];
        for (int b = 0; b <= STATS_WAIT_BUCKETS; b++) {
            cum += st->wait_hist[b];
            if (b < STATS_WAIT_BUCKETS)
                snprintf(le, sizeof le, "%g", stats_wait_bounds[b]);
            else
                snprintf(le, sizeof le, "+Inf");
            pool_series(o, "pgpin_wait_seconds_bucket", &p[i], "le", le);
            evbuffer_add_printf(o, "%llu\n", cum);
        }
        pool_series(o, "pgpin_wait_seconds_sum", &p[i], NULL, NULL);
        evbuffer_add_printf(o, "%.6f\n", (double)st->wait_us / 1e6);
        pool_series(o, "pgpin_wait_seconds_count", &p[i], NULL, NULL);
        evbuffer_add_printf(o, "%llu\n", (unsigned long long)st->waits);
    }
}

/* One gauge per server budget; `read_only`: only servers whose facts were read once. */
static void per_budget(struct evbuffer *o, const Snapshot *s, const char *name, const char *help,
                       bool read_only, int (*fn)(const BudgetInfo *))
{
    family(o, name, "gauge", help);
    for (int i = 0; i < s->nbudgets; i++) {
        const BudgetInfo *li = &s->budgets[i].info;
        if (read_only && li->age < 0) continue;
        evbuffer_add_printf(o, "%s{server=\"", name);
        metrics_escape_label(o, li->key);
        evbuffer_add_printf(o, "\"} %d\n", fn(li));
    }
}

static int b_budget(const BudgetInfo *li)
{
    return li->facts.budget;
}
static int b_inuse(const BudgetInfo *li)
{
    return li->inuse;
}
static int b_grant(const BudgetInfo *li)
{
    return li->grant;
}
static int b_max(const BudgetInfo *li)
{
    return li->facts.max_connections;
}
static int b_others(const BudgetInfo *li)
{
    return li->facts.others;
}

static int b_wwait(const BudgetInfo *li)
{
    return li->writes_waiting;
}

static void server_label(struct evbuffer *o, const char *name, const BudgetInfo *li, const char *le)
{
    evbuffer_add_printf(o, "%s{server=\"", name);
    metrics_escape_label(o, li->key);
    if (le) evbuffer_add_printf(o, "\",le=\"%s", le);
    evbuffer_add_printf(o, "\"} ");
}

/* Write shaping per server: rate, counters and the delay histogram. */
static void write_shaping(struct evbuffer *o, const Snapshot *s)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
        {"pgpin_writes_admitted_total", "Writes let through by the server's bucket.",
         offsetof(BudgetInfo, writes_admitted)},
        {"pgpin_writes_delayed_total", "Writes that waited for a token.",
         offsetof(BudgetInfo, writes_delayed)},
        {"pgpin_writes_canceled_total", "Waiting writes cancelled by their client (57014).",
         offsetof(BudgetInfo, writes_canceled)},
        {"pgpin_writes_expired_total", "Waiting writes failed after write_max_wait (53400).",
         offsetof(BudgetInfo, writes_expired)},
    };
    family(o, "pgpin_write_rate", "gauge", "Writes per second let through; 0 = not shaped.");
    for (int i = 0; i < s->nbudgets; i++) {
        server_label(o, "pgpin_write_rate", &s->budgets[i].info, NULL);
        evbuffer_add_printf(o, "%g\n", s->budgets[i].info.write_rate);
    }
    for (size_t c = 0; c < sizeof counters / sizeof counters[0]; c++) {
        family(o, counters[c].name, "counter", counters[c].help);
        for (int i = 0; i < s->nbudgets; i++) {
            const BudgetInfo *li = &s->budgets[i].info;
            server_label(o, counters[c].name, li, NULL);
            evbuffer_add_printf(
                o, "%llu\n",
                (unsigned long long)*(const uint64_t *)((const char *)li + counters[c].off));
        }
    }
    family(o, "pgpin_write_delay_seconds", "histogram", "Time delayed writes waited for a token.");
    for (int i = 0; i < s->nbudgets; i++) {
        const BudgetInfo *li = &s->budgets[i].info;
        unsigned long long cum = 0;
        char le[32];
        for (int b = 0; b <= SHAPER_DELAY_BUCKETS; b++) {
            cum += li->write_delay_hist[b];
            if (b < SHAPER_DELAY_BUCKETS)
                snprintf(le, sizeof le, "%g", shaper_delay_bounds[b]);
            else
                snprintf(le, sizeof le, "+Inf");
            server_label(o, "pgpin_write_delay_seconds_bucket", li, le);
            evbuffer_add_printf(o, "%llu\n", cum);
        }
        server_label(o, "pgpin_write_delay_seconds_sum", li, NULL);
        evbuffer_add_printf(o, "%.6f\n", (double)li->write_delay_us / 1e6);
        server_label(o, "pgpin_write_delay_seconds_count", li, NULL);
        evbuffer_add_printf(o, "%llu\n", cum);
    }
}

static void budgets(struct evbuffer *o, const Snapshot *s)
{
    per_budget(o, s, "pgpin_budget", "Connections pgpin may hold on the server.", true, b_budget);
    per_budget(o, s, "pgpin_budget_in_use", "Connections pgpin holds on the server.", false,
               b_inuse);
    per_budget(o, s, "pgpin_budget_grant", "Connections granted to pools now (<= budget).", false,
               b_grant);
    per_budget(o, s, "pgpin_server_max_connections", "The server's max_connections.", true, b_max);
    per_budget(o, s, "pgpin_server_other_connections",
               "Client backends on the server that are not pgpin's.", true, b_others);
    per_budget(o, s, "pgpin_writes_waiting", "Writes waiting for a token of the server's bucket.",
               false, b_wwait);
    write_shaping(o, s);
}

void metrics_render(struct evbuffer *out, const Snapshot *s)
{
    int n;
    SnapPool *p = snapshot_pools(s, &n);
    family(out, "pgpin_up", "gauge", "1 while pgpin answers.");
    evbuffer_add_printf(out, "pgpin_up 1\n");
    family(out, "pgpin_info", "gauge", "pgpin's version.");
    evbuffer_add_printf(out, "pgpin_info{version=\"");
    metrics_escape_label(out, PGPIN_VERSION);
    evbuffer_add_printf(out, "\"} 1\n");
    clients(out, s);
    pools_gauges(out, p, n);
    pools_counters(out, p, n);
    wait_histogram(out, p, n);
    budgets(out, s);
    free(p);
}

/* ---- HTTP ---- */

static void metrics_done(Proxy *origin, Snapshot *s)
{
    struct evhttp_request *req = s->arg;
    struct evbuffer *body = evbuffer_new();
    (void)origin;
    if (!body) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    metrics_render(body, s);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, HTTP_OK, "OK", body);
    evbuffer_free(body);
}

static void metrics_request_cb(struct evhttp_request *req, void *arg)
{
    Metrics *m = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || strcmp(path, "/metrics") != 0) {
        evhttp_send_error(req, HTTP_NOTFOUND, "not found: pgpin serves /metrics");
        return;
    }
    /* evhttp keeps req until it is answered, even if the scraper hangs up meanwhile. */
    if (!snapshot_request(m->w, 0, metrics_done, req, 0))
        evhttp_send_error(req, 503, "out of memory");
}

/* Split "host:port" ("[v6]:port"; "*" = any IPv4 address). False when malformed. */
static bool split_listen(const char *spec, char *host, size_t hostlen, unsigned short *port)
{
    const char *colon = strrchr(spec, ':');
    char *end = NULL;
    if (!colon) return false;
    long p = strtol(colon + 1, &end, 10);
    if (!end || *end || end == colon + 1 || p < 1 || p > 65535) return false;
    size_t n = (size_t)(colon - spec);
    const char *h = spec;
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') h++, n -= 2;
    if (n == 0 || (n == 1 && h[0] == '*')) h = "0.0.0.0", n = 7;
    if (n >= hostlen) return false;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (unsigned short)p;
    return true;
}

Metrics *metrics_start(Proxy *w)
{
    const char *spec = w->cfg->metrics_listen;
    char host[256];
    unsigned short port;
    if (!split_listen(spec, host, sizeof host, &port)) {
        log_error(NULL, "metrics_listen: expected host:port, got '%s'", spec);
        return NULL;
    }
    Metrics *m = calloc(1, sizeof *m);
    if (!m || !(m->http = evhttp_new(w->base))) {
        log_error(NULL, "metrics_listen: out of memory");
        free(m);
        return NULL;
    }
    m->w = w;
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_timeout(m->http, 30);
    evhttp_set_max_headers_size(m->http, 16 * 1024);
    evhttp_set_max_body_size(m->http, 4096);
    evhttp_set_gencb(m->http, metrics_request_cb, m);
    if (!evhttp_bind_socket_with_handle(m->http, host, port)) {
        log_error(NULL, "metrics_listen: cannot listen on %s port %u: %s", host, port,
                  strerror(errno));
        metrics_free(m);
        return NULL;
    }
    log_info(NULL, "serving Prometheus metrics at http://%s/metrics", spec);
    return m;
}

void metrics_free(Metrics *m)
{
    if (!m) return;
    if (m->http) evhttp_free(m->http);
    free(m);
}
