/* it_admin.c - the admin console and /metrics (driven by admin.sh, one instance per part).
 *
 * IT_ADMIN_PART says what the instance at PGPIN_IT_PROXY is configured with:
 *   console  admin_users = admin, metrics_listen = IT_ADMIN_METRICS (host:port); databases
 *            admdb, statsdb, pausedb, pause2db, metricsdb (the last one logs in as postgres)
 *   reload   admin_users = admin, default_pool_size = 2, database reloaddb; its config file is
 *            IT_ADMIN_CONFIG (rewritten by the test, then RELOADed)
 * PGPIN_WORKERS is the instance's worker count (0 = one per core). */
#include "itlib.h"

#include <arpa/inet.h>
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ADMIN_USER "user=admin"
#define WAIT_S     10.0

static const char *g_part;

static PGconn *admin_conn(void)
{
    return it_connect(IT_PROXY, "pgpin", ADMIN_USER " application_name=it_admin_console");
}

/* ---- Result helpers ---- */

static int col(const PGresult *r, const char *name)
{
    int i = PQfnumber(r, name);
    ck_assert_msg(i >= 0, "no column %s", name);
    return i;
}

/* The columns of r are exactly `want` (comma-separated). */
static void assert_columns(const PGresult *r, const char *want)
{
    char got[1024] = "";
    for (int i = 0; i < PQnfields(r); i++) {
        if (i) strncat(got, ",", sizeof got - strlen(got) - 1);
        strncat(got, PQfname(r, i), sizeof got - strlen(got) - 1);
    }
    ck_assert_msg(strcmp(got, want) == 0, "columns: got %s, want %s", got, want);
}

/* First row whose column c1 is v1 (and c2 is v2 when c2 is not NULL), or -1. */
static int find_row(const PGresult *r, const char *c1, const char *v1, const char *c2,
                    const char *v2)
{
    int i1 = col(r, c1), i2 = c2 ? col(r, c2) : -1;
    for (int row = 0; row < PQntuples(r); row++)
        if (strcmp(PQgetvalue(r, row, i1), v1) == 0 &&
            (i2 < 0 || strcmp(PQgetvalue(r, row, i2), v2) == 0))
            return row;
    return -1;
}

static long cell_long(const PGresult *r, int row, const char *name)
{
    ck_assert_msg(row >= 0 && row < PQntuples(r), "row %d of %d", row, PQntuples(r));
    return strtol(PQgetvalue(r, row, col(r, name)), NULL, 10);
}

static const char *cell(const PGresult *r, int row, const char *name)
{
    ck_assert_msg(row >= 0 && row < PQntuples(r), "row %d of %d", row, PQntuples(r));
    return PQgetvalue(r, row, col(r, name));
}

/* SHOW POOLS row of (db, postgres): value of column name, or 0 when there is no such pool. */
static long pool_value(PGconn *a, const char *cmd, const char *db, const char *name)
{
    PGresult *r = it_exec_res(a, cmd);
    int row = find_row(r, "database", db, "user", "postgres");
    long v = row < 0 ? 0 : cell_long(r, row, name);
    PQclear(r);
    return v;
}

static char *config_value(PGconn *a, const char *key)
{
    PGresult *r = it_exec_res(a, "SHOW CONFIG");
    int row = find_row(r, "key", key, NULL, NULL);
    ck_assert_msg(row >= 0, "SHOW CONFIG has no %s", key);
    char *v = strdup(cell(r, row, "value"));
    PQclear(r);
    return v;
}

/* The next result of c within secs; NULL on timeout (the query is still running). */
static PGresult *result_within(PGconn *c, double secs)
{
    double end = it_now() + secs;
    while (PQisBusy(c)) {
        int left = (int)((end - it_now()) * 1000);
        if (left <= 0 || it_wait_readable(PQsocket(c), left) == 0) return NULL;
        ck_assert_msg(PQconsumeInput(c), "consume: %s", PQerrorMessage(c));
    }
    return PQgetResult(c);
}

/* Send sql and take its one result (and the NULL after it) within secs. */
static char *async_value(PGconn *c, double secs)
{
    PGresult *r = result_within(c, secs);
    if (!r) return NULL;
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    ck_assert_ptr_null(result_within(c, secs));
    return v;
}

/* ---- Connections opened without blocking (clients that wait for a server) ---- */

typedef struct Async {
    PGconn *c;
    PostgresPollingStatusType st;
} Async;

static void async_start(Async *a, const char *db, const char *extra)
{
    char ci[1024];
    snprintf(ci, sizeof ci, "%s dbname=%s %s", it_conninfo(IT_PROXY), db, extra ? extra : "");
    a->c = PQconnectStart(ci);
    ck_assert_msg(a->c && PQstatus(a->c) != CONNECTION_BAD, "connect start failed");
    a->st = PGRES_POLLING_WRITING;
}

/* Drive every connection for secs (or until `stop_at` are connected). Returns how many are up. */
static int async_drive(Async *a, int n, double secs, int stop_at)
{
    double end = it_now() + secs;
    for (;;) {
        struct pollfd p[64];
        int ok = 0, np = 0, map[64];
        for (int i = 0; i < n; i++) {
            ck_assert_msg(a[i].st != PGRES_POLLING_FAILED, "connection %d failed: %s", i,
                          PQerrorMessage(a[i].c));
            if (a[i].st == PGRES_POLLING_OK) {
                ok++;
                continue;
            }
            p[np] = (struct pollfd){PQsocket(a[i].c),
                                    a[i].st == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0};
            map[np++] = i;
        }
        int left = (int)((end - it_now()) * 1000);
        if (ok >= stop_at || np == 0 || left <= 0) return ok;
        if (poll(p, (nfds_t)np, left) <= 0) continue;
        for (int k = 0; k < np; k++)
            if (p[k].revents) a[map[k]].st = PQconnectPoll(a[map[k]].c);
    }
}

static void async_finish(Async *a, int n)
{
    for (int i = 0; i < n; i++)
        PQfinish(a[i].c);
}

