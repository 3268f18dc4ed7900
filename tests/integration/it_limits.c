/* it_limits.c - connection limits and timeouts (driven by limits.sh, one instance per part).
 *
 * IT_LIMITS_PART says what the instance at PGPIN_IT_PROXY is configured with:
 *   login    client_login_timeout = 2
 *   maxconn  max_client_conn = 20
 *   packet   max_packet_size = 1024
 *   idle     client_idle_timeout = 1 */
#include "itlib.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DB         "appdb"
#define WAIT_MS    10000
#define NSTALL     500 /* half a startup packet each */
#define NSILENT    20  /* connect and send nothing */
#define LOGIN_SECS 2.0
#define MAX_CONN   20
#define PACKET_MAX 1024

static const char *g_part;

/* A plaintext raw startup for appdb whose answer must be ErrorResponse `state`, then close. */
static void raw_expect_error(const char *state, const char *what)
{
    unsigned char buf[256];
    const char *kv[] = {"user", "postgres", "database", DB, NULL};
    char got[6];
    int fd = it_raw_connect(IT_PROXY);
    size_t n = it_build_startup(buf, sizeof buf, 3u << 16, kv);
    /* The proxy may answer before reading; a send error after its close is fine. */
    (void)it_raw_send(fd, buf, n);
    ItOutcome o = it_raw_outcome(fd, WAIT_MS, got);
    close(fd);
    ck_assert_msg(o == IT_OUT_ERROR && strcmp(got, state) == 0, "%s: %s %s, expected %s", what,
                  it_outcome_name(o), got, state);
}

/* ---- client_login_timeout ---- */

typedef struct Stall {
    int fd;
    double t_open, t_eof;
    size_t got;          /* bytes received before EOF */
    unsigned char first; /* first byte received */
} Stall;

START_TEST(test_login_timeout)
{
    static Stall st[NSTALL + NSILENT];
    int n = NSTALL + NSILENT;
    unsigned char pkt[256];
    const char *kv[] = {"user", "postgres", "database", DB, "application_name", "stall", NULL};
    size_t plen = it_build_startup(pkt, sizeof pkt, 3u << 16, kv);
    PGconn *c = it_connect(IT_PROXY, DB, "application_name=it_limits_steady");
    long queries = 0;
    double worst = 0, next_q = it_now(), t_new = -1;

    for (int i = 0; i < n; i++) {
        st[i] = (Stall){.fd = it_raw_connect(IT_PROXY), .t_open = it_now(), .t_eof = -1};
        if (i < NSTALL) ck_assert(it_raw_send(st[i].fd, pkt, plen / 2));
        if (it_now() >= next_q) { /* keep the steady client going while we open */
            double q0 = it_now();
            ck_assert_int_eq(it_value_long(c, "SELECT 1"), 1);
            queries++;
            worst = it_now() - q0 > worst ? it_now() - q0 : worst;
            next_q = it_now() + 0.1;
        }
    }
    double t_opened = it_now();
    fprintf(stderr, "it_limits: %d stalled + %d silent sockets opened in %.2f s\n", NSTALL, NSILENT,
            t_opened - st[0].t_open);

    static struct pollfd p[NSTALL + NSILENT];
    static int map[NSTALL + NSILENT];
    int left = n;
    while (left > 0 && it_now() - t_opened < LOGIN_SECS + 8) {
        int np = 0;
        for (int i = 0; i < n; i++) {
            if (st[i].t_eof >= 0) continue;
            p[np] = (struct pollfd){.fd = st[i].fd, .events = POLLIN};
            map[np++] = i;
        }
        double wait = next_q - it_now();
        poll(p, (nfds_t)np, wait > 0 ? (int)(wait * 1000) + 1 : 0);
        for (int k = 0; k < np; k++) {
            if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            Stall *s = &st[map[k]];
            unsigned char buf[512];
            ssize_t r = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r > 0) {
                if (s->got == 0) s->first = buf[0];
                s->got += (size_t)r;
                continue;
            }
            s->t_eof = it_now();
            close(s->fd);
            left--;
        }
        if (it_now() >= next_q) {
            double q0 = it_now();
            ck_assert_int_eq(it_value_long(c, "SELECT 1"), 1);
            queries++;
            worst = it_now() - q0 > worst ? it_now() - q0 : worst;
            next_q = it_now() + 0.1;
        }
        /* Halfway, a new client logs in as usual. */
        if (t_new < 0 && it_now() - t_opened > 1.0) {
            double c0 = it_now();
            PGconn *c2 = it_connect(IT_PROXY, DB, "application_name=it_limits_new");
            ck_assert_int_eq(it_value_long(c2, "SELECT 2"), 2);
            PQfinish(c2);
            t_new = it_now() - c0;
        }
    }
    double lo = 1e9, hi = 0;
    int early = 0, late = 0, with_error = 0, other = 0;
    for (int i = 0; i < n; i++) {
        if (st[i].t_eof < 0) {
            late++;
            close(st[i].fd);
            continue;
        }
        double d = st[i].t_eof - st[i].t_open;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        if (d < LOGIN_SECS - 0.5) early++;
        if (d > LOGIN_SECS + 4) late++;
        if (st[i].got > 0 && st[i].first == 'E') with_error++;
        if (st[i].got > 0 && st[i].first != 'E') other++;
    }
    fprintf(stderr,
            "it_limits: EOF after %.2f..%.2f s (timeout %.0f s); %d early, %d late/never, "
            "%d with an ErrorResponse first, %d other data; steady client: %ld queries, "
            "slowest %.3f s; a new login took %.3f s\n",
            lo, hi, LOGIN_SECS, early, late, with_error, other, queries, worst, t_new);
    ck_assert_msg(late == 0, "%d sockets not closed within %.0f s", late, LOGIN_SECS + 4);
    ck_assert_msg(early == 0, "%d sockets closed before %.1f s", early, LOGIN_SECS - 0.5);
    ck_assert_msg(other == 0, "%d sockets got something other than an ErrorResponse", other);
    ck_assert_msg(t_new >= 0, "no new login attempted");
    ck_assert_int_ge(queries, 20);
    ck_assert_int_eq(it_value_long(c, "SELECT 3"), 3);
    PQfinish(c);
}
END_TEST

