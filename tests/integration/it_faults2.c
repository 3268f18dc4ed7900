/* it_faults2.c - dead peers and overload (issue 9, points 4-6), driven by faults2.sh with one
 * pgpin instance per part. IT_FAULTS2_PART says which; IT_FAULTS2_PGPIN_PID is its process.
 *
 *   dead      PGPIN_IT_DIRECT is a Postgres in a network namespace, reached by pgpin over a
 *             veth pair; IT_FAULTS2_CLIENT_NS (a /run/netns path) is a second namespace from
 *             which IT_FAULTS2_CLIENT_PROXY reaches pgpin over another. IT_FAULTS2_CUT_SERVER,
 *             _HEAL_SERVER, _CUT_CLIENT and _HEAL_CLIENT are shell commands taking a link down
 *             or up. pgpin has tcp_keepidle = 1, tcp_keepintvl = 1, tcp_keepcnt = 3 and
 *             tcp_user_timeout = 3000.
 *   flood     databases appdb (session), idle and flood (auto), max_client_conn = 15000.
 *   slowread  database appdb, defaults.
 *   stall     database appdb, tcp_user_timeout = 2000.
 *
 * Memory bounds are checked on plain builds only: under ASan, shadow memory and the free
 * quarantine make RSS say little about pgpin's own buffers (the figures are still printed). */
#include "itlib.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define DB         "appdb"
#define DETECT_MAX 10.0 /* s: keepalives (1 + 1 x 3 s) or tcp_user_timeout (3 s), with slack */

static const char *g_part;

static const char *env_req(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v, "environment variable %s is not set", name);
    return v;
}

/* Run the shell command held by environment variable `name` (a link down or up). */
static void run_env_cmd(const char *name)
{
    const char *cmd = env_req(name);
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "%s (%s) exited with %d", name, cmd, rc);
}

static pid_t pgpin_pid(void)
{
    return (pid_t)atol(env_req("IT_FAULTS2_PGPIN_PID"));
}

/* pgpin's resident set in kB, 0 when unreadable. */
static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

