/* fuzz_frontend.c - libFuzzer target: what a client sends after startup, framed and relayed in
 * random-sized chunks as client_relay() does (see fuzz_frame.h for the input layout), with
 * PasswordMessage-type ('p') bodies run through the auth parsers. */
#include "auth.h"
#include "fuzz_frame.h"
#include "fuzz_util.h"
#include "pqmsg.h"

/* max_packet_size, by the flags' option bits: tiny, small, Postgres's small and large limits. */
static const uint32_t max_packets[4] = {16, 1024, PQ_SMALL_MSG_MAX, PQ_LARGE_MSG_MAX};

static WireCheck fe_check(uint8_t type, uint32_t len, unsigned opt)
{
    return wire_check_frontend(type, len, max_packets[opt & 3]);
}

static bool fe_whole(uint8_t type, uint32_t len)
{
    (void)len; /* wire_check_frontend caps 'p' at PQ_SMALL_MSG_MAX */
    return type == PqMsg_PasswordMessage;
}

static void fe_inspect(uint8_t type, const uint8_t *body, size_t n)
{
    const char *password, *mech;
    const uint8_t *data;
    size_t datalen;
    FUZZ_ASSERT(type == PqMsg_PasswordMessage && n <= PQ_SMALL_MSG_MAX - 4);
    if (auth_parse_password(body, n, &password)) {
        /* One string, the whole body. */
        FUZZ_ASSERT(fuzz_str_within(password, body, n) && strlen(password) + 1 == n);
    }
    if (auth_parse_sasl_initial(body, n, &mech, &data, &datalen)) {
        FUZZ_ASSERT(fuzz_str_within(mech, body, n));
        size_t used = strlen(mech) + 1 + 4;
        if (data == NULL) {
            FUZZ_ASSERT(datalen == 0 && used == n);
        } else {
            FUZZ_ASSERT(data == body + used && used + datalen == n);
        }
    }
}

static const FrameSide frontend = {
    .check = fe_check,
    .whole = fe_whole,
    .inspect = fe_inspect,
    .stop_type = PqMsg_Terminate,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frame_run(&frontend, data, size);
    return 0;
}