/* One stalled client's answer: 08P01 for the timeout (what the proxy says, then closes). */
START_TEST(test_login_timeout_error)
{
    unsigned char pkt[256];
    const char *kv[] = {"user", "postgres", "database", DB, NULL};
    size_t plen = it_build_startup(pkt, sizeof pkt, 3u << 16, kv);
    int fd = it_raw_connect(IT_PROXY);
    ck_assert(it_raw_send(fd, pkt, plen - 3));
    char state[6];
    double t0 = it_now();
    ItOutcome o = it_raw_outcome(fd, (int)(LOGIN_SECS * 1000) + 4000, state);
    close(fd);
    fprintf(stderr, "it_limits: stalled startup -> %s %s after %.2f s\n", it_outcome_name(o), state,
            it_now() - t0);
    ck_assert_msg(o == IT_OUT_ERROR || o == IT_OUT_CLOSED, "%s", it_outcome_name(o));
    if (o == IT_OUT_ERROR) ck_assert_str_eq(state, "08P01");
}
END_TEST

/* ---- max_client_conn ---- */

static void connect_n(PGconn **c, int n)
{
    char extra[64];
    for (int i = 0; i < n; i++) {
        snprintf(extra, sizeof extra, "application_name=it_limits_%02d", i);
        c[i] = it_connect(IT_PROXY, DB, extra);
    }
}