/* pgpin's server connections to db as Postgres sees them (the budget reader excluded). */
static long server_count(PGconn *d, const char *db)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND backend_type = "
             "'client backend' AND application_name <> 'pgpin-limits'",
             db);
    return it_value_long(d, sql);
}

/* ---- Prometheus text format 0.0.4, checked strictly ---- */

#define PROM_MAX 4096

typedef struct PromHist {
    char key[512]; /* labels without le */
    double last_le;
    double last_count;
    double inf;
    bool has_inf, has_sum, has_count;
} PromHist;

typedef struct PromState {
    char family[128], type[16];
    char done[256][128]; /* families already closed: they may not come back */
    int ndone;
    char *series[PROM_MAX];
    int nseries;
    PromHist hist[256];
    int nhist;
    char *err;
    size_t errlen;
    int line;
} PromState;

static bool prom_fail(PromState *st, const char *what, const char *text)
{
    snprintf(st->err, st->errlen, "line %d: %s: %.200s", st->line, what, text);
    return false;
}

static bool is_name(const char *s, size_t n, bool colon)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = isalpha((unsigned char)c) || c == '_' || (colon && c == ':') ||
                  (i > 0 && isdigit((unsigned char)c));
        if (!ok) return false;
    }
    return true;
}

static bool prom_float(const char *s, double *out)
{
    char *end = NULL;
    if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0 || strcmp(s, "NaN") == 0) {
        *out = strcmp(s, "NaN") == 0 ? NAN : s[0] == '+' ? INFINITY : -INFINITY;
        return true;
    }
    if (!*s || isspace((unsigned char)*s)) return false;
    errno = 0;
    *out = strtod(s, &end);
    return end && *end == '\0' && errno == 0 && isfinite(*out);
}

/* Close the current family: a histogram's every label set must have +Inf, _sum and _count. */
static bool prom_close(PromState *st)
{
    for (int i = 0; i < st->nhist; i++) {
        PromHist *h = &st->hist[i];
        if (!h->has_inf || !h->has_sum || !h->has_count)
            return prom_fail(st, "histogram series without +Inf bucket, _sum or _count", h->key);
    }
    st->nhist = 0;
    if (st->family[0] && st->ndone < 256)
        memcpy(st->done[st->ndone++], st->family, sizeof st->family);
    st->family[0] = st->type[0] = '\0';
    return true;
}

static bool prom_comment(PromState *st, const char *line)
{
    char name[128];
    const char *rest;
    bool help = strncmp(line, "# HELP ", 7) == 0;
    if (!help && strncmp(line, "# TYPE ", 7) != 0) return prom_fail(st, "stray comment", line);
    const char *s = line + 7, *sp = strchr(s, ' ');
    if (!sp || (size_t)(sp - s) >= sizeof name || !is_name(s, (size_t)(sp - s), true))
        return prom_fail(st, "bad metric name", line);
    snprintf(name, sizeof name, "%.*s", (int)(sp - s), s);
    rest = sp + 1;
    if (strcmp(name, st->family) != 0) { /* a new family starts */
        if (!prom_close(st)) return false;
        for (int i = 0; i < st->ndone; i++)
            if (strcmp(st->done[i], name) == 0) return prom_fail(st, "family repeated", line);
        snprintf(st->family, sizeof st->family, "%s", name);
    }
    if (help) {
        for (const char *p = rest; *p; p++)
            if (*p == '\\' && p[1] != '\\' && p[1] != 'n')
                return prom_fail(st, "bad escape in HELP", line);
            else if (*p == '\\')
                p++;
        return true;
    }
    if (st->type[0]) return prom_fail(st, "second TYPE", line);
    if (strcmp(rest, "counter") && strcmp(rest, "gauge") && strcmp(rest, "histogram") &&
        strcmp(rest, "summary") && strcmp(rest, "untyped"))
        return prom_fail(st, "bad TYPE", line);
    snprintf(st->type, sizeof st->type, "%s", rest);
    return true;
}

/* Parse `{a="x",b="y"}` at *p: the label set without le into key, le's text into le. */
static bool prom_labels(PromState *st, const char *line, const char **p, char *key, size_t keylen,
                        char *le, size_t lelen)
{
    char names[32][64];
    int nnames = 0;
    size_t k = 0;
    key[0] = le[0] = '\0';
    if (**p != '{') return true;
    (*p)++;
    while (**p != '}') {
        const char *n = *p;
        while (**p && **p != '=')
            (*p)++;
        size_t nl = (size_t)(*p - n);
        if (!**p || !is_name(n, nl, false) || nl >= 64 || (*p)[1] != '"')
            return prom_fail(st, "bad label", line);
        for (int i = 0; i < nnames; i++)
            if (strncmp(names[i], n, nl) == 0 && names[i][nl] == '\0')
                return prom_fail(st, "duplicate label", line);
        if (nnames < 32) snprintf(names[nnames++], 64, "%.*s", (int)nl, n);
        *p += 2;
        const char *v = *p;
        for (; **p && **p != '"'; (*p)++) {
            if (**p != '\\') continue;
            (*p)++;
            if (**p != '\\' && **p != '"' && **p != 'n')
                return prom_fail(st, "bad escape in label value", line);
        }
        if (**p != '"') return prom_fail(st, "unterminated label value", line);
        bool is_le = nl == 2 && strncmp(n, "le", 2) == 0;
        if (is_le)
            snprintf(le, lelen, "%.*s", (int)(*p - v), v);
        else
            k += (size_t)snprintf(key + k, k < keylen ? keylen - k : 0, "%.*s=\"%.*s\",", (int)nl,
                                  n, (int)(*p - v), v);
        (*p)++;
        if (**p == ',' && (*p)[1] != '}')
            (*p)++;
        else if (**p != '}')
            return prom_fail(st, "bad label separator", line);
    }
    (*p)++;
    return true;
}