/* pgpin runs with AddressSanitizer (its RSS is then no measure of its buffers). */
static bool pgpin_asan(pid_t pid)
{
    char path[64], line[512];
    bool asan = false;
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    while (!asan && fgets(line, sizeof line, f))
        asan = strstr(line, "libasan") != NULL;
    fclose(f);
    return asan;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- latency of a steady client ---- */

#define LAT_CAP 20000
typedef struct Lat {
    int n;
    double sum, max;
    double v[LAT_CAP];
} Lat;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double lat_mean_ms(const Lat *l)
{
    return l->n ? l->sum / l->n * 1e3 : 0;
}

static double lat_pct_ms(const Lat *l, double p)
{
    static double tmp[LAT_CAP];
    if (l->n == 0) return 0;
    memcpy(tmp, l->v, sizeof tmp[0] * (size_t)l->n);
    qsort(tmp, (size_t)l->n, sizeof tmp[0], cmp_double);
    int i = (int)(p / 100.0 * (l->n - 1) + 0.5);
    return tmp[i] * 1e3;
}

/* One `SELECT 1`, timed. */
static void lat_query(PGconn *c, Lat *l)
{
    double t0 = it_now();
    ck_assert_int_eq(it_value_long(c, "SELECT 1"), 1);
    double d = it_now() - t0;
    if (l->n < LAT_CAP) l->v[l->n++] = d;
    l->sum += d;
    l->max = d > l->max ? d : l->max;
}

static void lat_print(const char *what, const Lat *l)
{
    fprintf(stderr,
            "it_faults2: %-22s %5d queries: mean %.3f ms, median %.3f, p99 %.3f, max %.3f\n", what,
            l->n, lat_mean_ms(l), lat_pct_ms(l, 50), lat_pct_ms(l, 99), l->max * 1e3);
}

/* Queries paced every `period` seconds for `secs` seconds, sampling pgpin's RSS too. */
static void lat_run(PGconn *c, Lat *l, double secs, double period, long *rss_max)
{
    pid_t pid = pgpin_pid();
    double end = it_now() + secs, next = it_now();
    while (it_now() < end) {
        lat_query(c, l);
        long r = rss_kb(pid);
        if (rss_max && r > *rss_max) *rss_max = r;
        next += period;
        double wait = next - it_now();
        if (wait > 0) usleep((useconds_t)(wait * 1e6));
    }
}

/* The steady client's latency during load may be twice what it was before, plus `slack_ms`
 * for a 2-core machine that also runs the load generator and Postgres. */
static void lat_assert(const Lat *before, const Lat *during, double slack_ms)
{
    double b = lat_mean_ms(before), d = lat_mean_ms(during);
    fprintf(stderr, "it_faults2: latency ratio during/before %.2f (mean %.3f / %.3f ms)\n",
            b > 0 ? d / b : 0, d, b);
    ck_assert_msg(d <= 2 * b + slack_ms,
                  "steady client's mean latency %.3f ms during the load, %.3f ms before (limit: "
                  "2x + %.1f ms)",
                  d, b, slack_ms);
}

/* ---- raw protocol ---- */

static size_t startup_packet(unsigned char *buf, size_t cap, const char *db, const char *app)
{
    const char *kv[] = {"user", "postgres", "database", db, app ? "application_name" : NULL,
                        app,    NULL};
    return it_build_startup(buf, cap, 3u << 16, kv);
}

/* A raw client logged in to db through pgpin (ReadyForQuery seen). */
static int raw_login(const char *db, const char *app)
{
    unsigned char pkt[256];
    char why[256];
    size_t n = startup_packet(pkt, sizeof pkt, db, app);
    int fd = it_raw_connect(IT_PROXY);
    ck_assert(it_raw_send(fd, pkt, n));
    ck_assert_msg(it_raw_until_ready(fd, 10000, why, sizeof why), "login to %s: %s", db, why);
    return fd;
}

static void raw_query_send(int fd, const char *sql)
{
    unsigned char buf[512];
    size_t len = strlen(sql) + 1;
    ck_assert(len + 5 <= sizeof buf);
    buf[0] = 'Q';
    it_put32(buf + 1, (uint32_t)(4 + len));
    memcpy(buf + 5, sql, len);
    ck_assert(it_raw_send(fd, buf, len + 5));
}

/* Run sql on a raw client; the first column of its (single) row as a number. */
static long raw_query_long(int fd, const char *sql)
{
    long v = -1;
    raw_query_send(fd, sql);
    for (int i = 0; i < 100; i++) {
        ItMsg m;
        ck_assert_int_eq(it_raw_read(fd, &m, 10000), IT_RAW_MSG);
        ck_assert_msg(m.type != 'E', "%s: %s", sql, it_msg_field(&m, 'M'));
        if (m.type == 'D' && m.len >= 6) {
            char txt[32];
            uint32_t n = wire_be32(m.body + 2);
            snprintf(txt, sizeof txt, "%.*s", (int)(n < 31 ? n : 31), (const char *)m.body + 6);
            v = atol(txt);
        }
        char t = m.type;
        it_msg_free(&m);
        if (t == 'Z') return v;
    }
    ck_abort_msg("no ReadyForQuery after %s", sql);
    return v;
}

/* ---- dead servers ---- */

/* A client waiting for the cut to reach it: libpq (conn) or raw socket (fd). */
typedef struct Watch {
    const char *what;
    PGconn *conn;
    int fd;
    double after; /* seconds from the cut to its error; < 0 while waiting */
    char state[32];
} Watch;

static void watch_step(Watch *w, double t0)
{
    if (w->conn) {
        if (PQconsumeInput(w->conn) && PQisBusy(w->conn)) return;
        PGresult *r = PQgetResult(w->conn);
        const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        snprintf(w->state, sizeof w->state, "%s",
                 st  ? st
                 : r ? PQresStatus(PQresultStatus(r))
                     : "?");
        PQclear(r);
    } else {
        char st[6];
        ItOutcome o = it_raw_outcome(w->fd, 2000, st);
        snprintf(w->state, sizeof w->state, "%s", o == IT_OUT_ERROR ? st : it_outcome_name(o));
    }
    w->after = it_now() - t0;
}

/* Wait (up to `limit` s after t0) until every watched client got its answer. */
static void watch_all(Watch *w, int n, double t0, double limit)
{
    struct pollfd p[8];
    int left = n;
    while (left > 0 && it_now() - t0 < limit) {
        int map[8], np = 0;
        for (int i = 0; i < n; i++) {
            if (w[i].after >= 0) continue;
            p[np] = (struct pollfd){.fd = w[i].conn ? PQsocket(w[i].conn) : w[i].fd, POLLIN, 0};
            map[np++] = i;
        }
        if (poll(p, (nfds_t)np, 100) <= 0) continue;
        for (int k = 0; k < np; k++) {
            if (!p[k].revents) continue;
            watch_step(&w[map[k]], t0);
            if (w[map[k]].after >= 0) left--;
        }
    }
}

/* Server connections SHOW SERVERS lists for database appdb. */
static int count_servers(void)
{
    PGconn *a = it_connect(IT_PROXY, "pgpin", NULL);
    PGresult *r = it_exec_res(a, "SHOW SERVERS");
    int col = PQfnumber(r, "database"), n = 0;
    ck_assert_int_ge(col, 0);
    for (int i = 0; i < PQntuples(r); i++)
        n += strcmp(PQgetvalue(r, i, col), DB) == 0;
    PQclear(r);
    PQfinish(a);
    return n;
}

/* The server is cut off with no FIN or RST: a client inside a query, one idle in its session
 * and one idle in a transaction all get 08006 within seconds; the idle servers in the pool go
 * too; once the link is back, new clients are served. */
START_TEST(test_server_cut)
{
    run_env_cmd("IT_FAULTS2_HEAL_CLIENT");
    PGconn *sleeper = it_connect(IT_PROXY, DB, "application_name=f2_sleeper");
    int idle = raw_login(DB, "f2_idle"), intx = raw_login(DB, "f2_intx");
    PGconn *spare[2];
    for (int i = 0; i < 2; i++) { /* two more servers, left idle in the pool */
        spare[i] = it_connect(IT_PROXY, DB, "application_name=f2_spare");
        it_exec(spare[i], "SELECT 1");
    }
    for (int i = 0; i < 2; i++)
        PQfinish(spare[i]);
    raw_query_long(intx, "BEGIN");
    ck_assert(PQsendQuery(sleeper, "SELECT pg_sleep(30)"));
    usleep(500 * 1000); /* the query reached the server and was acknowledged */
    int before = count_servers();
    ck_assert_msg(before >= 5, "%d server connections before the cut, expected 5", before);

    run_env_cmd("IT_FAULTS2_CUT_SERVER");
    double t0 = it_now();
    Watch w[3] = {
        {"in SELECT pg_sleep(30)", sleeper, -1, -1, ""},
        {"idle in its session", NULL, idle, -1, ""},
        {"idle in a transaction", NULL, intx, -1, ""},
    };
    watch_all(w, 3, t0, DETECT_MAX + 10);
    for (int i = 0; i < 3; i++)
        fprintf(stderr, "it_faults2: server cut: client %s got %s after %.2f s\n", w[i].what,
                w[i].after >= 0 ? w[i].state : "nothing", w[i].after >= 0 ? w[i].after : 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(w[i].after >= 0, "client %s: no error %.0f s after the cut (hangs)",
                      w[i].what, DETECT_MAX + 10);
        ck_assert_msg(strcmp(w[i].state, "08006") == 0, "client %s got %s, expected 08006",
                      w[i].what, w[i].state);
        ck_assert_msg(w[i].after <= DETECT_MAX, "client %s: error only after %.2f s", w[i].what,
                      w[i].after);
    }
    /* The pooled idle servers are found dead too (keepalives), not kept for the next client. */
    int left = count_servers();
    while (left > 0 && it_now() - t0 < DETECT_MAX) {
        usleep(100 * 1000);
        left = count_servers();
    }
    fprintf(stderr, "it_faults2: server cut: %d of %d server connections left after %.2f s\n", left,
            before, it_now() - t0);
    ck_assert_msg(left == 0, "%d dead server connections still listed %.0f s after the cut", left,
                  DETECT_MAX);

    /* Link back: a new client is served (the first connect attempts may still meet the
     * neighbour entry the cut left failed: "No route to host"; retrying is the pool's job). */
    run_env_cmd("IT_FAULTS2_HEAL_SERVER");
    double t1 = it_now();
    int attempts = 0;
    bool served = false;
    while (!served && it_now() - t1 < DETECT_MAX) {
        PGconn *c = it_connect_raw(IT_PROXY, DB, "application_name=f2_after connect_timeout=10");
        attempts++;
        PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, "SELECT 42") : NULL;
        served = r && PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!served) fprintf(stderr, "it_faults2: link back: %s", PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        if (!served) usleep(200 * 1000);
    }
    fprintf(stderr, "it_faults2: link back: a new client served after %.2f s (%d attempts)\n",
            it_now() - t1, attempts);
    ck_assert_msg(served, "no client served %.0f s after the link came back", DETECT_MAX);
    PQfinish(sleeper);
    close(idle);
    close(intx);
}
END_TEST