START_TEST(test_max_client_conn)
{
    PGconn *c[MAX_CONN];
    connect_n(c, MAX_CONN);
    raw_expect_error("53300", "client #21 on a raw socket");
    PGconn *x = it_connect_raw(IT_PROXY, DB, "application_name=it_limits_21 sslmode=disable");
    fprintf(stderr, "it_limits: client #%d (sslmode=disable) -> %s", MAX_CONN + 1,
            PQstatus(x) == CONNECTION_OK ? "connected\n" : PQerrorMessage(x));
    ck_assert_msg(PQstatus(x) != CONNECTION_OK, "client #%d connected", MAX_CONN + 1);
    ck_assert_msg(strstr(PQerrorMessage(x), "max_client_conn"), "%s", PQerrorMessage(x));
    PQfinish(x);
    /* The 20 are fine; when one leaves, a new client gets its place. */
    for (int i = 0; i < MAX_CONN; i++)
        ck_assert_int_eq(it_value_long(c[i], "SELECT 1"), 1);
    PQfinish(c[0]);
    c[0] = NULL;
    for (int i = 0; i < 50 && !c[0]; i++) {
        PGconn *y = it_connect_raw(IT_PROXY, DB, "application_name=it_limits_again");
        if (PQstatus(y) == CONNECTION_OK) {
            c[0] = y;
        } else {
            PQfinish(y);
            usleep(100 * 1000);
        }
    }
    ck_assert_msg(c[0] != NULL, "no place freed within 5 s after a client left");
    ck_assert_int_eq(it_value_long(c[0], "SELECT 1"), 1);
    for (int i = 0; i < MAX_CONN; i++)
        PQfinish(c[i]);
}
END_TEST

/* libpq's default sslmode (prefer) starts with an SSLRequest; since 15.10 (CVE-2024-10977) it
 * shows no text of an error sent in answer to that. Postgres answers the SSLRequest first and
 * says "too many clients" after the StartupMessage, so psql users see why. */
START_TEST(test_max_client_conn_default_sslmode)
{
    PGconn *c[MAX_CONN];
    connect_n(c, MAX_CONN);
    PGconn *x = it_connect_raw(IT_PROXY, DB, "application_name=it_limits_21 sslmode=prefer");
    fprintf(stderr, "it_limits: client #%d (sslmode=prefer) -> %s", MAX_CONN + 1,
            PQstatus(x) == CONNECTION_OK ? "connected\n" : PQerrorMessage(x));
    bool refused = PQstatus(x) != CONNECTION_OK;
    bool says_why = strstr(PQerrorMessage(x), "max_client_conn") != NULL;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(x));
    PQfinish(x);
    for (int i = 0; i < MAX_CONN; i++)
        PQfinish(c[i]);
    ck_assert_msg(refused, "client #%d connected", MAX_CONN + 1);
    ck_assert_msg(says_why,
                  "a libpq client with the default sslmode is not told about max_client_conn "
                  "(the error comes before the SSLRequest is answered): %s",
                  msg);
}
END_TEST

/* With every slot taken, a cancel request still gets through (Postgres serves cancel requests
 * beyond max_connections: they are what frees a saturated server). */
START_TEST(test_cancel_at_max_client_conn)
{
    PGconn *c[MAX_CONN];
    connect_n(c, MAX_CONN);
    PGconn *d = it_connect(IT_DIRECT, DB, NULL);
    ck_assert(PQsendQuery(c[3], "SELECT pg_sleep(4)"));
    /* Running on the server before the cancel is sent (seen straight from Postgres). */
    for (int i = 0; i < 100 && it_value_long(d, "SELECT count(*) FROM pg_stat_activity WHERE "
                                                "application_name = 'it_limits_03' AND "
                                                "state = 'active'") != 1;
         i++)
        usleep(50 * 1000);
    PQfinish(d);
    PGcancel *cc = PQgetCancel(c[3]);
    char err[256] = "", state[6] = "";
    double t0 = it_now();
    ck_assert(PQcancel(cc, err, sizeof err));
    PQfreeCancel(cc);
    PGresult *r;
    while ((r = PQgetResult(c[3])) != NULL) {
        const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (s) snprintf(state, sizeof state, "%s", s);
        PQclear(r);
    }
    double dt = it_now() - t0;
    fprintf(stderr, "it_limits: cancel with all %d slots taken: '%s' after %.3f s\n", MAX_CONN,
            state, dt);
    for (int i = 0; i < MAX_CONN; i++)
        PQfinish(c[i]);
    ck_assert_msg(strcmp(state, "57014") == 0 && dt < 2.0,
                  "the cancel request was not served at max_client_conn: pg_sleep(4) ended "
                  "with '%s' after %.3f s",
                  state, dt);
}
END_TEST