/* A histogram sample: buckets in increasing le with non-decreasing counts, +Inf = _count. */
static bool prom_hist(PromState *st, const char *line, const char *suffix, const char *key,
                      const char *le, double v)
{
    PromHist *h = NULL;
    for (int i = 0; i < st->nhist && !h; i++)
        if (strcmp(st->hist[i].key, key) == 0) h = &st->hist[i];
    if (!h) {
        if (st->nhist == 256) return prom_fail(st, "too many histogram series", line);
        h = &st->hist[st->nhist++];
        memset(h, 0, sizeof *h);
        snprintf(h->key, sizeof h->key, "%s", key);
        h->last_le = -INFINITY;
    }
    if (strcmp(suffix, "_bucket") == 0) {
        double b;
        if (!le[0] || !prom_float(le, &b)) return prom_fail(st, "bucket without a valid le", line);
        if (h->has_inf || b <= h->last_le) return prom_fail(st, "le not increasing", line);
        if (v < h->last_count) return prom_fail(st, "bucket counts decrease", line);
        h->last_le = b, h->last_count = v;
        if (isinf(b)) h->has_inf = true, h->inf = v;
        return true;
    }
    if (le[0]) return prom_fail(st, "le outside a bucket", line);
    if (!h->has_inf) return prom_fail(st, "_sum/_count before the +Inf bucket", line);
    if (strcmp(suffix, "_sum") == 0) {
        h->has_sum = true;
    } else {
        if (v != h->inf) return prom_fail(st, "_count differs from the +Inf bucket", line);
        h->has_count = true;
    }
    return true;
}

static bool prom_sample(PromState *st, const char *line)
{
    char key[512], le[64], series[768];
    const char *p = line;
    while (*p && *p != '{' && *p != ' ')
        p++;
    size_t nl = (size_t)(p - line);
    if (!is_name(line, nl, true)) return prom_fail(st, "bad metric name", line);
    size_t fl = strlen(st->family);
    if (!st->type[0]) return prom_fail(st, "sample without a TYPE", line);
    char sfx[16] = "";
    if (strcmp(st->type, "histogram") == 0 && nl > fl && nl - fl < sizeof sfx &&
        strncmp(line, st->family, fl) == 0) {
        snprintf(sfx, sizeof sfx, "%.*s", (int)(nl - fl), line + fl);
        if (strcmp(sfx, "_bucket") && strcmp(sfx, "_sum") && strcmp(sfx, "_count"))
            return prom_fail(st, "sample outside its family", line);
    } else if (nl != fl || strncmp(line, st->family, fl) != 0) {
        return prom_fail(st, "sample outside its family", line);
    }
    if (!prom_labels(st, line, &p, key, sizeof key, le, sizeof le)) return false;
    if (*p != ' ') return prom_fail(st, "no value", line);
    char val[64];
    const char *v = ++p, *sp = strchr(v, ' ');
    snprintf(val, sizeof val, "%.*s", sp ? (int)(sp - v) : (int)strlen(v), v);
    double x, ts;
    if (!prom_float(val, &x)) return prom_fail(st, "bad value", line);
    if (sp && !prom_float(sp + 1, &ts)) return prom_fail(st, "bad timestamp", line);
    if (strcmp(st->type, "counter") == 0 && !(x >= 0)) return prom_fail(st, "counter < 0", line);
    snprintf(series, sizeof series, "%.*s{%s le=%s}", (int)nl, line, key, le);
    for (int i = 0; i < st->nseries; i++)
        if (strcmp(st->series[i], series) == 0) return prom_fail(st, "duplicate series", line);
    if (st->nseries == PROM_MAX) return prom_fail(st, "too many samples", line);
    st->series[st->nseries++] = strdup(series);
    if (strcmp(st->type, "histogram") == 0) return prom_hist(st, line, sfx, key, le, x);
    return le[0] == '\0' || prom_fail(st, "le label outside a histogram", line);
}

/* The whole exposition text: true, or false with the first problem in err. */
static bool prom_check(const char *text, char *err, size_t errlen)
{
    static PromState st;
    bool ok = true;
    memset(&st, 0, sizeof st);
    st.err = err, st.errlen = errlen;
    size_t n = strlen(text);
    if (n == 0 || text[n - 1] != '\n') {
        snprintf(err, errlen, "empty or no final newline");
        return false;
    }
    for (const char *p = text; ok && *p; p = strchr(p, '\n') + 1) {
        char line[2048];
        size_t len = (size_t)(strchr(p, '\n') - p);
        st.line++;
        if (len >= sizeof line || len == 0 || memchr(p, '\r', len)) {
            snprintf(err, errlen, "line %d: empty, too long or with CR", st.line);
            ok = false;
            break;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        ok = line[0] == '#' ? prom_comment(&st, line) : prom_sample(&st, line);
    }
    if (ok) ok = prom_close(&st);
    for (int i = 0; i < st.nseries; i++)
        free(st.series[i]);
    return ok;
}

/* The value of the sample whose name and labels are exactly `series`; -1 when absent. */
static double prom_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
    return -1;
}

/* ---- HTTP ---- */