/* ---- dead clients ---- */

/* Connect from the client namespace (the socket stays there after we leave it). */
static PGconn *client_ns_connect(const char *app)
{
    char ci[512];
    int home = open("/proc/self/ns/net", O_RDONLY),
        ns = open(env_req("IT_FAULTS2_CLIENT_NS"), O_RDONLY);
    ck_assert_msg(home >= 0 && ns >= 0, "open netns: %s", strerror(errno));
    ck_assert_msg(setns(ns, CLONE_NEWNET) == 0, "setns: %s", strerror(errno));
    snprintf(ci, sizeof ci, "%s dbname=%s application_name=%s connect_timeout=10",
             env_req("IT_FAULTS2_CLIENT_PROXY"), DB, app);
    PGconn *c = PQconnectdb(ci);
    ck_assert_msg(setns(home, CLONE_NEWNET) == 0, "setns back: %s", strerror(errno));
    close(ns);
    close(home);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect from the client namespace: %s",
                  PQerrorMessage(c));
    return c;
}

/* pg_stat_activity's "state|query" of backend pid, or "" when it is gone. */
static void backend_state(PGconn *d, long pid, char *out, size_t len)
{
    char sql[200];
    snprintf(
        sql, sizeof sql,
        "SELECT coalesce(max(state || '|' || query), '') FROM pg_stat_activity WHERE pid = %ld",
        pid);
    char *v = it_value(d, sql);
    snprintf(out, len, "%s", v);
    free(v);
}