/* ---- max_packet_size ---- */

static char *query_of_len(size_t msg_len)
{
    /* Query message length word = 4 + SQL + NUL. */
    size_t sql = msg_len - 5;
    char *q = malloc(sql + 1);
    ck_assert_ptr_nonnull(q);
    int n = snprintf(q, sql + 1, "SELECT length('");
    memset(q + n, 'x', sql - (size_t)n - 2);
    memcpy(q + sql - 2, "')", 3);
    return q;
}

/* A raw session at ReadyForQuery. */
static int raw_ready(void)
{
    unsigned char buf[256];
    const char *kv[] = {"user", "postgres", "database", DB, NULL};
    char why[256];
    int fd = it_raw_connect(IT_PROXY);
    size_t n = it_build_startup(buf, sizeof buf, 3u << 16, kv);
    ck_assert(it_raw_send(fd, buf, n));
    ck_assert_msg(it_raw_until_ready(fd, WAIT_MS, why, sizeof why), "startup: %s", why);
    return fd;
}

/* Send a frontend message of type with a body of len bytes (length word len + 4). */
static void raw_send_msg(int fd, char type, const void *body, size_t len)
{
    unsigned char *m = malloc(len + 5);
    ck_assert_ptr_nonnull(m);
    m[0] = (unsigned char)type;
    uint32_t l = (uint32_t)len + 4;
    m[1] = (unsigned char)(l >> 24);
    m[2] = (unsigned char)(l >> 16);
    m[3] = (unsigned char)(l >> 8);
    m[4] = (unsigned char)l;
    memcpy(m + 5, body, len);
    (void)it_raw_send(fd, m, len + 5);
    free(m);
}

/* A Query of msg_len on a raw session: refused with 08P01 and a close (true), or answered. */
static bool raw_query_refused(size_t msg_len)
{
    char *q = query_of_len(msg_len), state[6];
    int fd = raw_ready();
    raw_send_msg(fd, 'Q', q, strlen(q) + 1);
    free(q);
    ItOutcome o = it_raw_outcome(fd, WAIT_MS, state);
    close(fd);
    fprintf(stderr, "it_limits: raw Query, length word %zu -> %s %s\n", msg_len, it_outcome_name(o),
            state);
    if (o == IT_OUT_OTHER) return false; /* a RowDescription: it ran */
    ck_assert_msg(o == IT_OUT_ERROR && strcmp(state, "08P01") == 0,
                  "Query with length word %zu: %s %s", msg_len, it_outcome_name(o), state);
    return true;
}

/* After a FATAL error the session is gone: the next query fails. */
static void expect_closed(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT 1");
    ck_assert_msg(PQresultStatus(r) != PGRES_TUPLES_OK, "session still served after FATAL");
    PQclear(r);
    ck_assert_int_eq(PQstatus(c), CONNECTION_BAD);
}