/* GET path from IT_ADMIN_METRICS; returns the body (caller frees) and the status code. */
static char *http_get(const char *path, int *status)
{
    const char *hp = getenv("IT_ADMIN_METRICS");
    ck_assert_msg(hp && strchr(hp, ':'), "IT_ADMIN_METRICS not set");
    char host[128];
    snprintf(host, sizeof host, "%.*s", (int)(strrchr(hp, ':') - hp), hp);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(strrchr(hp, ':') + 1))};
    ck_assert(inet_pton(AF_INET, host, &sa.sin_addr) == 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_msg(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s: %s",
                  hp, strerror(errno));
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     path, hp);
    ck_assert(it_raw_send(fd, req, (size_t)n));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    double end = it_now() + WAIT_S;
    for (;;) {
        int left = (int)((end - it_now()) * 1000);
        ck_assert_msg(left > 0 && it_wait_readable(fd, left) == 1, "no answer from /metrics");
        if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';
    ck_assert_msg(sscanf(buf, "HTTP/1.1 %d", status) == 1, "bad status line: %.80s", buf);
    char *body = strstr(buf, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    char *out = strdup(body + 4);
    free(buf);
    return out;
}

/* ---- console ---- */

START_TEST(test_refused)
{
    /* Not in admin_users: FATAL 42501 with a message that says why, then the close. */
    const char *users[] = {"postgres", "nobody"};
    for (int i = 0; i < 2; i++) {
        unsigned char buf[256];
        const char *kv[] = {"user", users[i], "database", "pgpin", NULL};
        int fd = it_raw_connect(IT_PROXY);
        size_t n = it_build_startup(buf, sizeof buf, 3u << 16, kv);
        ck_assert(it_raw_send(fd, buf, n));
        char got[6];
        ItOutcome o = it_raw_outcome(fd, 5000, got);
        close(fd);
        ck_assert_msg(o == IT_OUT_ERROR && strcmp(got, "42501") == 0, "%s: %s %s", users[i],
                      it_outcome_name(o), got);
    }
    PGconn *c = it_connect_raw(IT_PROXY, "pgpin", "user=postgres");
    ck_assert_int_eq(PQstatus(c), CONNECTION_BAD);
    ck_assert_msg(strstr(PQerrorMessage(c), "not allowed to use the admin console"), "%s",
                  PQerrorMessage(c));
    PQfinish(c);
}
END_TEST

START_TEST(test_startup)
{
    PGconn *a = admin_conn();
    const char *v = PQparameterStatus(a, "server_version");
    ck_assert_msg(v && strcmp(v, PGPIN_VERSION) == 0, "server_version %s", v ? v : "(none)");
    ck_assert_str_eq(PQparameterStatus(a, "client_encoding"), "UTF8");
    ck_assert_str_eq(PQparameterStatus(a, "standard_conforming_strings"), "on");
    ck_assert_str_eq(PQparameterStatus(a, "integer_datetimes"), "on");
    ck_assert_msg(PQparameterStatus(a, "DateStyle"), "no DateStyle");
    ck_assert_msg(PQbackendPID(a) != 0, "no BackendKeyData");
    ck_assert_int_eq(PQtransactionStatus(a), PQTRANS_IDLE);
    PQfinish(a);
}
END_TEST

START_TEST(test_local_commands)
{
    PGconn *a = admin_conn();
    char *v = it_value(a, "SHOW VERSION");
    ck_assert_str_eq(v, "pgpin " PGPIN_VERSION);
    free(v);
    /* Case, blanks and trailing semicolons do not matter. */
    v = it_value(a, "  \tshow\n  version ;; ");
    ck_assert_str_eq(v, "pgpin " PGPIN_VERSION);
    free(v);
    PGresult *r = it_exec_res(a, "Show Help;");
    assert_columns(r, "command,description");
    ck_assert_int_eq(PQntuples(r), 13);
    ck_assert_int_ge(find_row(r, "command", "SHOW POOLS", NULL, NULL), 0);
    ck_assert_int_ge(find_row(r, "command", "SHUTDOWN WAIT_FOR_CLIENTS", NULL, NULL), 0);
    ck_assert_str_eq(PQcmdStatus(r), "SHOW");
    PQclear(r);
    r = it_exec_res(a, "SHOW CONFIG");
    assert_columns(r, "key,value");
    ck_assert_int_ge(PQntuples(r), 30);
    ck_assert_str_eq(cell(r, find_row(r, "key", "admin_users", NULL, NULL), "value"), "admin");
    ck_assert_str_eq(cell(r, find_row(r, "key", "metrics_listen", NULL, NULL), "value"),
                     getenv("IT_ADMIN_METRICS"));
    ck_assert_str_eq(cell(r, find_row(r, "key", "default_pool_size", NULL, NULL), "value"), "20");
    PQclear(r);
    PQfinish(a);
}
END_TEST

START_TEST(test_errors_continue)
{
    PGconn *a = admin_conn();
    it_expect_error(a, "SHOW FOO", "42601");
    it_expect_error(a, "DROP TABLE x", "42601");
    it_expect_error(a, "SELECT 1", "42601");
    it_expect_error(a, "PAUSE a b", "42601");
    it_expect_error(a, "PAUSE \"unterminated", "42601");
    it_expect_error(a, "PAUSE no_such_db", "3D000");
    PGresult *r = PQexec(a, "bogus");
    ck_assert_msg(strstr(PQresultErrorMessage(r), "SHOW HELP"), "unhelpful: %s",
                  PQresultErrorMessage(r));
    PQclear(r);
    /* The session goes on. */
    char *v = it_value(a, "SHOW VERSION");
    ck_assert_str_eq(v, "pgpin " PGPIN_VERSION);
    free(v);
    /* An empty query is an empty query. */
    r = PQexec(a, " ; ");
    ck_assert_int_eq(PQresultStatus(r), PGRES_EMPTY_QUERY);
    PQclear(r);
    PQfinish(a);
}
END_TEST

START_TEST(test_multi_statement)
{
    PGconn *a = admin_conn();
    ExecStatusType want[] = {PGRES_TUPLES_OK, PGRES_TUPLES_OK, PGRES_TUPLES_OK};
    ck_assert(PQsendQuery(a, "SHOW VERSION; SHOW POOLS; show help"));
    for (int i = 0; i < 3; i++) {
        PGresult *r = result_within(a, WAIT_S);
        ck_assert_ptr_nonnull(r);
        ck_assert_msg(PQresultStatus(r) == want[i], "statement %d: %s %s", i,
                      PQresStatus(PQresultStatus(r)), PQresultErrorMessage(r));
        PQclear(r);
    }
    ck_assert_ptr_null(result_within(a, WAIT_S));
    /* An error stops the rest of the query, as in Postgres. */
    ck_assert(PQsendQuery(a, "SHOW VERSION; nope; SHOW HELP"));
    PGresult *r = result_within(a, WAIT_S);
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    r = result_within(a, WAIT_S);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42601");
    PQclear(r);
    ck_assert_ptr_null(result_within(a, WAIT_S));
    PQfinish(a);
}
END_TEST

/* A frontend message: type, length, body. Returns its size. */
static size_t msg_put(unsigned char *p, char type, const char *body, size_t n)
{
    p[0] = (unsigned char)type;
    it_put32(p + 1, (uint32_t)n + 4);
    memcpy(p + 5, body, n);
    return n + 5;
}

START_TEST(test_extended_protocol)
{
    PGconn *a = admin_conn();
    PGresult *r = PQexecParams(a, "SHOW VERSION", 0, NULL, NULL, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "0A000");
    PQclear(r);
    r = PQprepare(a, "s1", "SHOW POOLS", 0, NULL);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "0A000");
    PQclear(r);
    char *v = it_value(a, "SHOW VERSION"); /* still in sync */
    ck_assert_str_eq(v, "pgpin " PGPIN_VERSION);
    free(v);
    PQfinish(a);

    /* Raw: a pipelined Parse/Bind/Execute/Sync then a Query: one error, ReadyForQuery, the
     * Query's result. */
    unsigned char buf[512];
    const char *kv[] = {"user", "admin", "database", "pgpin", NULL};
    int fd = it_raw_connect(IT_PROXY);
    char why[200];
    size_t n = it_build_startup(buf, sizeof buf, 3u << 16, kv);
    ck_assert(it_raw_send(fd, buf, n));
    ck_assert_msg(it_raw_until_ready(fd, 5000, why, sizeof why), "%s", why);
    unsigned char pipe[256];
    size_t np = 0;
    np += msg_put(pipe + np, 'P', "\0SHOW HELP\0\0\0", 13); /* name, query, no types */
    np += msg_put(pipe + np, 'B', "\0\0\0\0\0\0\0\0", 8);   /* portal, statement, 0s */
    np += msg_put(pipe + np, 'E', "\0\0\0\0\0", 5);         /* portal, no row limit */
    np += msg_put(pipe + np, 'S', "", 0);
    np += msg_put(pipe + np, 'Q', "SHOW VERSION", 13);
    ck_assert(it_raw_send(fd, pipe, np));
    char seq[16] = "";
    for (int i = 0; i < 6; i++) {
        ItMsg m;
        ck_assert_int_eq(it_raw_read(fd, &m, 5000), IT_RAW_MSG);
        if (m.type == 'E') ck_assert_str_eq(it_msg_field(&m, 'C'), "0A000");
        seq[i] = m.type;
        it_msg_free(&m);
    }
    ck_assert_str_eq(seq, "EZTDCZ");
    /* A garbage message type: FATAL protocol violation and a close, never a crash. */
    ck_assert(it_raw_send(fd, "\x01\0\0\0\x04", 5));
    char got[6];
    ItOutcome o = it_raw_outcome(fd, 5000, got);
    ck_assert_msg(o == IT_OUT_ERROR && strcmp(got, "08P01") == 0, "%s %s", it_outcome_name(o), got);
    close(fd);
}
END_TEST

