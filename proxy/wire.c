/* wire.c - PostgreSQL protocol codec (no I/O). */
#include "wire.h"

#include "pqmsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Reader ---- */

void wire_reader_init(WireReader *r, const void *buf, size_t len)
{
    r->p = buf;
    r->left = len;
}

bool wire_get_bytes(WireReader *r, size_t n, const uint8_t **out)
{
    if (r->left < n) return false;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return true;
}

bool wire_get_u8(WireReader *r, uint8_t *out)
{
    const uint8_t *p;
    if (!wire_get_bytes(r, 1, &p)) return false;
    *out = p[0];
    return true;
}

bool wire_get_i16(WireReader *r, int16_t *out)
{
    const uint8_t *p;
    if (!wire_get_bytes(r, 2, &p)) return false;
    *out = (int16_t)((uint16_t)p[0] << 8 | p[1]);
    return true;
}

bool wire_get_u32(WireReader *r, uint32_t *out)
{
    const uint8_t *p;
    if (!wire_get_bytes(r, 4, &p)) return false;
    *out = wire_be32(p);
    return true;
}

bool wire_get_i32(WireReader *r, int32_t *out)
{
    uint32_t v;
    if (!wire_get_u32(r, &v)) return false;
    *out = (int32_t)v;
    return true;
}

bool wire_get_string(WireReader *r, const char **out)
{
    if (r->left == 0) return false;
    const uint8_t *nul = memchr(r->p, 0, r->left);
    if (!nul) return false;
    *out = (const char *)r->p;
    size_t n = (size_t)(nul - r->p) + 1;
    r->p += n;
    r->left -= n;
    return true;
}

/* ---- Header checks ---- */

WireCheck wire_check_frontend(uint8_t type, uint32_t len, uint32_t max_packet)
{
    uint32_t max;
    if (len < 4) return WIRE_BAD_LENGTH;
    switch (type) {
    case PqMsg_Sync:
    case PqMsg_Flush:
    case PqMsg_Terminate:
    case PqMsg_CopyDone: return len == 4 ? WIRE_OK : WIRE_BAD_LENGTH;
    case PqMsg_Query:
    case PqMsg_Parse:
    case PqMsg_Bind:
    case PqMsg_FunctionCall:
    case PqMsg_CopyData: max = max_packet; break;
    case PqMsg_Execute:
    case PqMsg_Describe:
    case PqMsg_Close:
    case PqMsg_CopyFail:
    case PqMsg_PasswordMessage: max = PQ_SMALL_MSG_MAX; break;
    default: return WIRE_BAD_TYPE;
    }
    return len > max ? WIRE_TOO_LONG : WIRE_OK;
}

WireCheck wire_check_backend(uint8_t type, uint32_t len)
{
    if (len < 4) return WIRE_BAD_LENGTH;
    switch (type) {
    case PqMsg_ParseComplete:
    case PqMsg_BindComplete:
    case PqMsg_CloseComplete:
    case PqMsg_NoData:
    case PqMsg_EmptyQueryResponse:
    case PqMsg_CopyDone: return len == 4 ? WIRE_OK : WIRE_BAD_LENGTH;
    case PqMsg_ReadyForQuery: return len == 5 ? WIRE_OK : WIRE_BAD_LENGTH;
    case PqMsg_BackendKeyData: return len == 12 ? WIRE_OK : WIRE_BAD_LENGTH;
    case PqMsg_Authentication:
    case PqMsg_CommandComplete:
    case PqMsg_CopyInResponse:
    case PqMsg_CopyOutResponse:
    case PqMsg_CopyBothResponse:
    case PqMsg_DataRow:
    case PqMsg_ErrorResponse:
    case PqMsg_FunctionCallResponse:
    case PqMsg_NegotiateProtocolVersion:
    case PqMsg_NoticeResponse:
    case PqMsg_NotificationResponse:
    case PqMsg_ParameterDescription:
    case PqMsg_ParameterStatus:
    case PqMsg_PortalSuspended:
    case PqMsg_RowDescription:
    case PqMsg_CopyData: return len > PQ_LARGE_MSG_MAX ? WIRE_TOO_LONG : WIRE_OK;
    default: return WIRE_BAD_TYPE;
    }
}

const char *wire_check_str(WireCheck c)
{
    switch (c) {
    case WIRE_OK: return "ok";
    case WIRE_BAD_TYPE: return "invalid message type";
    case WIRE_BAD_LENGTH: return "invalid message length";
    case WIRE_TOO_LONG: return "message too long";
    }
    abort();
}

/* ---- Startup ---- */

uint32_t wire_startup_len(const uint8_t hdr[4])
{
    uint32_t len = wire_be32(hdr);
    return (len < 8 || len > PQ_STARTUP_MAX) ? 0 : len;
}