/* The client side is cut off with no FIN or RST: a client idle in a transaction has its server
 * closed, an idle one has it reset and pooled again, one that was being sent a large result
 * has it closed, all within seconds. */
START_TEST(test_client_cut)
{
    run_env_cmd("IT_FAULTS2_HEAL_SERVER"); /* were a test before this one to fail mid-cut */
    PGconn *tx = client_ns_connect("f2_tx"), *clean = client_ns_connect("f2_clean"),
           *reader = client_ns_connect("f2_reader");
    long pid_tx = it_value_long(tx, "SELECT pg_backend_pid()");
    long pid_clean = it_value_long(clean, "SELECT pg_backend_pid()");
    long pid_reader = it_value_long(reader, "SELECT pg_backend_pid()");
    it_exec(tx, "BEGIN");
    it_exec(tx, "SELECT 1");
    ck_assert(PQsendQuery(reader, "SELECT repeat('x', 1000000) FROM generate_series(1, 1000)"));
    usleep(1000 * 1000); /* the reader's socket buffers fill; pgpin holds the server back */

    run_env_cmd("IT_FAULTS2_CUT_CLIENT");
    double t0 = it_now(), t_tx = -1, t_clean = -1, t_reader = -1;
    PGconn *d = it_connect(IT_DIRECT, DB, "application_name=f2_observer");
    char st[300];
    while ((t_tx < 0 || t_clean < 0 || t_reader < 0) && it_now() - t0 < DETECT_MAX + 5) {
        backend_state(d, pid_tx, st, sizeof st);
        if (t_tx < 0 && st[0] == '\0') t_tx = it_now() - t0;
        backend_state(d, pid_clean, st, sizeof st);
        if (t_clean < 0 && strcmp(st, "idle|DISCARD ALL") == 0) t_clean = it_now() - t0;
        backend_state(d, pid_reader, st, sizeof st);
        if (t_reader < 0 && st[0] == '\0') t_reader = it_now() - t0;
        usleep(100 * 1000);
    }
    fprintf(stderr,
            "it_faults2: client cut: server of the client idle in a transaction closed after "
            "%.2f s, of the idle client reset after %.2f s, of the client being sent 1 GB closed "
            "after %.2f s (-1: not seen)\n",
            t_tx, t_clean, t_reader);
    ck_assert_msg(t_tx >= 0 && t_tx <= DETECT_MAX,
                  "server of the dead client in a transaction not closed (%.2f s)", t_tx);
    ck_assert_msg(t_clean >= 0 && t_clean <= DETECT_MAX,
                  "server of the dead idle client not reset (%.2f s)", t_clean);
    ck_assert_msg(t_reader >= 0 && t_reader <= DETECT_MAX,
                  "server of the dead client mid-result not closed (%.2f s)", t_reader);
    run_env_cmd("IT_FAULTS2_HEAL_CLIENT");
    PQfinish(d);
    PQfinish(tx);
    PQfinish(clean);
    PQfinish(reader);
}
END_TEST

/* ---- flood ---- */

#define NIDLE          5000
#define FLOOD_N        20000
#define FLOOD_SECS     10.0
#define FLOOD_INFLIGHT 1000
#define FLOOD_TIMEOUT  5.0
#define LAT_PERIOD     0.005

typedef struct FloodStats {
    long started, connected, logged_in, refused, closed_early, failed, timed_out;
    double secs;
} FloodStats;

/* One flood connection. Kinds: 0 connect and reset, 1 half a startup packet then close,
 * 2 log in then Terminate, 3 a whole startup packet then reset without reading. */
typedef struct FloodConn {
    int fd, kind;
    double started;
    bool connected;
    unsigned char hdr[5];
    int hdr_n;
    uint32_t skip; /* body bytes of the current message still to skip */
} FloodConn;

