/* itlib.c - shared helpers for pgpin's integration suites; see itlib.h. */
#include "itlib.h"

#include <check.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IT_MAX_MSG (256u * 1024u * 1024u) /* larger declared lengths are garbage here */

int it_timeout(int dflt)
{
    const char *s = getenv("PGPIN_IT_TIMEOUT");
    int v = s ? atoi(s) : 0;
    return v > 0 ? v : dflt;
}

const char *it_conninfo(ItTarget t)
{
    const char *name = t == IT_PROXY ? "PGPIN_IT_PROXY" : "PGPIN_IT_DIRECT";
    const char *s = getenv(name);
    if (!s || !*s) {
        fprintf(stderr, "itlib: environment variable %s is not set\n", name);
        exit(2);
    }
    return s;
}

bool it_through_proxy(void)
{
    const char *no = getenv("PGPIN_IT_NO_PROXY");
    if (no && strcmp(no, "1") == 0) return false;
    return strcmp(it_conninfo(IT_PROXY), it_conninfo(IT_DIRECT)) != 0;
}

PGconn *it_connect_raw(ItTarget t, const char *dbname, const char *extra)
{
    char ci[2048];
    /* A client's own environment must not leak into what the tests send. */
    unsetenv("PGAPPNAME");
    unsetenv("PGOPTIONS");
    unsetenv("PGCLIENTENCODING");
    snprintf(ci, sizeof ci, "%s dbname='%s' connect_timeout=60 %s", it_conninfo(t), dbname,
             extra ? extra : "");
    return PQconnectdb(ci);
}

/* Keeps "NOTICE: table ... does not exist, skipping" and the like out of the test log. */
static void quiet_notice_cb(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

PGconn *it_connect(ItTarget t, const char *dbname, const char *extra)
{
    PGconn *c = it_connect_raw(t, dbname, extra);
    ck_assert_msg(c && PQstatus(c) == CONNECTION_OK, "connect %s db=%s extra=%s failed: %s",
                  t == IT_PROXY ? "proxy" : "direct", dbname, extra ? extra : "",
                  c ? PQerrorMessage(c) : "out of memory");
    PQsetNoticeProcessor(c, quiet_notice_cb, NULL);
    return c;
}

PGresult *it_exec_res(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%.200s: %s: %s", sql,
                  PQresStatus(st), PQerrorMessage(c));
    return r;
}

void it_exec(PGconn *c, const char *sql)
{
    PQclear(it_exec_res(c, sql));
}

char *it_value(PGconn *c, const char *sql)
{
    PGresult *r = it_exec_res(c, sql);
    ck_assert_msg(PQntuples(r) == 1 && PQnfields(r) == 1, "%.200s: expected 1x1, got %dx%d", sql,
                  PQntuples(r), PQnfields(r));
    char *v = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
    PQclear(r);
    ck_assert_ptr_nonnull(v);
    return v;
}

long it_value_long(PGconn *c, const char *sql)
{
    char *v = it_value(c, sql);
    char *end = NULL;
    long n = strtol(v, &end, 10);
    ck_assert_msg(end && *end == '\0' && end != v, "%.200s: not an integer: '%s'", sql, v);
    free(v);
    return n;
}

void it_expect_error(PGconn *c, const char *sql, const char *sqlstate)
{
    PGresult *r = PQexec(c, sql);
    const char *got = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    ck_assert_msg(PQresultStatus(r) == PGRES_FATAL_ERROR && got && strcmp(got, sqlstate) == 0,
                  "%.200s: expected error %s, got %s (%s) %s", sql, sqlstate,
                  PQresStatus(PQresultStatus(r)), got ? got : "-", PQerrorMessage(c));
    PQclear(r);
}

void it_md5_hex(const void *data, size_t len, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ck_assert_msg(EVP_Digest(data, len, md, &n, EVP_md5(), NULL) == 1 && n == 16, "md5 failed");
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

double it_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int it_wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int n = poll(&p, 1, timeout_ms);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        return n > 0 ? 1 : 0;
    }
}

/* ---- raw protocol ---- */