static bool startup_params(WireReader *r, WireStartup *out, char *err, size_t errlen)
{
    for (;;) {
        const char *name, *value;
        if (!wire_get_string(r, &name)) goto layout;
        if (name[0] == '\0') break;
        if (!wire_get_string(r, &value)) goto layout;
        if (out->nparams == WIRE_MAX_STARTUP_PARAMS) {
            snprintf(err, errlen, "too many startup parameters (limit %d)",
                     WIRE_MAX_STARTUP_PARAMS);
            return false;
        }
        out->names[out->nparams] = name;
        out->values[out->nparams++] = value;
        if (strcmp(name, "user") == 0)
            out->user = value;
        else if (strcmp(name, "database") == 0)
            out->database = value;
    }
    if (!wire_at_end(r)) goto layout;
    if (out->database == NULL || out->database[0] == '\0') out->database = out->user;
    return true;
layout:
    snprintf(err, errlen, "invalid startup packet layout: expected terminator as last byte");
    return false;
}

bool wire_parse_startup(const uint8_t *pkt, size_t len, WireStartup *out, const char **sqlstate,
                        char *err, size_t errlen)
{
    WireReader r;
    uint32_t plen, code;
    memset(out, 0, sizeof *out);
    *sqlstate = SQLSTATE_PROTOCOL_VIOLATION;
    wire_reader_init(&r, pkt, len);
    if (!wire_get_u32(&r, &plen) || !wire_get_u32(&r, &code) || plen != len || len < 8 ||
        len > PQ_STARTUP_MAX) {
        snprintf(err, errlen, "invalid length of startup packet");
        return false;
    }
    out->version = code;
    switch (code) {
    case PQ_SSL_CODE:
        out->kind = WIRE_SU_SSL;
        return len == 8 || (snprintf(err, errlen, "invalid length of SSL request"), false);
    case PQ_GSSENC_CODE:
        out->kind = WIRE_SU_GSSENC;
        return len == 8 || (snprintf(err, errlen, "invalid length of GSSENC request"), false);
    case PQ_CANCEL_CODE:
        out->kind = WIRE_SU_CANCEL;
        if (len != 16 || !wire_get_u32(&r, &out->cancel_pid) ||
            !wire_get_u32(&r, &out->cancel_key)) {
            snprintf(err, errlen, "invalid length of cancel request");
            return false;
        }
        return true;
    default: break;
    }
    out->kind = WIRE_SU_STARTUP;
    if (code >> 16 != 3) {
        *sqlstate = SQLSTATE_FEATURE_NOT_SUPPORTED;
        snprintf(err, errlen, "unsupported frontend protocol %u.%u: server supports 3.0 to 3.0",
                 code >> 16, code & 0xffff);
        return false;
    }
    if (!startup_params(&r, out, err, errlen)) return false;
    if (out->user == NULL || out->user[0] == '\0') {
        *sqlstate = SQLSTATE_INVALID_AUTH_SPEC;
        snprintf(err, errlen, "no PostgreSQL user name specified in startup packet");
        return false;
    }
    return true;
}

/* ---- Builders ---- */

void wire_buf_init(WireBuf *b)
{
    b->data = b->small;
    b->len = 0;
    b->cap = sizeof b->small;
    b->msg_start = 0;
    b->oom = false;
}

void wire_buf_free(WireBuf *b)
{
    if (b->data != b->small) free(b->data);
    wire_buf_init(b);
}

static bool buf_reserve(WireBuf *b, size_t n)
{
    if (b->oom) return false;
    if (b->len + n <= b->cap) return true;
    size_t cap = b->cap * 2;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *p = b->data == b->small ? malloc(cap) : realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    if (b->data == b->small) memcpy(p, b->small, b->len);
    b->data = p;
    b->cap = cap;
    return true;
}

