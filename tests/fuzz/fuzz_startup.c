/* fuzz_startup.c - libFuzzer target: a startup-phase packet (StartupMessage, SSLRequest,
 * GSSENCRequest, CancelRequest) through wire_startup_len + wire_parse_startup, as
 * client_startup_packet() reads it.
 *
 * Input: byte 0 = flags; with bit 0 set, the rest is a packet without its length word and a
 * correct one is put in front (so the parser, not the length check, gets the bytes); else the
 * rest is the packet as sent. */
#include "fuzz_util.h"
#include "pqmsg.h"
#include "wire.h"

/* A parsed packet's invariants: strings inside it, and what each kind promises. */
static void startup_check(const WireStartup *su, const uint8_t *pkt, size_t len)
{
    switch (su->kind) {
    case WIRE_SU_SSL:
    case WIRE_SU_GSSENC: FUZZ_ASSERT(len == 8); return;
    case WIRE_SU_CANCEL: FUZZ_ASSERT(len == 16); return;
    case WIRE_SU_STARTUP: break;
    default: FUZZ_ASSERT(!"unknown startup kind");
    }
    FUZZ_ASSERT(su->version >> 16 == 3);
    FUZZ_ASSERT(su->nparams >= 0 && su->nparams <= WIRE_MAX_STARTUP_PARAMS);
    size_t total = 0;
    for (int i = 0; i < su->nparams; i++) {
        FUZZ_ASSERT(fuzz_str_within(su->names[i], pkt, len) && su->names[i][0] != '\0');
        FUZZ_ASSERT(fuzz_str_within(su->values[i], pkt, len));
        total += strlen(su->names[i]) + strlen(su->values[i]) + 2;
    }
    FUZZ_ASSERT(8 + total + 1 == len); /* pairs, then the terminator as last byte */
    FUZZ_ASSERT(su->user != NULL && su->user[0] != '\0' && fuzz_str_within(su->user, pkt, len));
    FUZZ_ASSERT(su->database != NULL && fuzz_str_within(su->database, pkt, len));
}

/* One packet as the proxy sees it: the length word decides how much is read, then the parser
 * gets exactly that many bytes. The whole input is parsed too (a length that disagrees). */
static void startup_one(const uint8_t *pkt, size_t len)
{
    WireStartup su;
    const char *sqlstate;
    char err[200];
    if (len >= 4) {
        uint32_t plen = wire_startup_len(pkt);
        FUZZ_ASSERT(plen == 0 || (plen >= 8 && plen <= PQ_STARTUP_MAX));
        if (plen != 0 && plen <= len) {
            uint8_t *exact = fuzz_dup(pkt, plen);
            if (wire_parse_startup(exact, plen, &su, &sqlstate, err, sizeof err))
                startup_check(&su, exact, plen);
            else
                FUZZ_ASSERT(sqlstate != NULL && err[0] != '\0' && memchr(err, 0, sizeof err));
            free(exact);
        }
    }
    if (wire_parse_startup(pkt, len, &su, &sqlstate, err, sizeof err))
        startup_check(&su, pkt, len);
    else
        FUZZ_ASSERT(sqlstate != NULL && err[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        uint8_t *pkt = malloc(n + 4);
        FUZZ_ASSERT(pkt != NULL);
        uint32_t len = (uint32_t)(n + 4);
        pkt[0] = (uint8_t)(len >> 24);
        pkt[1] = (uint8_t)(len >> 16);
        pkt[2] = (uint8_t)(len >> 8);
        pkt[3] = (uint8_t)len;
        memcpy(pkt + 4, rest, n);
        startup_one(pkt, n + 4);
        free(pkt);
    } else {
        uint8_t *pkt = fuzz_dup(rest, n);
        startup_one(pkt, n);
        free(pkt);
    }
    return 0;
}
