/* fuzz_backend.c - libFuzzer target: what a server sends, framed and relayed in random-sized
 * chunks as server_relay() does (see fuzz_frame.h for the input layout), with the messages the
 * proxy inspects -- ErrorResponse, NoticeResponse, ParameterStatus, ReadyForQuery -- parsed. */
#include "conn.h"
#include "fuzz_frame.h"
#include "fuzz_util.h"
#include "pqmsg.h"

static WireCheck be_check(uint8_t type, uint32_t len, unsigned opt)
{
    (void)opt;
    return wire_check_backend(type, len);
}

/* As server_relay(): inspected types are buffered whole up to CONN_INSPECT_MAX, larger ones
 * are relayed unread. */
static bool be_whole(uint8_t type, uint32_t len)
{
    return (type == PqMsg_ErrorResponse || type == PqMsg_NoticeResponse ||
            type == PqMsg_ParameterStatus || type == PqMsg_ReadyForQuery) &&
           len <= CONN_INSPECT_MAX;
}

/* A field string: "" for an absent field (not necessarily in the body), else inside it. */
static void be_field(const char *s, const uint8_t *body, size_t n)
{
    FUZZ_ASSERT(s != NULL);
    FUZZ_ASSERT(s[0] == '\0' || fuzz_str_within(s, body, n));
}

static void be_inspect(uint8_t type, const uint8_t *body, size_t n)
{
    const char *a, *b, *c;
    volatile uint8_t tx;
    switch (type) {
    case PqMsg_ErrorResponse:
    case PqMsg_NoticeResponse:
        if (!wire_parse_error(body, n, &a, &b, &c)) break;
        FUZZ_ASSERT(n >= 1 && body[n - 1] == 0); /* the terminator is the last byte */
        be_field(a, body, n);
        be_field(b, body, n);
        be_field(c, body, n);
        break;
    case PqMsg_ParameterStatus:
        if (!wire_parse_param_status(body, n, &a, &b)) break;
        FUZZ_ASSERT(a == (const char *)body && fuzz_str_within(b, body, n));
        FUZZ_ASSERT(strlen(a) + 1 + strlen(b) + 1 == n);
        break;
    case PqMsg_ReadyForQuery:
        FUZZ_ASSERT(n == 1); /* wire_check_backend: length 5 */
        tx = body[0];        /* what server_relay() reads */
        (void)tx;
        break;
    default: FUZZ_ASSERT(!"inspected a type not asked for");
    }
}

static const FrameSide backend = {
    .check = be_check,
    .whole = be_whole,
    .inspect = be_inspect,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frame_run(&backend, data, size);
    return 0;
}