/* Clients of db holding their sessions, with application_name app. */
static int open_clients(PGconn **c, int n, const char *db, const char *app)
{
    char extra[128];
    snprintf(extra, sizeof extra, "application_name=%s", app);
    for (int i = 0; i < n; i++)
        c[i] = it_connect(IT_PROXY, db, extra);
    return n;
}

START_TEST(test_show_pools)
{
    PGconn *c[4], *a = admin_conn();
    open_clients(c, 4, "admdb", "it_admin_pools");
    PGresult *r = it_exec_res(a, "SHOW POOLS");
    assert_columns(r, "database,user,pool_mode,paused,pool_size,cl_active,cl_waiting,cl_held,"
                      "sv_active,sv_idle,sv_connecting,sv_syncing,sv_resetting,maxwait");
    int row = find_row(r, "database", "admdb", "user", "postgres");
    ck_assert_int_ge(row, 0);
    ck_assert_int_eq(cell_long(r, row, "cl_active"), 4);
    ck_assert_int_eq(cell_long(r, row, "sv_active"), 4);
    ck_assert_int_eq(cell_long(r, row, "cl_waiting"), 0);
    ck_assert_int_eq(cell_long(r, row, "pool_size"), 20);
    ck_assert_str_eq(cell(r, row, "paused"), "f");
    ck_assert_str_eq(cell(r, row, "pool_mode"), "session");
    PQclear(r);
    for (int i = 0; i < 4; i++)
        PQfinish(c[i]);
    PQfinish(a);
}
END_TEST

#define NCS 16

START_TEST(test_show_clients_servers)
{
    PGconn *c[NCS], *a = admin_conn();
    int workers = atoi(getenv("PGPIN_WORKERS") ? getenv("PGPIN_WORKERS") : "0");
    bool on_worker[64] = {false};
    open_clients(c, NCS, "admdb", "it_admin_cs");
    PGresult *cr = it_exec_res(a, "SHOW CLIENTS");
    PGresult *sr = it_exec_res(a, "SHOW SERVERS");
    assert_columns(cr, "id,worker,user,database,state,addr,port,connect_time,wait,server,pinned,"
                       "application_name,tls");
    assert_columns(sr, "id,worker,database,user,state,server,backend_pid,client,connect_time,tls");
    int mine = 0;
    for (int i = 0; i < PQntuples(cr); i++)
        mine += strcmp(PQgetvalue(cr, i, col(cr, "application_name")), "it_admin_cs") == 0;
    ck_assert_int_eq(mine, NCS);
    /* Each client by its id (pgpin's BackendKeyData pid), linked to the server that runs its
     * queries: the server row names it back and carries the backend pid Postgres reports. */
    for (int i = 0; i < NCS; i++) {
        char id[32], wk[16], pid[16];
        unsigned kp = (unsigned)PQbackendPID(c[i]);
        snprintf(id, sizeof id, "C-%u", kp);
        snprintf(wk, sizeof wk, "%u", kp >> 24);
        on_worker[(kp >> 24) & 63] = true;
        int row = find_row(cr, "id", id, "worker", wk);
        ck_assert_msg(row >= 0, "client %s (worker %s) not in SHOW CLIENTS", id, wk);
        ck_assert_str_eq(cell(cr, row, "state"), "active");
        ck_assert_str_eq(cell(cr, row, "database"), "admdb");
        ck_assert_str_eq(cell(cr, row, "user"), "postgres");
        ck_assert_str_eq(cell(cr, row, "addr"), "127.0.0.1");
        ck_assert_str_eq(cell(cr, row, "pinned"), "session");
        ck_assert_int_gt(cell_long(cr, row, "port"), 0);
        int srow = find_row(sr, "id", cell(cr, row, "server"), "worker", wk);
        ck_assert_msg(srow >= 0, "server %s of %s not in SHOW SERVERS", cell(cr, row, "server"),
                      id);
        ck_assert_str_eq(cell(sr, srow, "client"), id);
        ck_assert_str_eq(cell(sr, srow, "state"), "active");
        snprintf(pid, sizeof pid, "%ld", it_value_long(c[i], "SELECT pg_backend_pid()"));
        ck_assert_str_eq(cell(sr, srow, "backend_pid"), pid);
    }
    if (workers > 1) { /* both workers answered the snapshot */
        for (int w = 0; w < workers; w++)
            ck_assert_msg(on_worker[w], "no client landed on worker %d", w);
    }
    int admin_row = find_row(cr, "application_name", "it_admin_console", NULL, NULL);
    ck_assert_int_ge(admin_row, 0);
    ck_assert_str_eq(cell(cr, admin_row, "state"), "admin");
    PQclear(cr), PQclear(sr);
    for (int i = 0; i < NCS; i++)
        PQfinish(c[i]);
    PQfinish(a);
}
END_TEST