static void flood_close(int ep, FloodConn *c, bool reset)
{
    if (reset) {
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

/* Bytes from pgpin on a kind 2 connection: 1 logged in, -1 refused, 0 more to read. */
static int flood_parse(FloodConn *c, const unsigned char *p, size_t n)
{
    while (n > 0) {
        if (c->skip > 0) {
            size_t k = n < c->skip ? n : c->skip;
            c->skip -= (uint32_t)k, p += k, n -= k;
            continue;
        }
        c->hdr[c->hdr_n++] = *p++, n--;
        if (c->hdr_n < 5) continue;
        c->hdr_n = 0;
        if (c->hdr[0] == 'Z') return 1;
        if (c->hdr[0] == 'E') return -1;
        c->skip = wire_be32(c->hdr + 1) - 4;
    }
    return 0;
}

static void flood_event(int ep, FloodConn *c, uint32_t ev, FloodStats *st, const unsigned char *pkt,
                        size_t plen)
{
    if (!c->connected) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (ev & (EPOLLERR | EPOLLHUP))) {
            st->failed++;
            flood_close(ep, c, false);
            return;
        }
        c->connected = true;
        st->connected++;
        if (c->kind == 0) {
            flood_close(ep, c, true);
        } else if (c->kind == 1) {
            (void)!send(c->fd, pkt, plen / 2, MSG_NOSIGNAL);
            flood_close(ep, c, false);
        } else if (c->kind == 3) {
            (void)!send(c->fd, pkt, plen, MSG_NOSIGNAL);
            flood_close(ep, c, true);
        } else {
            (void)!send(c->fd, pkt, plen, MSG_NOSIGNAL);
            struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
        }
        return;
    }
    unsigned char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    int r = n > 0 ? flood_parse(c, buf, (size_t)n) : 0;
    if (n <= 0) {
        st->closed_early++;
        flood_close(ep, c, false);
    } else if (r > 0) {
        st->logged_in++;
        (void)!send(c->fd, "X\0\0\0\4", 5, MSG_NOSIGNAL);
        flood_close(ep, c, false);
    } else if (r < 0) {
        st->refused++;
        flood_close(ep, c, false);
    }
}

/* Start one attempt in a free slot; false when the socket could not even be made. */
static bool flood_start(int ep, FloodConn *c, int kind, const struct sockaddr_in *sa,
                        FloodStats *st)
{
    *c = (FloodConn){.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), .kind = kind};
    c->started = it_now();
    st->started++;
    if (c->fd < 0) {
        st->failed++;
        return false;
    }
    if (connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) != 0 && errno != EINPROGRESS) {
        st->failed++;
        close(c->fd);
        c->fd = -1;
        return false;
    }
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
    return true;
}

/* FLOOD_N attempts paced over FLOOD_SECS, at most FLOOD_INFLIGHT open at once. */
static void flood_run(const struct sockaddr_in *sa, FloodStats *st)
{
    static FloodConn conns[FLOOD_INFLIGHT];
    unsigned char pkt[256];
    size_t plen = startup_packet(pkt, sizeof pkt, "flood", NULL);
    int ep = epoll_create1(0), inflight = 0;
    struct epoll_event evs[256];
    for (int i = 0; i < FLOOD_INFLIGHT; i++)
        conns[i].fd = -1;
    double t0 = it_now(), last_sweep = t0;
    int slot = 0;
    while ((st->started < FLOOD_N || inflight > 0) && it_now() - t0 < FLOOD_SECS + 30) {
        double now = it_now();
        while (st->started < FLOOD_N && now >= t0 + st->started * (FLOOD_SECS / FLOOD_N) &&
               inflight < FLOOD_INFLIGHT) {
            while (conns[slot].fd >= 0)
                slot = (slot + 1) % FLOOD_INFLIGHT;
            flood_start(ep, &conns[slot], (int)(st->started % 4), sa, st);
        }
        int n = epoll_wait(ep, evs, 256, 1);
        for (int i = 0; i < n; i++)
            flood_event(ep, evs[i].data.ptr, evs[i].events, st, pkt, plen);
        if (now - last_sweep > 0.1) {
            last_sweep = now;
            for (int i = 0; i < FLOOD_INFLIGHT; i++)
                if (conns[i].fd >= 0 && now - conns[i].started > FLOOD_TIMEOUT) {
                    st->timed_out++;
                    flood_close(ep, &conns[i], true);
                }
        }
        inflight = 0;
        for (int i = 0; i < FLOOD_INFLIGHT; i++)
            inflight += conns[i].fd >= 0;
    }
    st->secs = it_now() - t0;
    close(ep);
}

static void proxy_sockaddr(struct sockaddr_in *sa)
{
    PQconninfoOption *opts = PQconninfoParse(it_conninfo(IT_PROXY), NULL);
    ck_assert_ptr_nonnull(opts);
    *sa = (struct sockaddr_in){.sin_family = AF_INET};
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (o->val && strcmp(o->keyword, "host") == 0) inet_pton(AF_INET, o->val, &sa->sin_addr);
        if (o->val && strcmp(o->keyword, "port") == 0) sa->sin_port = htons((uint16_t)atoi(o->val));
    }
    PQconninfoFree(opts);
}

/* 5,000 idle clients held, then 20,000 connection attempts in 10 s from another process:
 * pgpin stays up, its RSS bounded, the idle clients still answered, and a steady client's
 * latency within 2x of what it was before. */
