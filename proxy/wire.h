/* wire.h - pure PostgreSQL protocol codec: bounded reader, header checks, startup packet
 * parser and message builders. No I/O, no event loop: unit tests feed it raw bytes. */
#ifndef PGPIN_WIRE_H
#define PGPIN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_WUR __attribute__((warn_unused_result))

/* ---- Bounded reader: every read knows how many bytes are left. ---- */
typedef struct WireReader {
    const uint8_t *p;
    size_t left;
} WireReader;

void wire_reader_init(WireReader *r, const void *buf, size_t len);
/* Each getter returns false (and consumes nothing) when the bytes are not there. */
bool wire_get_u8(WireReader *r, uint8_t *out) WIRE_WUR;
bool wire_get_i16(WireReader *r, int16_t *out) WIRE_WUR;
bool wire_get_i32(WireReader *r, int32_t *out) WIRE_WUR;
bool wire_get_u32(WireReader *r, uint32_t *out) WIRE_WUR;
/* A NUL-terminated string; *out points into the buffer (borrowed). */
bool wire_get_string(WireReader *r, const char **out) WIRE_WUR;
bool wire_get_bytes(WireReader *r, size_t n, const uint8_t **out) WIRE_WUR;
static inline bool wire_at_end(const WireReader *r)
{
    return r->left == 0;
}

static inline uint32_t wire_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- Header checks (rule 2: before buffering). len counts itself, not the type byte. ---- */
typedef enum {
    WIRE_OK = 0,
    WIRE_BAD_TYPE,   /* type not legal here */
    WIRE_BAD_LENGTH, /* < 4, or not the fixed size the type requires */
    WIRE_TOO_LONG,   /* over the per-type limit */
} WireCheck;

/* A frontend message after startup. max_packet caps the large types (Query, Parse, Bind,
 * FunctionCall, CopyData); the rest are small as in Postgres. */
WireCheck wire_check_frontend(uint8_t type, uint32_t len, uint32_t max_packet);
/* A backend message. */
WireCheck wire_check_backend(uint8_t type, uint32_t len);
const char *wire_check_str(WireCheck c);

/* ---- Startup packet ---- */
typedef enum {
    WIRE_SU_STARTUP,
    WIRE_SU_SSL,
    WIRE_SU_GSSENC,
    WIRE_SU_CANCEL,
} WireStartupKind;

#define WIRE_MAX_STARTUP_PARAMS 64

typedef struct WireStartup {
    WireStartupKind kind;
    uint32_t version;
    /* StartupMessage: name/value pairs, borrowed from the packet buffer. */
    int nparams;
    const char *names[WIRE_MAX_STARTUP_PARAMS];
    const char *values[WIRE_MAX_STARTUP_PARAMS];
    const char *user;     /* NULL when absent */
    const char *database; /* defaults to user */
    /* CancelRequest */
    uint32_t cancel_pid, cancel_key;
} WireStartup;

/* Length of a startup-phase packet from its first 4 bytes; 0 if out of [8, PQ_STARTUP_MAX]. */
uint32_t wire_startup_len(const uint8_t hdr[4]);

/* Parse a whole startup-phase packet (its length word included). Returns true and fills out,
 * whose strings point into pkt; false with a client-facing message in err (08P01 or 0A000
 * errors: *sqlstate says which). */
bool wire_parse_startup(const uint8_t *pkt, size_t len, WireStartup *out, const char **sqlstate,
                        char *err, size_t errlen) WIRE_WUR;

/* ---- Builders: append to a growable buffer; a failed allocation is sticky. ---- */
typedef struct WireBuf {
    uint8_t *data;
    size_t len, cap;
    size_t msg_start; /* where the open message's length word is */
    bool oom;
    uint8_t small[256]; /* inline storage, so most messages allocate nothing */
} WireBuf;

void wire_buf_init(WireBuf *b);
void wire_buf_free(WireBuf *b);
void wire_put_bytes(WireBuf *b, const void *p, size_t n);
void wire_put_u8(WireBuf *b, uint8_t v);
void wire_put_i16(WireBuf *b, int16_t v);
void wire_put_i32(WireBuf *b, int32_t v);
void wire_put_string(WireBuf *b, const char *s); /* with its NUL */
void wire_msg_begin(WireBuf *b, uint8_t type);
void wire_msg_end(WireBuf *b); /* patches the length of the open message */

/* Whole messages. */
void wire_build_error(WireBuf *b, const char *severity, const char *sqlstate, const char *msg);
void wire_build_notice(WireBuf *b, const char *sqlstate, const char *msg);
void wire_build_auth_ok(WireBuf *b);
void wire_build_param_status(WireBuf *b, const char *name, const char *value);
void wire_build_backend_key(WireBuf *b, uint32_t pid, uint32_t key);
void wire_build_ready(WireBuf *b, char txstatus);
void wire_build_query(WireBuf *b, const char *sql);
/* RowDescription of n text-format columns: names and type OIDs (25 text, 20 int8, 16 bool,
 * 1700 numeric). */
void wire_build_row_description(WireBuf *b, int n, const char *const *names, const uint32_t *types);
/* DataRow of n text cells; a NULL cell is SQL NULL. */
void wire_build_data_row(WireBuf *b, int n, const char *const *cells);
void wire_build_command_complete(WireBuf *b, const char *tag);
void wire_build_empty_query(WireBuf *b);
void wire_build_negotiate_version(WireBuf *b, uint32_t newest_minor, int nunrec,
                                  const char *const *unrecognized);

/* Parse a ParameterStatus body (after the 5-byte header). */
bool wire_parse_param_status(const uint8_t *body, size_t len, const char **name,
                             const char **value) WIRE_WUR;
/* The SQLSTATE ('C') and message ('M') of an ErrorResponse/NoticeResponse body; fields absent
 * are returned as "". */
bool wire_parse_error(const uint8_t *body, size_t len, const char **sqlstate, const char **severity,
                      const char **message) WIRE_WUR;

#endif