START_TEST(test_show_stats)
{
    PGconn *a = admin_conn();
    long q0 = pool_value(a, "SHOW STATS", "statsdb", "total_query_count");
    long x0 = pool_value(a, "SHOW STATS", "statsdb", "total_xact_count");
    long e0 = pool_value(a, "SHOW STATS", "statsdb", "total_errors");
    long in0 = pool_value(a, "SHOW STATS", "statsdb", "total_received");
    long out0 = pool_value(a, "SHOW STATS", "statsdb", "total_sent");
    PGconn *c = it_connect(IT_PROXY, "statsdb", NULL);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(it_value_long(c, "SELECT 1"), 1);
    it_expect_error(c, "SELECT 1/0", "22012");
    PQfinish(c);
    PGresult *r = it_exec_res(a, "SHOW STATS");
    assert_columns(r, "database,user,total_xact_count,total_query_count,total_received,"
                      "total_sent,total_query_time,avg_query_time,total_wait_count,"
                      "total_wait_time,avg_wait_time,total_errors");
    int row = find_row(r, "database", "statsdb", "user", "postgres");
    ck_assert_int_ge(row, 0);
    ck_assert_int_eq(cell_long(r, row, "total_query_count") - q0, 11);
    ck_assert_int_eq(cell_long(r, row, "total_xact_count") - x0, 11);
    ck_assert_int_eq(cell_long(r, row, "total_errors") - e0, 1);
    ck_assert_int_gt(cell_long(r, row, "total_received") - in0, 11 * 5);
    ck_assert_int_gt(cell_long(r, row, "total_sent") - out0, 11 * 5);
    ck_assert_int_ge(cell_long(r, row, "total_wait_count"), 1);
    ck_assert_msg(strtod(cell(r, row, "total_query_time"), NULL) > 0, "no query time");
    PQclear(r);
    PQfinish(a);
}
END_TEST

START_TEST(test_show_limits)
{
    PGconn *a = admin_conn(), *c = it_connect(IT_PROXY, "admdb", NULL);
    PGconn *d = it_connect(IT_DIRECT, "postgres", NULL);
    char key[64];
    const char *port = PQport(d);
    snprintf(key, sizeof key, "127.0.0.1:%s", port);
    long max = it_value_long(d, "SELECT current_setting('max_connections')::int");
    long su = it_value_long(d, "SELECT current_setting('superuser_reserved_connections')::int");
    PGresult *r = NULL;
    int row = -1;
    for (double end = it_now() + WAIT_S; it_now() < end; usleep(100 * 1000)) {
        PQclear(r);
        r = it_exec_res(a, "SHOW LIMITS");
        row = find_row(r, "server", key, "state", "ok");
        if (row >= 0) break;
    }
    assert_columns(r, "server,state,max_connections,reserved,others,headroom,budget,grant,"
                      "in_use,waiting,starved_pools,age,warning,error,write_rate,write_burst,"
                      "writes_admitted,writes_delayed,writes_waiting,avg_write_delay,"
                      "writes_canceled,writes_expired");
    ck_assert_msg(row >= 0, "no reading of %s within %.0f s", key, WAIT_S);
    ck_assert_int_eq(cell_long(r, row, "max_connections"), max);
    ck_assert_int_eq(cell_long(r, row, "reserved"), su);
    ck_assert_int_ge(cell_long(r, row, "in_use"), 2); /* the reader and c's server */
    ck_assert_int_le(cell_long(r, row, "grant"), cell_long(r, row, "budget"));
    ck_assert_int_eq(cell_long(r, row, "budget"),
                     max - su - cell_long(r, row, "others") - cell_long(r, row, "headroom"));
    PQclear(r);
    PQfinish(c), PQfinish(d), PQfinish(a);
}
END_TEST