int it_raw_connect(ItTarget t)
{
    PQconninfoOption *opts = PQconninfoParse(it_conninfo(t), NULL);
    char host[256] = "127.0.0.1", port[16] = "5432";
    ck_assert_ptr_nonnull(opts);
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val) continue;
        if (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0)
            snprintf(host, sizeof host, "%s", o->val);
        if (strcmp(o->keyword, "port") == 0) snprintf(port, sizeof port, "%s", o->val);
    }
    PQconninfoFree(opts);

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    ck_assert_msg(rc == 0, "getaddrinfo %s:%s: %s", host, port, gai_strerror(rc));
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    ck_assert_msg(rc == 0, "connect %s:%s: %s", host, port, strerror(errno));
    freeaddrinfo(ai);
    return fd;
}

bool it_raw_send(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Read exactly len bytes before the deadline: 1 ok, 0 EOF/reset at offset 0, -1 timeout,
 * -2 EOF in the middle. */
static int raw_read_exact(int fd, void *buf, size_t len, double deadline)
{
    size_t got = 0;
    while (got < len) {
        int left = (int)((deadline - it_now()) * 1000);
        if (left <= 0) return -1;
        int w = it_wait_readable(fd, left);
        if (w == 0) return -1;
        if (w < 0) return got ? -2 : 0;
        ssize_t n = recv(fd, (char *)buf + got, len - got, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return got ? -2 : 0; /* EOF or ECONNRESET */
        got += (size_t)n;
    }
    return 1;
}

int it_raw_read_byte(int fd, char *out, int timeout_ms)
{
    int r = raw_read_exact(fd, out, 1, it_now() + timeout_ms / 1000.0);
    return r == 1 ? 1 : (r == -1 ? -1 : 0);
}

ItRawResult it_raw_read(int fd, ItMsg *m, int timeout_ms)
{
    double deadline = it_now() + timeout_ms / 1000.0;
    unsigned char hdr[5];
    memset(m, 0, sizeof *m);
    int r = raw_read_exact(fd, hdr, 1, deadline);
    if (r != 1) return r == -1 ? IT_RAW_TIMEOUT : IT_RAW_CLOSED;
    r = raw_read_exact(fd, hdr + 1, 4, deadline);
    if (r != 1) return r == -1 ? IT_RAW_TIMEOUT : IT_RAW_GARBAGE;
    uint32_t len = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];
    m->type = (char)hdr[0];
    if (len < 4 || len > IT_MAX_MSG) {
        /* Keep the 4 bytes: the caller may recognise a protocol-2 style error text. */
        m->len = 4;
        m->body = malloc(5);
        ck_assert_ptr_nonnull(m->body);
        memcpy(m->body, hdr + 1, 4);
        m->body[4] = 0;
        return IT_RAW_GARBAGE;
    }
    m->len = len - 4;
    m->body = malloc(m->len + 1);
    ck_assert_ptr_nonnull(m->body);
    r = raw_read_exact(fd, m->body, m->len, deadline);
    m->body[m->len] = 0;
    if (r == -1) return IT_RAW_TIMEOUT;
    if (r != 1 && m->len > 0) return IT_RAW_GARBAGE;
    return IT_RAW_MSG;
}

void it_msg_free(ItMsg *m)
{
    free(m->body);
    m->body = NULL;
}

const char *it_msg_field(const ItMsg *m, char code)
{
    size_t i = 0;
    while (i < m->len && m->body[i] != 0) {
        char c = (char)m->body[i++];
        const unsigned char *end = memchr(m->body + i, 0, m->len - i);
        if (!end) return NULL;
        if (c == code) return (const char *)m->body + i;
        i = (size_t)(end - m->body) + 1;
    }
    return NULL;
}

size_t it_build_startup(unsigned char *buf, size_t cap, uint32_t version, const char *const *kv)
{
    size_t n = 8;
    if (cap < 9) return 0;
    buf[4] = (unsigned char)(version >> 24);
    buf[5] = (unsigned char)(version >> 16);
    buf[6] = (unsigned char)(version >> 8);
    buf[7] = (unsigned char)version;
    for (int i = 0; kv && kv[i]; i++) {
        size_t l = strlen(kv[i]) + 1;
        if (n + l + 1 > cap) return 0;
        memcpy(buf + n, kv[i], l);
        n += l;
    }
    buf[n++] = 0;
    buf[0] = (unsigned char)(n >> 24);
    buf[1] = (unsigned char)(n >> 16);
    buf[2] = (unsigned char)(n >> 8);
    buf[3] = (unsigned char)n;
    return n;
}

bool it_raw_until_ready(int fd, int timeout_ms, char *why, size_t whylen)
{
    double deadline = it_now() + timeout_ms / 1000.0;
    for (int i = 0; i < 1000; i++) {
        ItMsg m;
        int left = (int)((deadline - it_now()) * 1000);
        ItRawResult r = it_raw_read(fd, &m, left > 0 ? left : 1);
        if (r != IT_RAW_MSG) {
            snprintf(why, whylen, "read result %d before ReadyForQuery", (int)r);
            it_msg_free(&m);
            return false;
        }
        if (m.type == 'E') {
            const char *c = it_msg_field(&m, 'C'), *msg = it_msg_field(&m, 'M');
            snprintf(why, whylen, "ErrorResponse %s: %s", c ? c : "?", msg ? msg : "?");
            it_msg_free(&m);
            return false;
        }
        bool ready = m.type == 'Z';
        it_msg_free(&m);
        if (ready) return true;
    }
    snprintf(why, whylen, "too many messages before ReadyForQuery");
    return false;
}

/* A protocol-2 style error is 'E' then text ("FATAL:  ...") with no length word. */
static bool looks_like_v2_error(const ItMsg *m)
{
    return m->type == 'E' && m->body &&
           (memcmp(m->body, "FATA", 4) == 0 || memcmp(m->body, "ERRO", 4) == 0);
}

ItOutcome it_raw_outcome(int fd, int timeout_ms, char sqlstate[6])
{
    ItMsg m;
    sqlstate[0] = 0;
    ItRawResult r = it_raw_read(fd, &m, timeout_ms);
    /* Postgres says AuthenticationOk before it looks at the database: skip those. */
    for (int i = 0; i < 4 && r == IT_RAW_MSG && m.type == 'R' && m.len == 4 &&
                    memcmp(m.body, "\0\0\0\0", 4) == 0;
         i++) {
        it_msg_free(&m);
        r = it_raw_read(fd, &m, timeout_ms);
    }
    ItOutcome out;
    switch (r) {
    case IT_RAW_CLOSED: it_msg_free(&m); return IT_OUT_CLOSED;
    case IT_RAW_TIMEOUT: it_msg_free(&m); return IT_OUT_HANG;
    case IT_RAW_GARBAGE:
        out = looks_like_v2_error(&m) ? IT_OUT_ERROR : IT_OUT_GARBAGE;
        if (out == IT_OUT_ERROR) snprintf(sqlstate, 6, "v2");
        it_msg_free(&m);
        if (out == IT_OUT_GARBAGE) return out;
        break;
    case IT_RAW_MSG:
        if (m.type != 'E') {
            sqlstate[0] = m.type;
            sqlstate[1] = 0;
            it_msg_free(&m);
            return IT_OUT_OTHER;
        }
        {
            const char *c = it_msg_field(&m, 'C');
            snprintf(sqlstate, 6, "%s", c ? c : "?");
        }
        it_msg_free(&m);
        break;
    }
    /* After an error the server must close: drain until EOF, bounded by time and bytes. */
    double deadline = it_now() + timeout_ms / 1000.0;
    char buf[4096];
    size_t total = 0;
    while (total < (1u << 20)) {
        int left = (int)((deadline - it_now()) * 1000);
        if (left <= 0 || it_wait_readable(fd, left) == 0) return IT_OUT_HANG;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return IT_OUT_ERROR;
        total += (size_t)n;
    }
    return IT_OUT_GARBAGE;
}

const char *it_outcome_name(ItOutcome o)
{
    switch (o) {
    case IT_OUT_ERROR: return "error+close";
    case IT_OUT_CLOSED: return "clean close";
    case IT_OUT_HANG: return "HANG (no answer, still open)";
    case IT_OUT_GARBAGE: return "garbage";
    case IT_OUT_OTHER: return "unexpected message";
    }
    return "?";
}

void it_add_case(Suite *s, const char *name, const TTest *fn, int seconds)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, it_timeout(seconds));
    tcase_add_test(tc, fn);
    suite_add_tcase(s, tc);
}
