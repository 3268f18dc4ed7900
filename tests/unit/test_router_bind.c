/* test_router_bind.c - Check suite for Bind time (proxy/router_bind.c, router_rows_sql): the
 * workflow ID a parameter carries (text and binary; text, varchar, bpchar, name and uuid; the
 * forms Postgres's uuid input takes), text and binary arrays, the shards router_bind names for
 * each kind of plan, refusals at Bind time, per-row shards of a multi-row INSERT and the
 * statement each shard gets, and default child IDs staying with their parent. */
#include "router.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OID_TEXT 25
#define OID_UUID 2950

static SlotMap map4; /* 4 shards, default ranges */

static void map_setup(void)
{
    SlotRange r[4];
    for (int i = 0; i < 4; i++) {
        r[i].shard = (uint16_t)i;
        slot_default_range(4, i, &r[i].first, &r[i].last);
    }
    ck_assert(slot_map_build(&map4, 4, r, 4));
}

/* The first of "w0", "w1", ... that lands on shard s. */
static const char *id_on(int s)
{
    static char ids[4][16];
    for (int i = 0;; i++) {
        snprintf(ids[s], sizeof ids[s], "w%d", i);
        if (slot_map_shard_of(&map4, ids[s], strlen(ids[s])) == s) return ids[s];
    }
}

static RouteParam ptext(const char *v)
{
    return (RouteParam){.value = v, .len = v ? (int32_t)strlen(v) : -1};
}

/* The plan of a one-statement text; caller frees info. */
static const RoutePlan *plan1(const char *sql, RouteInfo *in)
{
    ck_assert(router_plan_uncached(sql, strlen(sql), "dbos", in));
    ck_assert_int_eq(in->nplans, 1);
    return &in->plans[0];
}

/* ---- One key parameter ---- */

typedef struct KeyCase {
    uint32_t type;
    int16_t format;
    const char *value;
    int32_t len;      /* -2: strlen(value) */
    const char *want; /* NULL: unreadable */
} KeyCase;

static const unsigned char uuid_bin[16] = {0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8,
                                           0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11};
#define UUID_LOWER "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"