START_TEST(test_pause_resume)
{
    PGconn *a = admin_conn(), *held = it_connect(IT_PROXY, "pausedb", "application_name=it_held");
    PGconn *before = it_connect(IT_PROXY, "pausedb", NULL);
    Async fresh;
    /* A query issued before PAUSE completes while paused; one issued after waits. */
    ck_assert(PQsendQuery(before, "SELECT 'before' FROM pg_sleep(1)"));
    usleep(200 * 1000);
    PGresult *r = it_exec_res(a, "PAUSE pausedb");
    ck_assert_str_eq(PQcmdStatus(r), "PAUSE");
    PQclear(r);
    ck_assert(PQsendQuery(held, "SELECT 'after'"));
    async_start(&fresh, "pausedb", NULL); /* a new client: it needs a server */
    char *v = async_value(before, WAIT_S);
    ck_assert_msg(v && strcmp(v, "before") == 0, "query sent before PAUSE did not complete");
    free(v);
    ck_assert_int_eq(async_drive(&fresh, 1, 1.5, 1), 0);
    ck_assert_ptr_null(result_within(held, 0.5)); /* still held */
    ck_assert_int_eq(pool_value(a, "SHOW POOLS", "pausedb", "cl_held"), 1);
    ck_assert_int_eq(pool_value(a, "SHOW POOLS", "pausedb", "cl_waiting"), 1);
    r = it_exec_res(a, "SHOW POOLS");
    ck_assert_str_eq(cell(r, find_row(r, "database", "pausedb", NULL, NULL), "paused"), "t");
    PQclear(r);
    r = it_exec_res(a, "SHOW CLIENTS");
    ck_assert_str_eq(cell(r, find_row(r, "application_name", "it_held", NULL, NULL), "state"),
                     "held");
    PQclear(r);
    /* Other databases go on. */
    PGconn *other = it_connect(IT_PROXY, "admdb", NULL);
    ck_assert_int_eq(it_value_long(other, "SELECT 7"), 7);
    PQfinish(other);

    r = it_exec_res(a, "RESUME pausedb");
    ck_assert_str_eq(PQcmdStatus(r), "RESUME");
    PQclear(r);
    v = async_value(held, WAIT_S);
    ck_assert_msg(v && strcmp(v, "after") == 0, "held query not released by RESUME");
    free(v);
    ck_assert_int_eq(async_drive(&fresh, 1, WAIT_S, 1), 1);
    ck_assert_int_eq(it_value_long(fresh.c, "SELECT 3"), 3);
    ck_assert_int_eq(pool_value(a, "SHOW POOLS", "pausedb", "cl_held"), 0);
    async_finish(&fresh, 1);
    PQfinish(held), PQfinish(before), PQfinish(a);
}
END_TEST

START_TEST(test_pause_all_new_pool)
{
    PGconn *a = admin_conn();
    Async c;
    it_exec(a, "pause");
    /* A pool that did not exist at PAUSE starts paused. */
    async_start(&c, "pause2db", "application_name=it_pause2");
    ck_assert_int_eq(async_drive(&c, 1, 1.5, 1), 0);
    it_expect_error(a, "RESUME pause2db", "55000"); /* everything is paused */
    ck_assert_int_eq(async_drive(&c, 1, 0.5, 1), 0);
    it_exec(a, "RESUME");
    ck_assert_int_eq(async_drive(&c, 1, WAIT_S, 1), 1);
    ck_assert_int_eq(it_value_long(c.c, "SELECT 5"), 5);
    async_finish(&c, 1);
    PQfinish(a);
}
END_TEST

START_TEST(test_prom_checker)
{
    /* The checker itself must reject what the format forbids. */
    static const char *const bad[] = {
        "# TYPE a counter\na{x=\"1} 1\n",
        "# TYPE a counter\na{x=\"\\q\"} 1\n",
        "# TYPE a gauge\na 1x\n",
        "# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n",
        "# TYPE a gauge\na{1x=\"v\"} 1\n",
        "# TYPE 1a gauge\n1a 1\n",
        "# TYPE a gauge\n# TYPE b gauge\na 1\n",
        "b 1\n",
        "# TYPE a gauge\na 1\na 2\n",
        "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n",
        "# TYPE a counter\na -1\n",
        "# TYPE a gauge\na 1",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
        "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n",
    };
    char err[300];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!prom_check(bad[i], err, sizeof err), "accepted bad document %zu", i);
    const char *good = "# HELP a x \\\\ y\n# TYPE a gauge\na{b=\"q\\\"\\\\\\n\",c=\"\"} 1.5\n"
                       "# TYPE h histogram\nh_bucket{x=\"1\",le=\"0.5\"} 1\n"
                       "h_bucket{x=\"1\",le=\"+Inf\"} 2\nh_sum{x=\"1\"} 0.7\nh_count{x=\"1\"} 2\n";
    ck_assert_msg(prom_check(good, err, sizeof err), "rejected a good document: %s", err);
}
END_TEST