START_TEST(test_flood)
{
    static int idle[NIDLE];
    static Lat before, during;
    pid_t pid = pgpin_pid();
    bool asan = pgpin_asan(pid);
    struct sockaddr_in sa;
    raise_nofile();
    proxy_sockaddr(&sa);
    PGconn *steady = it_connect(IT_PROXY, DB, "application_name=f2_steady");
    long rss0 = rss_kb(pid);
    double t_idle = it_now();
    for (int i = 0; i < NIDLE; i++)
        idle[i] = raw_login("idle", NULL);
    long rss_idle = rss_kb(pid);
    fprintf(stderr,
            "it_faults2: %d idle clients logged in in %.2f s; pgpin RSS %ld kB before, "
            "%ld kB with them\n",
            NIDLE, it_now() - t_idle, rss0, rss_idle);

    lat_run(steady, &before, 3.0, LAT_PERIOD, NULL);
    int pfd[2];
    ck_assert(pipe(pfd) == 0);
    pid_t child = fork();
    ck_assert(child >= 0);
    if (child == 0) {
        FloodStats st = {0};
        close(pfd[0]);
        flood_run(&sa, &st);
        (void)!write(pfd[1], &st, sizeof st);
        _exit(0);
    }
    close(pfd[1]);
    long rss_peak = 0;
    int status;
    while (waitpid(child, &status, WNOHANG) == 0)
        lat_run(steady, &during, 0.2, LAT_PERIOD, &rss_peak);
    FloodStats st = {0};
    ck_assert_int_eq(read(pfd[0], &st, sizeof st), (int)sizeof st);
    close(pfd[0]);
    sleep(2); /* the flood's leftovers closed */
    long rss_after = rss_kb(pid);

    fprintf(stderr,
            "it_faults2: flood: %ld attempts in %.2f s (%.0f/s): %ld connected, %ld logged in, "
            "%ld refused, %ld closed early, %ld failed to connect, %ld timed out\n",
            st.started, st.secs, st.started / st.secs, st.connected, st.logged_in, st.refused,
            st.closed_early, st.failed, st.timed_out);
    fprintf(stderr,
            "it_faults2: flood: pgpin RSS %ld kB with the idle clients, peak %ld kB "
            "during the flood, %ld kB 2 s after%s\n",
            rss_idle, rss_peak, rss_after, asan ? " (ASan build: not asserted)" : "");
    lat_print("steady before", &before);
    lat_print("steady during flood", &during);

    ck_assert_msg(kill(pid, 0) == 0, "pgpin is gone");
    ck_assert_int_eq(it_value_long(steady, "SELECT 7"), 7);
    /* Every idle client is still there: a sample of them is answered. */
    for (int i = 0; i < NIDLE; i += NIDLE / 50)
        ck_assert_int_eq(raw_query_long(idle[i], "SELECT 3"), 3);
    ck_assert_msg(st.started == FLOOD_N && st.secs < FLOOD_SECS + 5,
                  "flood: %ld attempts in %.1f s", st.started, st.secs);
    ck_assert_msg(st.logged_in >= FLOOD_N / 4 * 9 / 10, "flood: only %ld of %d logins completed",
                  st.logged_in, FLOOD_N / 4);
    if (!asan) {
        ck_assert_msg(rss_peak < rss_idle + 64 * 1024,
                      "pgpin RSS peaked at %ld kB during the flood (%ld kB before it)", rss_peak,
                      rss_idle);
        ck_assert_msg(rss_idle < rss0 + 5 * NIDLE, "%d idle clients cost %ld kB", NIDLE,
                      rss_idle - rss0);
    }
    lat_assert(&before, &during, 1.0);
    for (int i = 0; i < NIDLE; i++)
        close(idle[i]);
    PQfinish(steady);
}
END_TEST

/* ---- out of descriptors ---- */

#define FD_LIMIT 400 /* pgpin's open-files limit for this test */
#define FD_CONNS 600 /* connections held open without a word */