START_TEST(test_max_packet_size)
{
    PGconn *keep = it_connect(IT_PROXY, DB, "application_name=it_limits_keep");
    /* At the limit (the length word counts itself): runs. One byte over, 2000: 08P01. */
    PGconn *c = it_connect(IT_PROXY, DB, NULL);
    char *q = query_of_len(PACKET_MAX);
    ck_assert_int_eq(it_value_long(c, q), (long)PACKET_MAX - 5 - 17);
    free(q);
    PQfinish(c);
    ck_assert_msg(!raw_query_refused(PACKET_MAX), "a Query of exactly max_packet_size refused");
    ck_assert(raw_query_refused(PACKET_MAX + 1));
    ck_assert(raw_query_refused(2000));

    /* libpq: the FATAL text (its SQLSTATE is lost when the close is read with it). */
    c = it_connect(IT_PROXY, DB, NULL);
    q = query_of_len(2000);
    PGresult *r = PQexec(c, q);
    fprintf(stderr, "it_limits: libpq Query of 2000 bytes -> %s %s", PQresStatus(PQresultStatus(r)),
            PQerrorMessage(c));
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_msg(strstr(PQerrorMessage(c), "FATAL"), "%s", PQerrorMessage(c));
    expect_closed(c);
    PQclear(r);
    free(q);
    PQfinish(c);

    /* Bind with a 2000-byte parameter. */
    c = it_connect(IT_PROXY, DB, NULL);
    char *v = malloc(2001);
    ck_assert_ptr_nonnull(v);
    memset(v, 'y', 2000);
    v[2000] = 0;
    const char *params[1] = {v};
    r = PQexecParams(c, "SELECT length($1)", 1, NULL, params, NULL, NULL, 0);
    fprintf(stderr, "it_limits: libpq Bind of 2000 bytes -> %s %s", PQresStatus(PQresultStatus(r)),
            PQerrorMessage(c));
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    expect_closed(c);
    PQclear(r);
    free(v);
    PQfinish(c);

    /* CopyData: 500 bytes go through, 2000 do not. */
    for (int size = 500; size <= 2000; size += 1500) {
        c = it_connect(IT_PROXY, DB, NULL);
        it_exec(c, "CREATE TEMP TABLE pk_t (t text)");
        r = PQexec(c, "COPY pk_t FROM STDIN");
        ck_assert_int_eq(PQresultStatus(r), PGRES_COPY_IN);
        PQclear(r);
        char *row = malloc((size_t)size + 1);
        ck_assert_ptr_nonnull(row);
        memset(row, 'z', (size_t)size);
        row[size - 1] = '\n';
        int ok = PQputCopyData(c, row, size) == 1 && PQputCopyEnd(c, NULL) == 1;
        free(row);
        r = PQgetResult(c);
        fprintf(stderr, "it_limits: CopyData of %d bytes -> %s %s\n", size,
                PQresStatus(PQresultStatus(r)), PQerrorMessage(c));
        if (size < PACKET_MAX) {
            ck_assert_msg(ok && PQresultStatus(r) == PGRES_COMMAND_OK, "COPY: %s",
                          PQerrorMessage(c));
            PQclear(r);
            while ((r = PQgetResult(c)) != NULL)
                PQclear(r);
            ck_assert_int_eq(it_value_long(c, "SELECT length(t) FROM pk_t"), size - 1);
        } else {
            ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
            expect_closed(c);
            PQclear(r);
        }
        PQfinish(c);
    }

    /* pgpin stays up: the client from before and new ones still work. */
    ck_assert_int_eq(it_value_long(keep, "SELECT 1"), 1);
    c = it_connect(IT_PROXY, DB, NULL);
    ck_assert_int_eq(it_value_long(c, "SELECT 1"), 1);
    PQfinish(c);
    PQfinish(keep);
}
END_TEST

/* ---- client_idle_timeout ---- */

START_TEST(test_idle_timeout)
{
    PGconn *idle = it_connect(IT_PROXY, DB, "application_name=it_limits_idle");
    PGconn *tx = it_connect(IT_PROXY, DB, "application_name=it_limits_tx");
    PGconn *busy = it_connect(IT_PROXY, DB, "application_name=it_limits_busy");
    PGconn *chatty = it_connect(IT_PROXY, DB, "application_name=it_limits_chatty");
    it_exec(tx, "BEGIN");
    it_exec(tx, "CREATE TEMP TABLE idle_t (x int)");
    ck_assert(PQsendQuery(busy, "SELECT pg_sleep(3)"));
    /* 3.5 s: idle for more than the timeout (and the once-a-second check) several times over;
     * chatty sends a query every 0.3 s. */
    double t0 = it_now();
    while (it_now() - t0 < 3.5) {
        ck_assert_int_eq(it_value_long(chatty, "SELECT 1"), 1);
        usleep(300 * 1000);
    }
    PGresult *r = PQexec(idle, "SELECT 1");
    fprintf(stderr, "it_limits: idle client after 3.5 s -> %s %s", PQresStatus(PQresultStatus(r)),
            PQerrorMessage(idle));
    ck_assert_msg(PQresultStatus(r) != PGRES_TUPLES_OK, "idle client still served after 3.5 s");
    PQclear(r);
    ck_assert_int_eq(PQstatus(idle), CONNECTION_BAD);
    PQfinish(idle);

    /* Inside a transaction: kept. */
    it_exec(tx, "INSERT INTO idle_t VALUES (1)");
    it_exec(tx, "COMMIT");
    ck_assert_int_eq(it_value_long(tx, "SELECT count(*) FROM idle_t"), 1);
    /* A query running longer than the timeout: kept, and its result arrives. */
    r = PQgetResult(busy);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "long query: %s", PQerrorMessage(busy));
    PQclear(r);
    while ((r = PQgetResult(busy)) != NULL)
        PQclear(r);
    ck_assert_int_eq(it_value_long(chatty, "SELECT 1"), 1);
    PQfinish(tx);
    PQfinish(busy);
    PQfinish(chatty);
}
END_TEST