START_TEST(test_metrics)
{
    const char *user = "odd\"us\\er\nx"; /* every character the format escapes */
    const char *keys[] = {"host", "port", "dbname", "user", NULL};
    PQconninfoOption *opts = PQconninfoParse(it_conninfo(IT_PROXY), NULL);
    const char *host = "127.0.0.1", *port = NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (o->val && strcmp(o->keyword, "host") == 0) host = o->val;
        if (o->val && strcmp(o->keyword, "port") == 0) port = o->val;
    }
    const char *vals[] = {host, port, "metricsdb", user, NULL};
    int status;
    char err[400];
    char *t0 = http_get("/metrics", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_msg(prom_check(t0, err, sizeof err), "%s", err);
    const char *series = "pgpin_queries_total{db=\"metricsdb\",user=\"odd\\\"us\\\\er\\nx\"}";
    double q0 = prom_value(t0, series);
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(it_value_long(c, "SELECT 2"), 2);
    char *t1 = http_get("/metrics", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_msg(prom_check(t1, err, sizeof err), "%s", err);
    double q1 = prom_value(t1, series);
    ck_assert_msg(q1 - (q0 < 0 ? 0 : q0) == 7, "queries_total %g -> %g, want +7", q0, q1);
    ck_assert_int_eq((int)prom_value(t1, "pgpin_up"), 1);
    ck_assert_int_eq((int)prom_value(t1, "pgpin_info{version=\"" PGPIN_VERSION "\"}"), 1);
    ck_assert_int_ge((int)prom_value(t1, "pgpin_clients{state=\"active\"}"), 1);
    ck_assert_int_eq(
        (int)prom_value(t1, "pgpin_server_connections{db=\"metricsdb\",user=\"odd\\\"us\\\\er"
                            "\\nx\",state=\"active\"}"),
        1);
    ck_assert_int_eq(
        (int)prom_value(t1, "pgpin_pool_size{db=\"metricsdb\",user=\"odd\\\"us\\\\er\\nx\"}"), 20);
    ck_assert_msg(prom_value(t1, "pgpin_wait_seconds_count{db=\"metricsdb\",user=\"odd\\\"us\\\\"
                                 "er\\nx\"}") >= 1,
                  "no wait counted");
    char sv[128];
    PGconn *d = it_connect(IT_DIRECT, "postgres", NULL);
    snprintf(sv, sizeof sv, "pgpin_server_max_connections{server=\"127.0.0.1:%s\"}", PQport(d));
    ck_assert_int_eq((long)prom_value(t1, sv),
                     it_value_long(d, "SELECT current_setting('max_connections')::int"));
    it_expect_error(c, "SELECT 1/0", "22012");
    char *t2 = http_get("/metrics", &status);
    const char *e =
        "pgpin_errors_total{db=\"metricsdb\",user=\"odd\\\"us\\\\er\\nx\",class=\"22\"}";
    ck_assert_int_eq((int)prom_value(t2, e), 1);
    ck_assert_msg(prom_check(t2, err, sizeof err), "%s", err);
    free(http_get("/nope", &status));
    ck_assert_int_eq(status, 404);
    free(t0), free(t1), free(t2);
    PQfinish(c), PQfinish(d);
    PQconninfoFree(opts);
}
END_TEST

/* ---- reload ---- */

/* Replace the line starting with `key =` in the config file with `key = value`. */
static void config_set(const char *key, const char *value)
{
    const char *path = getenv("IT_ADMIN_CONFIG");
    ck_assert_ptr_nonnull(path);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char text[65536];
    size_t n = 0;
    char line[1024];
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ' ') {
            n += (size_t)snprintf(text + n, sizeof text - n, "%s = %s\n", key, value);
            found = true;
        } else {
            n += (size_t)snprintf(text + n, sizeof text - n, "%s", line);
        }
    }
    fclose(f);
    ck_assert_msg(found, "no %s in %s", key, path);
    f = fopen(path, "w");
    ck_assert(f && fwrite(text, 1, n, f) == n && fclose(f) == 0);
}

/* Open 6 clients of reloaddb at once: as many get a server as the pool size allows, and
 * Postgres sees exactly that many connections (never more). */
static void load_expect(PGconn *d, int size)
{
    Async c[6];
    for (int i = 0; i < 6; i++)
        async_start(&c[i], "reloaddb", NULL);
    int up = async_drive(c, 6, WAIT_S, size);
    ck_assert_int_eq(up, size);
    up = async_drive(c, 6, 1.5, 6); /* the others keep waiting */
    ck_assert_int_eq(up, size);
    ck_assert_int_eq(server_count(d, "reloaddb"), size);
    async_finish(c, 6);
}

START_TEST(test_reload_pool_size)
{
    PGconn *a = admin_conn(), *d = it_connect(IT_DIRECT, "postgres", NULL);
    char *v = config_value(a, "default_pool_size");
    ck_assert_str_eq(v, "2");
    free(v);
    load_expect(d, 2);
    ck_assert_int_eq(pool_value(a, "SHOW POOLS", "reloaddb", "pool_size"), 2);

    config_set("default_pool_size", "4");
    PGresult *r = it_exec_res(a, "RELOAD");
    ck_assert_str_eq(PQcmdStatus(r), "RELOAD");
    PQclear(r);
    /* The answer comes once the reload is in place: no waiting needed. */
    v = config_value(a, "default_pool_size");
    ck_assert_str_eq(v, "4");
    free(v);
    ck_assert_int_eq(pool_value(a, "SHOW POOLS", "reloaddb", "pool_size"), 4);
    load_expect(d, 4);

    /* Smaller again: the idle servers above the new size close at the reload. */
    config_set("default_pool_size", "2");
    it_exec(a, "RELOAD");
    double t0 = it_now();
    while (server_count(d, "reloaddb") > 2 && it_now() - t0 < 5)
        usleep(50 * 1000);
    ck_assert_int_eq(server_count(d, "reloaddb"), 2);
    load_expect(d, 2);
    config_set("default_pool_size", "4");
    it_exec(a, "RELOAD");

    /* A broken file: RELOAD says why and the running configuration stays. */
    config_set("default_pool_size", "many");
    it_expect_error(a, "RELOAD", "F0000");
    v = config_value(a, "default_pool_size");
    ck_assert_str_eq(v, "4");
    free(v);
    config_set("default_pool_size", "4");
    it_exec(a, "reload;");
    PQfinish(a), PQfinish(d);
}
END_TEST

int main(void)
{
    g_part = getenv("IT_ADMIN_PART");
    if (!g_part) {
        fprintf(stderr, "it_admin: set IT_ADMIN_PART (console or reload)\n");
        return 2;
    }
    Suite *s = suite_create("it_admin");
    if (strcmp(g_part, "console") == 0) {
        it_add_case(s, "refused_to_non_admins", test_refused, 30);
        it_add_case(s, "startup_reply", test_startup, 30);
        it_add_case(s, "show_version_help_config", test_local_commands, 30);
        it_add_case(s, "errors_then_session_continues", test_errors_continue, 30);
        it_add_case(s, "multi_statement_query", test_multi_statement, 30);
        it_add_case(s, "extended_protocol_refused", test_extended_protocol, 30);
        it_add_case(s, "show_pools", test_show_pools, 60);
        it_add_case(s, "show_clients_servers", test_show_clients_servers, 60);
        it_add_case(s, "show_stats", test_show_stats, 60);
        it_add_case(s, "show_limits", test_show_limits, 60);
        it_add_case(s, "pause_resume_db", test_pause_resume, 60);
        it_add_case(s, "pause_all_new_pool", test_pause_all_new_pool, 60);
        it_add_case(s, "prometheus_checker", test_prom_checker, 30);
        it_add_case(s, "metrics", test_metrics, 60);
    } else if (strcmp(g_part, "reload") == 0) {
        it_add_case(s, "reload_pool_size", test_reload_pool_size, 120);
    } else {
        fprintf(stderr, "it_admin: unknown IT_ADMIN_PART %s\n", g_part);
        return 2;
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