static const KeyCase key_cases[] = {
    {0, 0, "abc", -2, "abc"},
    {OID_TEXT, 0, "abc", -2, "abc"},
    {1043, 0, "abc", -2, "abc"}, /* varchar */
    {705, 0, "abc", -2, "abc"},  /* unknown */
    {OID_TEXT, 0, "", -2, ""},
    {OID_TEXT, 0, "a b  ", -2, "a b  "}, /* text keeps its blanks */
    {1042, 0, "a b  ", -2, "a b"},       /* bpchar drops trailing ones (its cast to text) */
    {1042, 0, "   ", -2, ""},
    {19, 0, "short_name", -2, "short_name"},
    {19, 0, "123456789012345678901234567890123456789012345678901234567890123", -2,
     "123456789012345678901234567890123456789012345678901234567890123"},
    {19, 0, "1234567890123456789012345678901234567890123456789012345678901234", -2, NULL},
    {OID_TEXT, 1, "abc", -2, "abc"}, /* binary text is the bytes */
    {0, 1, "abc", -2, "abc"},
    {1042, 1, "ab ", -2, "ab"},
    /* uuid: every form Postgres's input takes, to the canonical lower case text */
    {OID_UUID, 0, UUID_LOWER, -2, UUID_LOWER},
    {OID_UUID, 0, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", -2, UUID_LOWER},
    {OID_UUID, 0, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", -2, UUID_LOWER},
    {OID_UUID, 0, "a0eebc999c0b4ef8bb6d6bb9bd380a11", -2, UUID_LOWER},
    {OID_UUID, 0, "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11", -2, UUID_LOWER},
    {OID_UUID, 0, "{a0eebc999c0b4ef8bb6d6bb9bd380a11}", -2, UUID_LOWER},
    {OID_UUID, 0, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", -2, NULL},   /* short */
    {OID_UUID, 0, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111", -2, NULL}, /* long */
    {OID_UUID, 0, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", -2, NULL}, /* unclosed */
    {OID_UUID, 0, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", -2, NULL},
    {OID_UUID, 0, "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11", -2, NULL}, /* two hyphens */
    {OID_UUID, 0, "a0eeb-c99-9c0b-4ef8-bb6d-6bb9bd380a11", -2, NULL}, /* hyphen mid-group */
    {OID_UUID, 0, "-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", -2, NULL},
    {OID_UUID, 0, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-", -2, NULL},
    {OID_UUID, 0, "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", -2, NULL},
    {OID_UUID, 1, (const char *)uuid_bin, 16, UUID_LOWER},
    {OID_UUID, 1, (const char *)uuid_bin, 15, NULL},
    {23, 0, "42", -2, NULL}, /* int4: not a workflow ID's type */
    {23, 1, "\0\0\0\x2a", 4, NULL},
    {OID_TEXT, 0, "a\0b", 3, NULL}, /* a NUL is no text */
    {OID_TEXT, 0, NULL, -1, NULL},  /* NULL */
};

START_TEST(test_key_text)
{
    const KeyCase *c = &key_cases[_i];
    RouteParam p = {.value = c->value,
                    .len = c->len == -2 ? (int32_t)strlen(c->value) : c->len,
                    .format = c->format,
                    .type = c->type};
    char buf[64];
    const char *id = NULL;
    size_t n = 0;
    bool ok = router_key_text(&p, buf, &id, &n);
    if (!c->want) {
        ck_assert_msg(!ok, "case %d read '%.*s'", _i, (int)n, id);
        return;
    }
    ck_assert_msg(ok, "case %d unreadable", _i);
    ck_assert_uint_eq(n, strlen(c->want));
    ck_assert_msg(memcmp(id, c->want, n) == 0, "case %d: '%.*s'", _i, (int)n, id);
}
END_TEST

/* ---- Arrays ---- */

static void join_cb(void *arg, const char *id, size_t n)
{
    char *out = arg;
    size_t used = strlen(out);
    snprintf(out + used, 512 - used, "%s%.*s", used ? "|" : "", (int)n, id);
}

typedef struct ArrCase {
    const char *text;
    uint32_t type;
    const char *want; /* elements joined by '|'; NULL: malformed */
} ArrCase;

static const ArrCase arr_cases[] = {
    {"{a,b}", 0, "a|b"},
    {"{a,b}", 1009, "a|b"},
    {"{a,b}", 1015, "a|b"},
    {" { a , b } ", 0, "a|b"},
    {"{a b,c}", 0, "a b|c"},
    {"{\"a,b\",\"c\\\"d\",\"e\\\\f\"}", 0, "a,b|c\"d|e\\f"},
    {"{a\\,b,c\\}d}", 0, "a,b|c}d"},
    {"{NULL,null,\"NULL\",NuLl}", 0, "NULL"}, /* quoted NULL is a string */
    {"{\\NULL}", 0, "NULL"},                  /* so is an escaped one */
    {"{}", 0, ""},
    {"{\"\"}", 0, ""},
    {"{{a,b},{c,d}}", 0, "a|b|c|d"},
    {"{{{x}}}", 0, "x"},
    {"[1:2]={a,b}", 0, "a|b"},
    {"[0:1][1:1]={{a},{b}}", 0, "a|b"},
    {"{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11,a0eebc999c0b4ef8bb6d6bb9bd380a11}", 2951,
     UUID_LOWER "|" UUID_LOWER},
    {"{1042pad  }", 1014, "1042pad"},
    {"{not-a-uuid}", 2951, NULL},
    {"{a,,b}", 0, NULL},
    {"{,a}", 0, NULL},
    {"{a,}", 0, NULL},
    {"{a", 0, NULL},
    {"a,b", 0, NULL},
    {"{\"a}", 0, NULL},
    {"{a}x", 0, NULL},
    {"{a}}", 0, NULL},
    {"{a\"b}", 0, NULL},
    {"{a{b}}", 0, NULL},
    {"[1:2]{a,b}", 0, NULL},
    {"", 0, NULL},
    {"{1,2}", 1007, NULL}, /* int4[]: not workflow IDs */
};

START_TEST(test_array_text)
{
    const ArrCase *c = &arr_cases[_i];
    RouteParam p = {.value = c->text, .len = (int32_t)strlen(c->text), .type = c->type};
    char out[512] = "";
    bool ok = router_array_each(&p, join_cb, out);
    if (!c->want) {
        ck_assert_msg(!ok, "case %d '%s' read as '%s'", _i, c->text, out);
        return;
    }
    ck_assert_msg(ok, "case %d '%s' unreadable", _i, c->text);
    ck_assert_msg(strcmp(out, c->want) == 0, "case %d '%s': '%s'", _i, c->text, out);
}
END_TEST

/* array_send's layout, one dimension (or ndim 0). */
static size_t bin_array(unsigned char *b, uint32_t elemtype, const char *const *els,
                        const int32_t *lens, int n)
{
    size_t at = 0;
#define PUT32(v)                                                                                   \
    do {                                                                                           \
        uint32_t x_ = (uint32_t)(v);                                                               \
        b[at++] = (unsigned char)(x_ >> 24), b[at++] = (unsigned char)(x_ >> 16);                  \
        b[at++] = (unsigned char)(x_ >> 8), b[at++] = (unsigned char)x_;                           \
    } while (0)
    PUT32(n ? 1 : 0);
    PUT32(0);
    PUT32(elemtype);
    if (n) {
        PUT32(n);
        PUT32(1);
    }
    for (int i = 0; i < n; i++) {
        PUT32(lens[i]);
        if (lens[i] > 0) memcpy(b + at, els[i], (size_t)lens[i]), at += (size_t)lens[i];
    }
#undef PUT32
    return at;
}

START_TEST(test_array_binary)
{
    unsigned char b[512];
    char out[512] = "";
    const char *els[] = {"a", "bc", NULL, (const char *)uuid_bin};
    int32_t lens[] = {1, 2, -1, 16};
    size_t n = bin_array(b, OID_TEXT, els, lens, 3);
    RouteParam p = {.value = (const char *)b, .len = (int32_t)n, .format = 1};
    ck_assert(router_array_each(&p, join_cb, out));
    ck_assert_str_eq(out, "a|bc");
    /* uuid elements */
    const char *u[] = {(const char *)uuid_bin};
    int32_t ul[] = {16};
    n = bin_array(b, OID_UUID, u, ul, 1);
    p.len = (int32_t)n;
    out[0] = '\0';
    ck_assert(router_array_each(&p, join_cb, out));
    ck_assert_str_eq(out, UUID_LOWER);
    /* empty */
    n = bin_array(b, OID_TEXT, NULL, NULL, 0);
    p.len = (int32_t)n;
    out[0] = '\0';
    ck_assert(router_array_each(&p, join_cb, out));
    ck_assert_str_eq(out, "");
    /* truncated, trailing bytes, a bad length, a foreign element type */
    n = bin_array(b, OID_TEXT, els, lens, 2);
    for (size_t cut = 0; cut < n; cut++) {
        p.len = (int32_t)cut;
        ck_assert_msg(!router_array_each(&p, join_cb, out), "cut at %zu", cut);
    }
    p.len = (int32_t)n + 1;
    ck_assert(!router_array_each(&p, join_cb, out));
    int32_t bad[] = {-5};
    n = bin_array(b, OID_TEXT, els, bad, 1);
    p.len = (int32_t)n;
    ck_assert(!router_array_each(&p, join_cb, out));
    n = bin_array(b, 23, els, lens, 1);
    p.len = (int32_t)n;
    ck_assert(!router_array_each(&p, join_cb, out));
    /* A huge dimension claimed by a short message. */
    n = bin_array(b, OID_TEXT, els, lens, 1);
    b[12] = 0x7f;
    p.len = (int32_t)n;
    ck_assert(!router_array_each(&p, join_cb, out));
    /* NULL: no elements, nothing wrong. */
    RouteParam null = {.len = -1};
    ck_assert(router_array_each(&null, join_cb, out));
}
END_TEST

/* ---- router_bind ---- */

static uint64_t bind_ok(const RoutePlan *p, const RouteParam *params, int n)
{
    uint64_t shards = 0;
    char err[256];
    ck_assert_msg(router_bind(p, &map4, params, n, &shards, NULL, err, sizeof err), "%s", err);
    return shards;
}

static void bind_fails(const RoutePlan *p, const RouteParam *params, int n, const char *want)
{
    uint64_t shards = 0;
    char err[256];
    ck_assert(!router_bind(p, &map4, params, n, &shards, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, want), "'%s' lacks '%s'", err, want);
}

START_TEST(test_bind_kinds)
{
    static const struct {
        const char *sql;
        uint64_t shards;
    } cases[] = {
        {"SELECT count(*) FROM dbos.workflow_status", 0xf},
        {"DELETE FROM dbos.workflow_status WHERE created_at < $1", 0xf},
        {"UPDATE dbos.queues SET concurrency = 1", 0xf},
        {"CREATE INDEX i ON dbos.workflow_status (name)", 0xf},
        {"LISTEN c", 0xf},
        {"UNLISTEN *", 0xf},
        {"BEGIN", 0xf},
        {"SET a = 1", 0xf},
        {"SELECT * FROM dbos.queues", 0x1},
        {"NOTIFY c", 0x1},
        {"SELECT pg_try_advisory_lock(1)", 0x1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        RouteInfo in;
        ck_assert_uint_eq(bind_ok(plan1(cases[i].sql, &in), NULL, 0), cases[i].shards);
        route_info_free(&in);
    }
    RouteInfo in;
    bind_fails(plan1("COPY dbos.workflow_status TO STDOUT", &in), NULL, 0, "COPY is not routed");
    route_info_free(&in);
}
END_TEST

START_TEST(test_bind_key)
{
    RouteInfo in;
    const RoutePlan *p =
        plan1("SELECT status FROM dbos.workflow_status WHERE workflow_uuid=$1", &in);
    for (int s = 0; s < 4; s++) {
        RouteParam v = ptext(id_on(s));
        ck_assert_uint_eq(bind_ok(p, &v, 1), 1ull << s);
    }
    RouteParam null = ptext(NULL);
    ck_assert_uint_eq(bind_ok(p, &null, 1), 1); /* matches nothing: the first shard answers */
    /* Unreadable, or missing: every shard is exact for a read. */
    RouteParam i4 = {.value = "\0\0\0\x01", .len = 4, .format = 1, .type = 23};
    ck_assert_uint_eq(bind_ok(p, &i4, 1), 0xf);
    ck_assert_uint_eq(bind_ok(p, NULL, 0), 0xf);
    /* A uuid parameter routes by its canonical text, whatever form it came in. */
    RouteParam upper = {.value = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", .len = 36, .type = 2950};
    RouteParam bin = {.value = (const char *)uuid_bin, .len = 16, .format = 1, .type = 2950};
    RouteParam lower = ptext(UUID_LOWER);
    ck_assert_uint_eq(bind_ok(p, &upper, 1), bind_ok(p, &lower, 1));
    ck_assert_uint_eq(bind_ok(p, &bin, 1), bind_ok(p, &lower, 1));
    route_info_free(&in);
    /* A literal key. */
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT * FROM dbos.workflow_status WHERE workflow_uuid = '%s'",
             id_on(3));
    ck_assert_uint_eq(bind_ok(plan1(sql, &in), NULL, 0), 1ull << 3);
    route_info_free(&in);
}
END_TEST

START_TEST(test_bind_lists)
{
    RouteInfo in;
    char arr[128];
    const RoutePlan *p =
        plan1("UPDATE dbos.workflow_status SET status=$1 WHERE workflow_uuid = ANY($2)", &in);
    snprintf(arr, sizeof arr, "{%s,%s,\"%s\"}", id_on(0), id_on(3), id_on(3));
    RouteParam v[2] = {ptext("CANCELLED"), ptext(arr)};
    ck_assert_uint_eq(bind_ok(p, v, 2), 0x9);
    v[1] = ptext("{}");
    ck_assert_uint_eq(bind_ok(p, v, 2), 0x1);
    v[1] = ptext("{not closed");
    ck_assert_uint_eq(bind_ok(p, v, 2), 0xf); /* unreadable: every shard, exact anyway */
    v[1] = ptext(NULL);
    ck_assert_uint_eq(bind_ok(p, v, 2), 0x1);
    route_info_free(&in);
    /* IN ($1, $2, $3) with a literal too */
    snprintf(arr, sizeof arr,
             "SELECT workflow_uuid FROM dbos.workflow_status WHERE workflow_uuid IN ($1, '%s', $2)",
             id_on(2));
    p = plan1(arr, &in);
    RouteParam w[2] = {ptext(id_on(1)), ptext(id_on(1))};
    ck_assert_uint_eq(bind_ok(p, w, 2), 0x6);
    route_info_free(&in);
}
END_TEST

/* A statement that needs its keys together: on one shard, or refused. */
START_TEST(test_bind_together)
{
    RouteInfo in;
    const RoutePlan *p =
        plan1("WITH mapping(orig_id, fork_id, start_step, owner) AS (VALUES "
              "($1::text,$2::text,$3::int,$4::text)) INSERT INTO \"dbos\".workflow_events "
              "(workflow_uuid, key, value, serialization) SELECT m.fork_id, e.key, e.value, "
              "e.serialization FROM mapping m JOIN \"dbos\".workflow_events e ON "
              "e.workflow_uuid = m.orig_id",
              &in);
    ck_assert(p->kind == ROUTE_KEY && p->key_one);
    RouteParam v[4] = {ptext(id_on(1)), ptext(id_on(1)), ptext("3"), ptext("app")};
    ck_assert_uint_eq(bind_ok(p, v, 4), 0x2);
    v[1] = ptext(id_on(2));
    bind_fails(p, v, 4, "its workflow IDs are on different shards (positions 1 and 2");
    /* A fork named "<original uuid>-<suffix>" lives with its original. */
    v[0] = ptext(UUID_LOWER);
    v[1] = ptext(UUID_LOWER "-fork-1");
    ck_assert_uint_eq(bind_ok(p, v, 4), 1ull << slot_map_shard_of(&map4, UUID_LOWER, 36));
    /* Unreadable: no fallback for a statement that must stay on one shard. */
    RouteParam bad = {.value = "x", .len = 1, .format = 1, .type = 23};
    v[1] = bad;
    bind_fails(p, v, 4, "cannot read the workflow ID in parameter $2 (type OID 23, binary");
    route_info_free(&in);
    /* An INSERT with an unreadable key is refused, never sent everywhere. */
    p = plan1("INSERT INTO dbos.workflow_input (workflow_uuid, inputs) VALUES ($1, $2)", &in);
    RouteParam ins[2] = {bad, ptext("[]")};
    bind_fails(p, ins, 2, "cannot read the workflow ID in parameter $1");
    ins[0] = ptext(NULL);
    ck_assert_uint_eq(bind_ok(p, ins, 2), 0x1); /* the server refuses a NULL key itself */
    route_info_free(&in);
    /* dbos.enqueue_workflow with a NULL workflow_id would make one up on any shard. */
    p = plan1("SELECT dbos.enqueue_workflow('w', 'q', workflow_id => $1)", &in);
    RouteParam n = ptext(NULL);
    bind_fails(p, &n, 1, "a NULL workflow ID would let the server make one up");
    route_info_free(&in);
}
END_TEST

/* Several shards where the rows do not merge: refused at Bind, fine on one shard. */
START_TEST(test_bind_merge)
{
    RouteInfo in;
    const RoutePlan *p =
        plan1("SELECT avg(priority) FROM dbos.workflow_status WHERE workflow_uuid = ANY($1)", &in);
    ck_assert(p->kind == ROUTE_KEY && !p->key_one && !p->merge.ok);
    char arr[64];
    snprintf(arr, sizeof arr, "{%s,%s}", id_on(0), id_on(0));
    RouteParam v = ptext(arr);
    ck_assert_uint_eq(bind_ok(p, &v, 1), 0x1);
    snprintf(arr, sizeof arr, "{%s,%s}", id_on(0), id_on(2));
    v = ptext(arr);
    bind_fails(p, &v, 1, "on several shards and its column 1 is neither");
    /* Unreadable: every shard would be needed, and their rows do not merge. */
    v = ptext("{not closed");
    bind_fails(p, &v, 1, "cannot read the workflow ID in parameter $1");
    route_info_free(&in);
}
END_TEST

/* ---- Multi-row INSERT ---- */

START_TEST(test_rows)
{
    RouteInfo in;
    const char *sql = "INSERT INTO \"dbos\".workflow_status (workflow_uuid, status, name, "
                      "queue_name) VALUES ($1,$2,$3,$4), ($5,$6,$7,$8), ($9,$10,$11,$12) ON "
                      "CONFLICT (workflow_uuid) DO NOTHING RETURNING workflow_uuid";
    const RoutePlan *p = plan1(sql, &in);
    ck_assert_int_eq(p->kind, ROUTE_KEY_ROWS);
    ck_assert_int_eq(p->nrows, 3);
    RouteParam v[12];
    for (int i = 0; i < 12; i++)
        v[i] = ptext("x");
    v[0] = ptext(id_on(1)), v[4] = ptext(id_on(1)), v[8] = ptext(id_on(3));
    int rows[3];
    uint64_t shards;
    char err[128];
    ck_assert(router_bind(p, &map4, v, 12, &shards, rows, err, sizeof err));
    ck_assert_uint_eq(shards, 0xa);
    ck_assert_int_eq(rows[0], 1);
    ck_assert_int_eq(rows[1], 1);
    ck_assert_int_eq(rows[2], 3);
    /* Shard 1 gets rows 0 and 1; shard 3 row 2, renumbered. */
    uint16_t map[16];
    int n;
    int keep01[] = {0, 1}, keep2[] = {2};
    char *s1 = router_rows_sql(p, sql, keep01, 2, map, &n);
    ck_assert_str_eq(s1, "INSERT INTO \"dbos\".workflow_status (workflow_uuid, status, name, "
                         "queue_name) VALUES ($1,$2,$3,$4), ($5,$6,$7,$8) ON CONFLICT "
                         "(workflow_uuid) DO NOTHING RETURNING workflow_uuid");
    ck_assert_int_eq(n, 8);
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(map[i], i + 1);
    char *s3 = router_rows_sql(p, sql, keep2, 1, map, &n);
    ck_assert_str_eq(s3, "INSERT INTO \"dbos\".workflow_status (workflow_uuid, status, name, "
                         "queue_name) VALUES ($1,$2,$3,$4) ON CONFLICT (workflow_uuid) DO "
                         "NOTHING RETURNING workflow_uuid");
    ck_assert_int_eq(n, 4);
    ck_assert_uint_eq(map[0], 9);
    ck_assert_uint_eq(map[3], 12);
    free(s1);
    free(s3);
    /* A NULL key row: the first shard (where the server rejects it), which is then one of the
     * shards the statement runs on. */
    v[4] = ptext(NULL);
    ck_assert(router_bind(p, &map4, v, 12, &shards, rows, err, sizeof err));
    ck_assert_int_eq(rows[1], 0);
    ck_assert_uint_eq(shards, 0xb);
    route_info_free(&in);
}
END_TEST

/* A text that is not NUL-terminated, ending in a parameter: only its own digits are read
 * (found by fuzz_router). */
START_TEST(test_rows_unterminated)
{
    const char buf[] = "INSERT INTO dbos.workflow_input (workflow_uuid, inputs) VALUES ($1,$2), "
                       "($3,$4)99999";
    size_t len = sizeof buf - 1 - 5;
    RouteInfo in;
    ck_assert(router_plan_uncached(buf, len, "dbos", &in));
    const RoutePlan *p = &in.plans[0];
    ck_assert_int_eq(p->kind, ROUTE_KEY_ROWS);
    ck_assert_int_eq(p->nparams, 4);
    ck_assert_uint_eq(p->params[3].number, 4);
    uint16_t map[4];
    int n, keep[] = {1};
    char *s = router_rows_sql(p, buf, keep, 1, map, &n);
    ck_assert_str_eq(s, "INSERT INTO dbos.workflow_input (workflow_uuid, inputs) VALUES ($1,$2)");
    ck_assert_uint_eq(map[0], 3);
    free(s);
    route_info_free(&in);
}
END_TEST

START_TEST(test_rows_sql_text)
{
    RouteInfo in;
    /* Parameters outside the rows stay, renumbered after the kept rows' ones. */
    const char *sql = "INSERT INTO dbos.workflow_input (workflow_uuid, inputs) VALUES ($1,$2),"
                      "($3,$4) ON CONFLICT (workflow_uuid) DO UPDATE SET inputs = $5";
    const RoutePlan *p = plan1(sql, &in);
    ck_assert_int_eq(p->kind, ROUTE_KEY_ROWS);
    uint16_t map[8];
    int n, keep[] = {1};
    char *s = router_rows_sql(p, sql, keep, 1, map, &n);
    ck_assert_str_eq(s, "INSERT INTO dbos.workflow_input (workflow_uuid, inputs) VALUES ($1,$2) "
                        "ON CONFLICT (workflow_uuid) DO UPDATE SET inputs = $3");
    ck_assert_int_eq(n, 3);
    ck_assert_uint_eq(map[0], 3);
    ck_assert_uint_eq(map[1], 4);
    ck_assert_uint_eq(map[2], 5);
    free(s);
    route_info_free(&in);
    /* Parentheses in strings and comments, casts, nested parentheses in a row. */
    sql = "INSERT INTO dbos.workflow_status (workflow_uuid, status, priority) VALUES ('a)', "
          "'x', (1 + (2))) /* ( */, ('b', ')', $1::int)";
    p = plan1(sql, &in);
    ck_assert_int_eq(p->kind, ROUTE_KEY_ROWS);
    char d[256];
    router_describe(p, d, sizeof d);
    ck_assert_str_eq(d, "KEY_ROWS keys='a)','b' rows=2 +write");
    int keep1[] = {1}, keep0[] = {0}, both[] = {1, 0};
    s = router_rows_sql(p, sql, keep1, 1, map, &n);
    ck_assert_str_eq(s, "INSERT INTO dbos.workflow_status (workflow_uuid, status, priority) "
                        "VALUES ('b', ')', $1::int)");
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(map[0], 1);
    free(s);
    s = router_rows_sql(p, sql, keep0, 1, map, &n);
    ck_assert_str_eq(s, "INSERT INTO dbos.workflow_status (workflow_uuid, status, priority) "
                        "VALUES ('a)', 'x', (1 + (2)))");
    ck_assert_int_eq(n, 0);
    free(s);
    s = router_rows_sql(p, sql, both, 2, map, &n); /* in the order given */
    ck_assert_str_eq(s, "INSERT INTO dbos.workflow_status (workflow_uuid, status, priority) "
                        "VALUES ('b', ')', $1::int), ('a)', 'x', (1 + (2)))");
    free(s);
    ck_assert_ptr_null(router_rows_sql(p, sql, keep1, 0, map, &n));
    route_info_free(&in);
    /* Not a rows plan. */
    p = plan1("SELECT 1", &in);
    ck_assert_ptr_null(router_rows_sql(p, "SELECT 1", keep1, 1, map, &n));
    route_info_free(&in);
}
END_TEST

/* ---- DBOS's own transactions ---- */

static uint64_t bind_text(const char *sql, const char *const *vals, int n)
{
    RouteInfo in;
    RouteParam v[32];
    for (int i = 0; i < n; i++)
        v[i] = ptext(vals[i]);
    uint64_t s = bind_ok(plan1(sql, &in), v, n);
    route_info_free(&in);
    return s;
}

/* B2, child start with a default child ID: every statement on the parent's shard, so the
 * transaction needs no two-phase commit. With an explicit child ID it spans two shards. */
START_TEST(test_child_with_parent)
{
    const char *parent = UUID_LOWER, *child = UUID_LOWER "-0";
    const char *lock[] = {parent};
    const char *init[] = {child, "ENQUEUED", "wf", parent};
    const char *step[] = {parent, "3", "startChild", child};
    uint64_t a = bind_text("SELECT owner_xid FROM \"dbos\".workflow_status WHERE workflow_uuid=$1 "
                           "FOR NO KEY UPDATE",
                           lock, 1);
    uint64_t b = bind_text("INSERT INTO \"dbos\".workflow_status (workflow_uuid, status, name, "
                           "parent_workflow_id) VALUES ($1,$2,$3,$4)",
                           init, 4);
    uint64_t c = bind_text("INSERT INTO \"dbos\".operation_outputs (workflow_uuid, function_id, "
                           "function_name, child_workflow_id) VALUES ($1,$2,$3,$4)",
                           step, 4);
    ck_assert_uint_eq(a, b);
    ck_assert_uint_eq(a, c);
    ck_assert_int_eq(__builtin_popcountll(a), 1);
    /* Python's first child is <parent>-1: the same. */
    const char *py[] = {UUID_LOWER "-1", "ENQUEUED", "wf", parent};
    ck_assert_uint_eq(bind_text("INSERT INTO \"dbos\".workflow_status (workflow_uuid, status, "
                                "name, parent_workflow_id) VALUES ($1,$2,$3,$4)",
                                py, 4),
                      a);
}
END_TEST

static Suite *router_bind_suite(void)
{
    Suite *s = suite_create("router_bind");
    TCase *tc = tcase_create("values");
    tcase_add_unchecked_fixture(tc, map_setup, NULL);
    tcase_add_loop_test(tc, test_key_text, 0, (int)(sizeof key_cases / sizeof *key_cases));
    tcase_add_loop_test(tc, test_array_text, 0, (int)(sizeof arr_cases / sizeof *arr_cases));
    tcase_add_test(tc, test_array_binary);
    suite_add_tcase(s, tc);
    tc = tcase_create("bind");
    tcase_add_unchecked_fixture(tc, map_setup, NULL);
    tcase_add_test(tc, test_bind_kinds);
    tcase_add_test(tc, test_bind_key);
    tcase_add_test(tc, test_bind_lists);
    tcase_add_test(tc, test_bind_together);
    tcase_add_test(tc, test_bind_merge);
    tcase_add_test(tc, test_rows);
    tcase_add_test(tc, test_rows_sql_text);
    tcase_add_test(tc, test_rows_unterminated);
    tcase_add_test(tc, test_child_with_parent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(router_bind_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
