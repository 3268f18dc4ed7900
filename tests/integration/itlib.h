/* itlib.h - shared helpers for pgpin's integration suites (Check + libpq + raw sockets).
 *
 * The environment says where to connect (conninfo strings without dbname):
 *   PGPIN_IT_PROXY   pgpin's listen address, e.g. "host=127.0.0.1 port=6432 user=postgres"
 *   PGPIN_IT_DIRECT  the Postgres server behind it
 * When both are equal (or PGPIN_IT_NO_PROXY=1) the suites run against Postgres directly and skip
 * the assertions that only a pooler can satisfy (it_through_proxy() is false). */
#ifndef PGPIN_ITLIB_H
#define PGPIN_ITLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <check.h>
#include <libpq-fe.h>

#include "wire.h"

typedef enum { IT_PROXY = 0, IT_DIRECT = 1 } ItTarget;

/* Per-test timeout for tcase_set_timeout (seconds); PGPIN_IT_TIMEOUT overrides. */
int it_timeout(int dflt);

/* Add a one-test case with a timeout of `seconds` (it_timeout lets the environment raise it). */
void it_add_case(Suite *s, const char *name, const TTest *fn, int seconds);

/* Big-endian int32 into p (reading one back: wire_be32 from the core's wire.h). */
static inline void it_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Conninfo (without dbname) for a target; aborts the process if the variable is missing. */
const char *it_conninfo(ItTarget t);

/* False when the "proxy" is really Postgres itself (validation mode). */
bool it_through_proxy(void);

/* Connect to dbname through target; `extra` (may be NULL) is appended to the conninfo (later
 * keywords win). Fails the current test unless CONNECTION_OK. Caller owns the PGconn. */
PGconn *it_connect(ItTarget t, const char *dbname, const char *extra);

/* Same, but never asserts: returns the PGconn whatever its status (caller checks and frees). */
PGconn *it_connect_raw(ItTarget t, const char *dbname, const char *extra);

/* Run SQL, assert PGRES_COMMAND_OK or PGRES_TUPLES_OK, clear the result. */
void it_exec(PGconn *c, const char *sql);

/* Run SQL, assert success; returns the result (caller PQclear()s). */
PGresult *it_exec_res(PGconn *c, const char *sql);

/* Run SQL returning one row, one column; returns a malloc'd copy of the text value ("" for
 * NULL). Caller frees. */
char *it_value(PGconn *c, const char *sql);

/* it_value parsed as a long. */
long it_value_long(PGconn *c, const char *sql);

/* Run SQL that must fail with `sqlstate`; clears the result. */
void it_expect_error(PGconn *c, const char *sql, const char *sqlstate);

/* MD5 of a buffer as 32 lowercase hex chars + NUL. */
void it_md5_hex(const void *data, size_t len, char out[33]);

/* Monotonic seconds. */
double it_now(void);

/* Wait until fd is readable or timeout_ms passes: 1 readable, 0 timeout, -1 error. */
int it_wait_readable(int fd, int timeout_ms);

/* ---- raw protocol over a plain TCP socket ---- */

/* A backend message read by it_raw_read(); body is malloc'd (owned by the ItMsg). */
typedef struct ItMsg {
    char type;
    uint32_t len; /* body length (declared length - 4) */
    unsigned char *body;
} ItMsg;

typedef enum {
    IT_RAW_MSG = 1,      /* a whole message was read */
    IT_RAW_CLOSED = 0,   /* orderly close (EOF) or reset before any byte of a message */
    IT_RAW_TIMEOUT = -1, /* nothing within the timeout: the peer hangs */
    IT_RAW_GARBAGE = -2, /* a partial message or an impossible length */
} ItRawResult;

/* TCP connection to the target's host/port with 5 s send/receive timeouts. Returns the fd or
 * fails the current test. */
int it_raw_connect(ItTarget t);

/* Send all bytes; false on error. */
bool it_raw_send(int fd, const void *buf, size_t len);

/* Read one byte (SSLRequest/GSSENCRequest answers): 1 byte read into *out, 0 EOF, -1 timeout. */
int it_raw_read_byte(int fd, char *out, int timeout_ms);

/* Read one backend message (type, int32 length, body) within timeout_ms in total. */
ItRawResult it_raw_read(int fd, ItMsg *m, int timeout_ms);
void it_msg_free(ItMsg *m);

/* Field `code` ('C' SQLSTATE, 'M' message, 'S' severity) of an ErrorResponse/NoticeResponse,
 * or NULL. Points into m->body. */
const char *it_msg_field(const ItMsg *m, char code);

/* Build a StartupMessage: protocol version then NULL-terminated key/value pairs (kv[0]=key,
 * kv[1]=value, ..., NULL). Returns the byte count written to buf (0 if it does not fit). */
size_t it_build_startup(unsigned char *buf, size_t cap, uint32_t version, const char *const *kv);

/* Read messages until ReadyForQuery ('Z'); returns true if seen within timeout_ms, false on an
 * ErrorResponse, close or timeout (the reason is put in why). */
bool it_raw_until_ready(int fd, int timeout_ms, char *why, size_t whylen);

/* What the peer did after a bad request, for assertions and messages. `sqlstate` holds the
 * SQLSTATE of an ErrorResponse (else ""). */
typedef enum {
    IT_OUT_ERROR,   /* ErrorResponse, then the connection closed */
    IT_OUT_CLOSED,  /* closed without an ErrorResponse */
    IT_OUT_HANG,    /* still open and silent after the timeout */
    IT_OUT_GARBAGE, /* something that is not a well-formed backend message */
    IT_OUT_OTHER,   /* a well-formed message other than ErrorResponse (type in sqlstate[0]) */
} ItOutcome;

/* Read whatever the peer sends within timeout_ms and classify it (AuthenticationOk messages
 * before it are skipped). For IT_OUT_ERROR it also
 * waits (same bound) for the close and reports IT_OUT_HANG if the socket stays open. */
ItOutcome it_raw_outcome(int fd, int timeout_ms, char sqlstate[6]);
const char *it_outcome_name(ItOutcome o);

#endif