/* Closed after about a second, not at once and not much later. */
START_TEST(test_idle_timeout_when)
{
    PGconn *c = it_connect(IT_PROXY, DB, "application_name=it_limits_when");
    int fd = PQsocket(c);
    double t0 = it_now();
    /* libpq's socket becomes readable when the proxy sends its error and closes. */
    int w = it_wait_readable(fd, 6000);
    double dt = it_now() - t0;
    fprintf(stderr, "it_limits: idle client closed after %.2f s (timeout 1 s)\n", dt);
    ck_assert_msg(w == 1, "not closed within 6 s");
    ck_assert_msg(dt > 0.9, "closed after %.2f s, before client_idle_timeout", dt);
    PGresult *r = PQexec(c, "SELECT 1");
    ck_assert_msg(PQresultStatus(r) != PGRES_TUPLES_OK, "served after the close");
    PQclear(r);
    PQfinish(c);
}
END_TEST

/* Idle time starts when the last result has been sent, not at the last client message: after
 * a query longer than the timeout the client still has the whole timeout for its next one. */
START_TEST(test_idle_after_long_query)
{
    PGconn *c = it_connect(IT_PROXY, DB, "application_name=it_limits_long");
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(it_value_long(c, "SELECT count(*) FROM pg_sleep(2.5)"), 1);
        /* Less than client_idle_timeout (1 s) after the result. */
        usleep(900 * 1000);
        PGresult *r = PQexec(c, "SELECT 1");
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK,
                      "closed 0.9 s after a 2.5 s query ended (client_idle_timeout = 1): %s",
                      PQerrorMessage(c));
        PQclear(r);
    }
    PQfinish(c);
}
END_TEST

int main(void)
{
    g_part = getenv("IT_LIMITS_PART");
    if (!g_part) {
        fprintf(stderr, "it_limits: IT_LIMITS_PART must be set\n");
        return 2;
    }
    Suite *s = suite_create("it_limits");
    if (strcmp(g_part, "login") == 0) {
        it_add_case(s, "login_timeout_500", test_login_timeout, 60);
        it_add_case(s, "login_timeout_error", test_login_timeout_error, 60);
    } else if (strcmp(g_part, "maxconn") == 0) {
        it_add_case(s, "max_client_conn", test_max_client_conn, 60);
        it_add_case(s, "max_client_conn_default_sslmode", test_max_client_conn_default_sslmode, 60);
        it_add_case(s, "cancel_at_max_client_conn", test_cancel_at_max_client_conn, 60);
    } else if (strcmp(g_part, "packet") == 0) {
        it_add_case(s, "max_packet_size", test_max_packet_size, 60);
    } else if (strcmp(g_part, "idle") == 0) {
        it_add_case(s, "idle_timeout", test_idle_timeout, 60);
        it_add_case(s, "idle_timeout_when", test_idle_timeout_when, 60);
        it_add_case(s, "idle_after_long_query", test_idle_after_long_query, 60);
    } else {
        fprintf(stderr, "it_limits: unknown IT_LIMITS_PART %s\n", g_part);
        return 2;
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