/* pgpin's CPU time so far (user + system), in seconds. */
static double cpu_secs(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long ut = 0, st = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* fields 14 and 15 follow the command name */
    ck_assert(p &&
              sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Lines of pgpin's log holding `what`. */
static int log_count(const char *what)
{
    char line[1024];
    int n = 0;
    FILE *f = fopen(env_req("IT_FAULTS2_LOG"), "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        n += strstr(line, what) != NULL;
    fclose(f);
    return n;
}

/* pgpin runs out of descriptors (its limit lowered to 400, 600 connections held): it neither
 * spins on the listening socket nor floods its log, its clients are served meanwhile, and it
 * accepts again as soon as descriptors are free. */
START_TEST(test_fd_exhaustion)
{
    static int fds[FD_CONNS];
    static Lat lat;
    pid_t pid = pgpin_pid();
    struct rlimit old, lim;
    PGconn *steady = it_connect(IT_PROXY, DB, "application_name=f2_steady");
    int logged0 = log_count("accept failed");
    raise_nofile();
    /* The soft limit only: raising a hard one again needs CAP_SYS_RESOURCE. */
    ck_assert(prlimit(pid, RLIMIT_NOFILE, NULL, &old) == 0);
    lim = (struct rlimit){FD_LIMIT, old.rlim_max};
    ck_assert_msg(prlimit(pid, RLIMIT_NOFILE, &lim, NULL) == 0, "prlimit: %s", strerror(errno));
    for (int i = 0; i < FD_CONNS; i++)
        fds[i] = it_raw_connect(IT_PROXY); /* the kernel completes them into the backlog */
    usleep(500 * 1000);
    double cpu0 = cpu_secs(pid), t0 = it_now();
    lat_run(steady, &lat, 2.0, LAT_PERIOD, NULL);
    double cpu = (cpu_secs(pid) - cpu0) / (it_now() - t0);
    for (int i = 0; i < FD_CONNS; i++)
        close(fds[i]);
    ck_assert(prlimit(pid, RLIMIT_NOFILE, &old, NULL) == 0);
    double t1 = it_now();
    PGconn *c = it_connect(IT_PROXY, DB, "application_name=f2_after connect_timeout=10");
    ck_assert_int_eq(it_value_long(c, "SELECT 5"), 5);
    double t_new = it_now() - t1;
    int logged = log_count("accept failed") - logged0;
    fprintf(stderr,
            "it_faults2: out of descriptors: pgpin used %.0f%% of a core, logged %d 'accept "
            "failed' lines; a new client served %.2f s after descriptors were free\n",
            cpu * 100, logged, t_new);
    lat_print("steady, no descriptors", &lat);
    ck_assert_msg(cpu < 0.25, "pgpin used %.0f%% of a core while out of descriptors", cpu * 100);
    ck_assert_msg(logged >= 1 && logged <= 4, "%d 'accept failed' lines logged", logged);
    ck_assert_msg(t_new < 3.0, "a new client waited %.2f s", t_new);
    ck_assert_msg(lat_mean_ms(&lat) < 5.0, "steady client's mean latency %.3f ms",
                  lat_mean_ms(&lat));
    PQfinish(c);
    PQfinish(steady);
}
END_TEST

/* ---- a client that stops reading ---- */

#define BIG_SQL   "SELECT repeat('x', 1000000) FROM generate_series(1, 1000)"
#define BIG_ROWS  1000
#define RSS_LIMIT (64 * 1024) /* kB */

/* Read the stalled result to its end: rows seen, each checked for its size. */
static long read_big(int fd, pid_t pid, long *rss_max)
{
    long rows = 0;
    for (long i = 0; i < BIG_ROWS + 10; i++) {
        ItMsg m;
        ck_assert_int_eq(it_raw_read(fd, &m, 30000), IT_RAW_MSG);
        char t = m.type;
        if (t == 'D') {
            ck_assert_int_eq(m.len, 2 + 4 + 1000000);
            ck_assert_int_eq(wire_be32(m.body + 2), 1000000);
            rows++;
        }
        ck_assert_msg(t != 'E', "error: %s", it_msg_field(&m, 'M'));
        it_msg_free(&m);
        if (rows % 50 == 0) {
            long r = rss_kb(pid);
            *rss_max = r > *rss_max ? r : *rss_max;
        }
        if (t == 'Z') break;
    }
    return rows;
}

/* For `secs` seconds: the steady client's queries for a second, then the other client's 20 MB
 * result, and again. Returns the longest 20 MB result in seconds. */
static double slow_phase(PGconn *steady, PGconn *mover, Lat *lat, double secs, long *rss_max)
{
    double t0 = it_now(), worst = 0;
    while (it_now() - t0 < secs) {
        lat_run(steady, lat, 1.0, LAT_PERIOD, rss_max);
        double m0 = it_now();
        PGresult *r = it_exec_res(mover, "SELECT repeat('y', 1000000) FROM generate_series(1, 20)");
        ck_assert_int_eq(PQntuples(r), 20);
        PQclear(r);
        worst = it_now() - m0 > worst ? it_now() - m0 : worst;
    }
    return worst;
}

/* A client that stops reading a 1 GB result: pgpin's memory stays bounded (the server is read
 * no faster than the client takes it), other clients keep their latency and move their own
 * large results, and the stalled result arrives whole when the client reads again. */
START_TEST(test_slow_reader)
{
    static Lat before, during;
    pid_t pid = pgpin_pid();
    bool asan = pgpin_asan(pid);
    PGconn *steady = it_connect(IT_PROXY, DB, "application_name=f2_steady"),
           *mover = it_connect(IT_PROXY, DB, "application_name=f2_mover");
    PGconn *d = it_connect(IT_DIRECT, DB, "application_name=f2_observer");
    long rss0 = rss_kb(pid), rss_max = rss0;
    double mover_before = slow_phase(steady, mover, &before, 3.0, NULL);

    int slow = raw_login(DB, "f2_slow");
    long pid_slow = raw_query_long(slow, "SELECT pg_backend_pid()");
    raw_query_send(slow, BIG_SQL);
    double mover_max = slow_phase(steady, mover, &during, 8.0, &rss_max);
    char sql[160], *wait_ev;
    snprintf(sql, sizeof sql,
             "SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = %ld", pid_slow);
    wait_ev = it_value(d, sql);
    long rss_stalled = rss_kb(pid);
    double t_read = it_now();
    long rows = read_big(slow, pid, &rss_max);
    double read_secs = it_now() - t_read;

    fprintf(stderr,
            "it_faults2: slow reader: pgpin RSS %ld kB before, %ld kB after 8 s stalled on 1 GB "
            "(its backend waits on %s), max %ld kB (limit %d)%s\n",
            rss0, rss_stalled, wait_ev[0] ? wait_ev : "nothing", rss_max, RSS_LIMIT,
            asan ? " (ASan build: not asserted)" : "");
    fprintf(stderr,
            "it_faults2: slow reader: the other client's 20 MB results took at most %.3f s "
            "(%.3f s before the stall); the stalled 1 GB then read in %.2f s (%ld rows)\n",
            mover_max, mover_before, read_secs, rows);
    lat_print("steady before", &before);
    lat_print("steady during stall", &during);

    ck_assert_int_eq(rows, BIG_ROWS);
    ck_assert_msg(strcmp(wait_ev, "ClientWrite") == 0,
                  "the stalled client's backend waits on '%s', expected ClientWrite", wait_ev);
    if (!asan) ck_assert_msg(rss_max < RSS_LIMIT, "pgpin RSS reached %ld kB", rss_max);
    ck_assert_msg(mover_max < 2.0, "another client's 20 MB result took %.2f s", mover_max);
    lat_assert(&before, &during, 1.0);
    free(wait_ev);
    close(slow);
    PQfinish(d);
    PQfinish(mover);
    PQfinish(steady);
}
END_TEST

/* The price of tcp_user_timeout (2000 ms in this part's instance): the kernel drops a client
 * that leaves its receive window full that long as if it were gone, so its server is closed
 * mid-result, and pgpin goes on. */
START_TEST(test_stall_user_timeout)
{
    PGconn *d = it_connect(IT_DIRECT, DB, "application_name=f2_observer");
    int slow = raw_login(DB, "f2_stall");
    long pid_slow = raw_query_long(slow, "SELECT pg_backend_pid()");
    char st[300];
    raw_query_send(slow, BIG_SQL);
    double t0 = it_now(), gone = -1;
    while (gone < 0 && it_now() - t0 < DETECT_MAX) {
        backend_state(d, pid_slow, st, sizeof st);
        if (st[0] == '\0') gone = it_now() - t0;
        usleep(100 * 1000);
    }
    size_t got = 0; /* what the client can still read: the socket buffers' worth, then the end */
    char buf[65536];
    for (ssize_t n; (n = recv(slow, buf, sizeof buf, 0)) > 0;)
        got += (size_t)n;
    fprintf(stderr,
            "it_faults2: stalled reader with tcp_user_timeout = 2000: its server closed after "
            "%.2f s; it could read %zu kB more, then %s\n",
            gone, got / 1024, strerror(errno));
    ck_assert_msg(gone >= 1.5 && gone <= DETECT_MAX, "server closed after %.2f s", gone);
    ck_assert_msg(got < 100u * 1024 * 1024, "%zu bytes read after the drop", got);
    close(slow);
    PGconn *c = it_connect(IT_PROXY, DB, "application_name=f2_after");
    ck_assert_int_eq(it_value_long(c, "SELECT 6"), 6);
    PQfinish(c);
    PQfinish(d);
}
END_TEST

int main(void)
{
    g_part = getenv("IT_FAULTS2_PART");
    if (!g_part) {
        fprintf(stderr, "it_faults2: IT_FAULTS2_PART must be set\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("it_faults2");
    if (strcmp(g_part, "dead") == 0) {
        it_add_case(s, "server_cut", test_server_cut, 90);
        it_add_case(s, "client_cut", test_client_cut, 90);
    } else if (strcmp(g_part, "flood") == 0) {
        it_add_case(s, "flood", test_flood, 120);
        it_add_case(s, "fd_exhaustion", test_fd_exhaustion, 60);
    } else if (strcmp(g_part, "slowread") == 0) {
        it_add_case(s, "slow_reader", test_slow_reader, 120);
    } else if (strcmp(g_part, "stall") == 0) {
        it_add_case(s, "stall_user_timeout", test_stall_user_timeout, 60);
    } else {
        fprintf(stderr, "it_faults2: unknown IT_FAULTS2_PART %s\n", g_part);
        return 2;
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
