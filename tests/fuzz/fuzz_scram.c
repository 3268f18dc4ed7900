/* fuzz_scram.c - libFuzzer target: the server side of a SCRAM-SHA-256 exchange fed a fuzzed
 * client-first-message and client-final-message, for a user with RFC 7677's verifier
 * (password "pencil") or a mock user. The server nonce is fixed with scram_test_override, so an
 * input always takes the same path and a proof can be made for it (make_corpus.py does).
 *
 * Input: byte 0 = flags (bit 0: mock user), bytes 1-2 = big-endian split point k (taken modulo
 * the rest's length + 1), then the rest: client-first = rest[0, k), client-final = the remainder.
 */
#include "auth.h"
#include "fuzz_util.h"
#include "scram.h"

/* RFC 7677 section 3: salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations, password "pencil". */
#define FUZZ_USERLIST                                                                              \
    "\"user\" \"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"                                      \
    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="    \
    "\"\n"
#define FUZZ_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"

/* Made once; lives for the process (reachable, so not a leak). */
static AuthFile *userlist;
static AuthMockKey mock_key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    (void)argc;
    (void)argv;
    userlist = auth_file_parse(FUZZ_USERLIST, strlen(FUZZ_USERLIST), "fuzz", err, sizeof err);
    if (!userlist) {
        fprintf(stderr, "fuzz_scram: userlist: %s\n", err);
        abort();
    }
    memset(mock_key.key, 0x5a, sizeof mock_key.key); /* fixed: a stable mock salt */
    return 0;
}

/* A failed step: the exchange is over and err says why where the client may be told. */
static void scram_check_failed(const ScramState *st, ScramResult r, const char *err)
{
    FUZZ_ASSERT(st->step == SCRAM_ST_ERROR);
    FUZZ_ASSERT(memchr(err, 0, 256) != NULL);
    if (r == SCRAM_MALFORMED || r == SCRAM_UNSUPPORTED) FUZZ_ASSERT(err[0] != '\0');
    FUZZ_ASSERT(r != SCRAM_INTERNAL); /* no OOM or RNG failure is expected here */
}

static void scram_run(const AuthUser *u, const uint8_t *first, size_t nfirst, const uint8_t *fin,
                      size_t nfin)
{
    ScramState st;
    const char *out = NULL;
    size_t outlen = 0;
    char err[256];
    FUZZ_ASSERT(scram_init(&st, u));
    FUZZ_ASSERT(scram_test_override(&st, FUZZ_SNONCE, NULL, 0));
    ScramResult r1 = scram_step_first(&st, first, nfirst, &out, &outlen, err, sizeof err);
    if (r1 == SCRAM_OK) {
        /* server-first = "r=" cnonce snonce ",s=" salt ",i=" iterations. */
        FUZZ_ASSERT(st.step == SCRAM_ST_FINAL && outlen == strlen(out));
        FUZZ_ASSERT(strncmp(out, "r=", 2) == 0 && strstr(out, FUZZ_SNONCE ",s=") != NULL);
    } else {
        scram_check_failed(&st, r1, err);
    }
    ScramResult r2 = scram_step_final(&st, fin, nfin, &out, &outlen, err, sizeof err);
    if (r2 == SCRAM_OK) {
        FUZZ_ASSERT(r1 == SCRAM_OK && !u->mock && st.step == SCRAM_ST_DONE);
        FUZZ_ASSERT(outlen == 2 + SCRAM_B64_LEN(AUTH_KEY_LEN) && strncmp(out, "v=", 2) == 0);
    } else {
        scram_check_failed(&st, r2, err);
    }
    /* Any further step is out of sequence. */
    FUZZ_ASSERT(scram_step_final(&st, fin, nfin, &out, &outlen, err, sizeof err) ==
                SCRAM_MALFORMED);
    scram_free(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    const uint8_t *rest = data + 3;
    size_t n = size - 3;
    size_t k = ((size_t)data[1] << 8 | data[2]) % (n + 1);
    AuthMockUser mock;
    const AuthUser *u = data[0] & 1 ? auth_mock_user(&mock_key, "user", AUTH_SECRET_SCRAM, &mock)
                                    : auth_file_find(userlist, "user");
    FUZZ_ASSERT(u != NULL);
    uint8_t *first = fuzz_dup(rest, k), *fin = fuzz_dup(rest + k, n - k);
    scram_run(u, first, k, fin, n - k);
    free(first);
    free(fin);
    return 0;
}