void wire_put_bytes(WireBuf *b, const void *p, size_t n)
{
    if (!buf_reserve(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void wire_put_u8(WireBuf *b, uint8_t v)
{
    wire_put_bytes(b, &v, 1);
}

void wire_put_i16(WireBuf *b, int16_t v)
{
    uint8_t p[2] = {(uint8_t)((uint16_t)v >> 8), (uint8_t)v};
    wire_put_bytes(b, p, 2);
}

void wire_put_i32(WireBuf *b, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t p[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    wire_put_bytes(b, p, 4);
}

void wire_put_string(WireBuf *b, const char *s)
{
    wire_put_bytes(b, s, strlen(s) + 1);
}

void wire_msg_begin(WireBuf *b, uint8_t type)
{
    wire_put_u8(b, type);
    b->msg_start = b->len;
    wire_put_i32(b, 0);
}

void wire_msg_end(WireBuf *b)
{
    if (b->oom) return;
    uint32_t n = (uint32_t)(b->len - b->msg_start);
    uint8_t *p = b->data + b->msg_start;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
}

static void build_fields(WireBuf *b, uint8_t type, const char *severity, const char *sqlstate,
                         const char *msg)
{
    wire_msg_begin(b, type);
    wire_put_u8(b, 'S');
    wire_put_string(b, severity);
    wire_put_u8(b, 'V');
    wire_put_string(b, severity);
    wire_put_u8(b, 'C');
    wire_put_string(b, sqlstate);
    wire_put_u8(b, 'M');
    wire_put_string(b, msg);
    wire_put_u8(b, 0);
    wire_msg_end(b);
}

void wire_build_error(WireBuf *b, const char *severity, const char *sqlstate, const char *msg)
{
    build_fields(b, PqMsg_ErrorResponse, severity, sqlstate, msg);
}

void wire_build_notice(WireBuf *b, const char *sqlstate, const char *msg)
{
    build_fields(b, PqMsg_NoticeResponse, "NOTICE", sqlstate, msg);
}

void wire_build_auth_ok(WireBuf *b)
{
    wire_msg_begin(b, PqMsg_Authentication);
    wire_put_i32(b, PQ_AUTH_OK);
    wire_msg_end(b);
}

void wire_build_param_status(WireBuf *b, const char *name, const char *value)
{
    wire_msg_begin(b, PqMsg_ParameterStatus);
    wire_put_string(b, name);
    wire_put_string(b, value);
    wire_msg_end(b);
}

void wire_build_backend_key(WireBuf *b, uint32_t pid, uint32_t key)
{
    wire_msg_begin(b, PqMsg_BackendKeyData);
    wire_put_i32(b, (int32_t)pid);
    wire_put_i32(b, (int32_t)key);
    wire_msg_end(b);
}

void wire_build_ready(WireBuf *b, char txstatus)
{
    wire_msg_begin(b, PqMsg_ReadyForQuery);
    wire_put_u8(b, (uint8_t)txstatus);
    wire_msg_end(b);
}

void wire_build_row_description(WireBuf *b, int n, const char *const *names, const uint32_t *types)
{
    wire_msg_begin(b, PqMsg_RowDescription);
    wire_put_i16(b, (int16_t)n);
    for (int i = 0; i < n; i++) {
        /* Fixed-size types say their size (int8 8, bool 1); the rest are varlena (-1). */
        int16_t typlen = types[i] == 20 ? 8 : types[i] == 16 ? 1 : -1;
        wire_put_string(b, names[i]);
        wire_put_i32(b, 0); /* no table */
        wire_put_i16(b, 0);
        wire_put_i32(b, (int32_t)types[i]);
        wire_put_i16(b, typlen);
        wire_put_i32(b, -1); /* typmod */
        wire_put_i16(b, 0);  /* text format */
    }
    wire_msg_end(b);
}

void wire_build_data_row(WireBuf *b, int n, const char *const *cells)
{
    wire_msg_begin(b, PqMsg_DataRow);
    wire_put_i16(b, (int16_t)n);
    for (int i = 0; i < n; i++) {
        if (!cells[i]) {
            wire_put_i32(b, -1);
            continue;
        }
        size_t len = strlen(cells[i]);
        wire_put_i32(b, (int32_t)len);
        wire_put_bytes(b, cells[i], len);
    }
    wire_msg_end(b);
}

void wire_build_command_complete(WireBuf *b, const char *tag)
{
    wire_msg_begin(b, PqMsg_CommandComplete);
    wire_put_string(b, tag);
    wire_msg_end(b);
}

void wire_build_empty_query(WireBuf *b)
{
    wire_msg_begin(b, PqMsg_EmptyQueryResponse);
    wire_msg_end(b);
}

void wire_build_query(WireBuf *b, const char *sql)
{
    wire_msg_begin(b, PqMsg_Query);
    wire_put_string(b, sql);
    wire_msg_end(b);
}

void wire_build_negotiate_version(WireBuf *b, uint32_t newest_minor, int nunrec,
                                  const char *const *unrecognized)
{
    wire_msg_begin(b, PqMsg_NegotiateProtocolVersion);
    wire_put_i32(b, (int32_t)(3u << 16 | newest_minor));
    wire_put_i32(b, nunrec);
    for (int i = 0; i < nunrec; i++)
        wire_put_string(b, unrecognized[i]);
    wire_msg_end(b);
}

/* ---- Parsers of backend bodies ---- */

bool wire_parse_param_status(const uint8_t *body, size_t len, const char **name, const char **value)
{
    WireReader r;
    wire_reader_init(&r, body, len);
    return wire_get_string(&r, name) && wire_get_string(&r, value) && wire_at_end(&r);
}

bool wire_parse_error(const uint8_t *body, size_t len, const char **sqlstate, const char **severity,
                      const char **message)
{
    WireReader r;
    *sqlstate = *severity = *message = "";
    wire_reader_init(&r, body, len);
    for (;;) {
        uint8_t code;
        const char *s;
        if (!wire_get_u8(&r, &code)) return false;
        if (code == 0) return wire_at_end(&r);
        if (!wire_get_string(&r, &s)) return false;
        if (code == 'C')
            *sqlstate = s;
        else if (code == 'V' || (code == 'S' && (*severity)[0] == '\0'))
            *severity = s;
        else if (code == 'M')
            *message = s;
    }
}
