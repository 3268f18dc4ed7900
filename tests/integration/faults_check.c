/* faults_check.c - the write checker of tests/integration/faults.sh (plain libpq, no Check).
 *
 *   faults_check run CONNINFO TABLE SECS ACKFILE [PAUSE_MS]
 *       For SECS seconds, insert sequence numbers 1, 2, ... into TABLE (seq bigint) through
 *       CONNINFO, one autocommit INSERT at a time, PAUSE_MS (default 2) apart. Every insert
 *       the server acknowledged is appended to ACKFILE as "seq epoch_ms". On an error the
 *       number is skipped (its outcome is unknown: a commit may have happened before the
 *       connection was lost); a broken connection is replaced by a new one. Prints one line
 *       per outage (first failure to the next acknowledged insert) and a summary line:
 *         summary attempted=N acked=A errors=E reconnects=R outages=K max_gap_ms=G
 *   faults_check verify CONNINFO TABLE ACKFILE
 *       Compares ACKFILE with TABLE: "verify acked=A present=P missing=M extra=X" (extra: rows
 *       whose insert got an error, i.e. committed before the connection went). Exit 1 when an
 *       acknowledged insert is missing.
 *   faults_check login PORT DBNAME
 *       A raw protocol 3.0 login as user postgres to 127.0.0.1:PORT (trust): prints "ok" at
 *       ReadyForQuery, or "error SQLSTATE message" for an ErrorResponse (libpq keeps a login
 *       error's SQLSTATE to itself). Waits up to 120 s.
 *
 * Bounded: the run stops at SECS (a connection attempt or query still blocked then is bounded by
 * CONNINFO's connect_timeout and the caller's timeout(1)). */
#include <libpq-fe.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* One line of an error: SQLSTATE and the first line of its text. */
static void error_text(PGconn *c, const PGresult *r, char *buf, size_t len)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
    snprintf(buf, len, "%s %s", st ? st : "-----", msg && msg[0] ? msg : "(no message)");
    buf[strcspn(buf, "\n")] = '\0';
}

typedef struct Run {
    long attempted, acked, errors, reconnects, outages;
    int64_t last_ack, max_gap, outage_from;
    bool failing;
    char first_error[300];
} Run;

static void run_failed(Run *r, const char *err)
{
    r->errors++;
    if (r->failing) return;
    r->failing = true;
    r->outage_from = r->last_ack ? r->last_ack : now_ms();
    snprintf(r->first_error, sizeof r->first_error, "%s", err);
}

static void run_acked(Run *r, FILE *ack, long seq)
{
    int64_t t = now_ms();
    fprintf(ack, "%ld %lld\n", seq, (long long)t);
    fflush(ack);
    r->acked++;
    if (r->last_ack && t - r->last_ack > r->max_gap) r->max_gap = t - r->last_ack;
    if (r->failing) {
        r->outages++;
        printf("outage from_ms=%lld to_ms=%lld secs=%.3f first_error=\"%s\"\n",
               (long long)r->outage_from, (long long)t, (double)(t - r->outage_from) / 1000.0,
               r->first_error);
        fflush(stdout);
    }
    r->failing = false;
    r->last_ack = t;
}

static int cmd_run(const char *conninfo, const char *table, int secs, const char *ackfile,
                   int pause_ms)
{
    FILE *ack = fopen(ackfile, "w");
    if (!ack) {
        fprintf(stderr, "cannot write %s: %s\n", ackfile, strerror(errno));
        return 2;
    }
    char sql[300], err[300], num[32];
    snprintf(sql, sizeof sql, "INSERT INTO %s (seq) VALUES ($1::bigint)", table);
    Run r = {0};
    PGconn *c = NULL;
    int64_t end = now_ms() + (int64_t)secs * 1000;
    long seq = 0;
    while (now_ms() < end) {
        if (!c || PQstatus(c) != CONNECTION_OK) {
            if (c) r.reconnects++;
            PQfinish(c);
            c = PQconnectdb(conninfo);
            if (PQstatus(c) != CONNECTION_OK) {
                error_text(c, NULL, err, sizeof err);
                run_failed(&r, err);
                sleep_ms(100);
                continue;
            }
        }
        snprintf(num, sizeof num, "%ld", ++seq);
        const char *vals[1] = {num};
        r.attempted++;
        PGresult *res = PQexecParams(c, sql, 1, NULL, vals, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            run_acked(&r, ack, seq);
        } else {
            error_text(c, res, err, sizeof err);
            run_failed(&r, err);
            if (PQstatus(c) == CONNECTION_OK) sleep_ms(50); /* the session goes on (auto) */
        }
        PQclear(res);
        if (pause_ms > 0) sleep_ms(pause_ms);
    }
    PQfinish(c);
    fclose(ack);
    if (r.failing)
        printf("outage from_ms=%lld to_ms=- (not over at the end) first_error=\"%s\"\n",
               (long long)r.outage_from, r.first_error);
    printf("summary attempted=%ld acked=%ld errors=%ld reconnects=%ld outages=%ld max_gap_ms=%lld "
           "recovered=%d\n",
           r.attempted, r.acked, r.errors, r.reconnects, r.outages, (long long)r.max_gap,
           !r.failing);
    return 0;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static bool has(const long *v, size_t n, long x)
{
    return bsearch(&x, v, n, sizeof *v, cmp_long) != NULL;
}

static int cmd_verify(const char *conninfo, const char *table, const char *ackfile)
{
    FILE *f = fopen(ackfile, "r");
    if (!f) {
        fprintf(stderr, "cannot read %s: %s\n", ackfile, strerror(errno));
        return 2;
    }
    size_t nacked = 0, cap = 1024;
    long *acked = malloc(cap * sizeof *acked), seq;
    long long at;
    while (acked && fscanf(f, "%ld %lld", &seq, &at) == 2) {
        if (nacked == cap) {
            long *p = realloc(acked, (cap *= 2) * sizeof *acked);
            if (!p) break;
            acked = p;
        }
        acked[nacked++] = seq;
    }
    fclose(f);
    if (!acked) return 2;
    qsort(acked, nacked, sizeof *acked, cmp_long);
    PGconn *c = PQconnectdb(conninfo);
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT seq FROM %s ORDER BY seq", table);
    PGresult *res = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "verify query failed: %s",
                res ? PQresultErrorMessage(res) : PQerrorMessage(c));
        PQclear(res);
        PQfinish(c);
        free(acked);
        return 2;
    }
    size_t npresent = (size_t)PQntuples(res);
    long *present = malloc((npresent + 1) * sizeof *present);
    for (size_t i = 0; present && i < npresent; i++)
        present[i] = atol(PQgetvalue(res, (int)i, 0));
    PQclear(res);
    PQfinish(c);
    if (!present) return 2;
    size_t missing = 0, extra = 0;
    long first_missing = 0;
    for (size_t i = 0; i < nacked; i++)
        if (!has(present, npresent, acked[i]) && missing++ == 0) first_missing = acked[i];
    for (size_t i = 0; i < npresent; i++)
        if (!has(acked, nacked, present[i])) extra++;
    printf("verify acked=%zu present=%zu missing=%zu extra=%zu", nacked, npresent, missing, extra);
    if (missing) printf(" first_missing=%ld", first_missing);
    printf("\n");
    free(acked);
    free(present);
    return missing ? 1 : 0;
}

/* Read exactly n bytes within the deadline. */
static bool read_full(int fd, void *buf, size_t n, int64_t deadline)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) return false;
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0) return false;
        got += (size_t)r;
    }
    return true;
}

static int cmd_login(int port, const char *db)
{
    unsigned char pkt[256], hdr[5], body[4096];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        printf("connect failed: %s\n", strerror(errno));
        return 1;
    }
    size_t n = 8;
    const char *kv[] = {"user", "postgres", "database", db};
    for (int i = 0; i < 4; i++) {
        size_t l = strlen(kv[i]) + 1;
        if (n + l + 1 > sizeof pkt) return 2;
        memcpy(pkt + n, kv[i], l), n += l;
    }
    pkt[n++] = 0;
    uint32_t len = htonl((uint32_t)n), ver = htonl(3u << 16);
    memcpy(pkt, &len, 4), memcpy(pkt + 4, &ver, 4);
    if (write(fd, pkt, n) != (ssize_t)n) return 1;
    int64_t deadline = now_ms() + 120000;
    for (;;) {
        uint32_t mlen;
        if (!read_full(fd, hdr, 5, deadline)) break;
        memcpy(&mlen, hdr + 1, 4);
        mlen = ntohl(mlen);
        if (mlen < 4 || mlen - 4 > sizeof body - 1 || !read_full(fd, body, mlen - 4, deadline))
            break;
        body[mlen - 4] = 0;
        if (hdr[0] == 'Z') {
            printf("ok\n");
            close(fd);
            return 0;
        }
        if (hdr[0] != 'E') continue;
        const char *st = "?????", *msg = "";
        for (const char *f = (const char *)body; *f && f < (const char *)body + mlen - 4;
             f += strlen(f) + 1) {
            if (f[0] == 'C') st = f + 1;
            if (f[0] == 'M') msg = f + 1;
        }
        printf("error %s %s\n", st, msg);
        close(fd);
        return 1;
    }
    printf("connection closed without ReadyForQuery or ErrorResponse\n");
    close(fd);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "run") == 0)
        return cmd_run(argv[2], argv[3], atoi(argv[4]), argv[5], argc > 6 ? atoi(argv[6]) : 2);
    if (argc == 5 && strcmp(argv[1], "verify") == 0) return cmd_verify(argv[2], argv[3], argv[4]);
    if (argc == 4 && strcmp(argv[1], "login") == 0) return cmd_login(atoi(argv[2]), argv[3]);
    fprintf(stderr, "usage: faults_check run CONNINFO TABLE SECS ACKFILE [PAUSE_MS]\n"
                    "       faults_check verify CONNINFO TABLE ACKFILE\n"
                    "       faults_check login PORT DBNAME\n");
    return 2;
}
