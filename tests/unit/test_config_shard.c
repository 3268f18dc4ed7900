/* test_config_shard.c - Check suite for config/config_shard.c: [shards] entries, a sharded
 * [databases] entry (shards=, slots=, dbos_schema=), FILE:LINE errors, the slot map built from
 * the ranges, and the "not implemented in this build" refusal. */
#include "config.h"
#include "slot.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TWO_SHARDS                                                                                 \
    "[shards]\n"                                                                                   \
    "s0 = host=pg0 dbname=sys\n"                                                                   \
    "s1 = host=pg1 dbname=sys\n"

static Config *load_ok(const char *text)
{
    char err[512];
    Config *cfg = cfg_load_string(text, "t.ini", err, sizeof err);
    ck_assert_msg(cfg != NULL, "unexpected error: %s", err);
    return cfg;
}

/* Loading must fail with a message starting with `prefix` ("t.ini:LINE: ") and holding `want`. */
static void load_fails(const char *text, const char *prefix, const char *want)
{
    char err[512];
    Config *cfg = cfg_load_string(text, "t.ini", err, sizeof err);
    ck_assert_msg(cfg == NULL, "loaded, expected '%s%s'", prefix, want);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "'%s' does not start with '%s'", err,
                  prefix);
    ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
}

static const CfgShard *db_shard(const Config *cfg, const CfgDatabase *db, int i)
{
    ck_assert_int_lt(i, db->nshards);
    return &cfg->shards[db->shards[i]];
}

static void assert_range(const CfgDatabase *db, int i, int first, int last, int shard)
{
    ck_assert_int_lt(i, db->nslots);
    ck_assert_int_eq(db->slots[i].first, first);
    ck_assert_int_eq(db->slots[i].last, last);
    ck_assert_int_eq(db->slots[i].shard, shard);
}

START_TEST(test_basic)
{
    Config *cfg = load_ok("[pgpin]\ndefault_pool_size = 7\n" TWO_SHARDS "[databases]\n"
                          "dbos_sys = shards=s0,s1 write_rate=100\n"
                          "plain = host=pg9 dbname=plain\n");
    ck_assert_int_eq(cfg->nshards, 2);
    ck_assert_str_eq(cfg->shards[0].name, "s0");
    ck_assert_str_eq(cfg->shards[0].conninfo, "host=pg0 dbname=sys");
    ck_assert_int_eq(cfg->shards[0].line, 4);
    ck_assert(cfg->shards[1].has_dbname && !cfg->shards[1].has_user);
    const CfgDatabase *db = cfg_find_db(cfg, "dbos_sys");
    ck_assert_ptr_nonnull(db);
    ck_assert_int_eq(db->nshards, 2);
    ck_assert_str_eq(db_shard(cfg, db, 0)->name, "s0");
    ck_assert_str_eq(db_shard(cfg, db, 1)->name, "s1");
    ck_assert_str_eq(db->conninfo, "");
    ck_assert(db->has_dbname && !db->has_user);
    ck_assert_int_eq(db->pool_size, 7);
    ck_assert_int_eq(db->write_rate, 100);
    ck_assert_str_eq(db->dbos_schema, "dbos");
    ck_assert(!db->slots_given);
    ck_assert_int_eq(db->nslots, 2);
    assert_range(db, 0, 0, 8191, 0);
    assert_range(db, 1, 8192, 16383, 1);
    const CfgDatabase *plain = cfg_find_db(cfg, "plain");
    ck_assert_int_eq(plain->nshards, 0);
    ck_assert_ptr_null(plain->dbos_schema);
    cfg_unref(cfg);
}
END_TEST

/* [shards] may follow [databases]; URIs and quoted key=value conninfos are taken as written. */
START_TEST(test_order_and_forms)
{
    Config *cfg = load_ok("[databases]\n"
                          "d = shards=b,a,c dbos_schema=DBOS_1\n"
                          "[shards]\n"
                          "a = postgresql://u@pg0:5433/sys?sslmode=disable\n"
                          "b = host=pg1 user=u dbname='my sys'\n"
                          "c = host=pg2 user=u dbname=sys\n");
    const CfgDatabase *db = cfg_find_db(cfg, "d");
    ck_assert_int_eq(db->nshards, 3);
    ck_assert_str_eq(db_shard(cfg, db, 0)->name, "b");
    ck_assert_str_eq(db_shard(cfg, db, 1)->name, "a");
    ck_assert_str_eq(db_shard(cfg, db, 2)->name, "c");
    ck_assert_str_eq(cfg->shards[0].conninfo, "postgresql://u@pg0:5433/sys?sslmode=disable");
    ck_assert(cfg->shards[0].has_user && cfg->shards[0].has_dbname);
    ck_assert(db->has_user);
    ck_assert_str_eq(db->dbos_schema, "DBOS_1");
    /* Three shards: 16384 / 3 = 5461.33 */
    assert_range(db, 0, 0, 5460, 0);
    assert_range(db, 1, 5461, 10921, 1);
    assert_range(db, 2, 10922, 16383, 2);
    cfg_unref(cfg);
}
END_TEST

START_TEST(test_default_ranges)
{
    /* Every shard count tiles 0..16383 in order, each shard at least 256 slots. */
    for (int n = 1; n <= SLOT_MAX_SHARDS; n++) {
        int next = 0;
        for (int i = 0; i < n; i++) {
            uint16_t a, b;
            slot_default_range(n, i, &a, &b);
            ck_assert_int_eq(a, next);
            ck_assert_int_ge(b - a + 1, SLOT_COUNT / SLOT_MAX_SHARDS);
            next = b + 1;
        }
        ck_assert_int_eq(next, SLOT_COUNT);
    }
    /* 64 shards (names short enough for one line): all exactly 256. */
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char text[4096] = "[shards]\n", list[1024] = "";
    for (int i = 0; i < 64; i++) {
        char name[3] = {i < 62 ? chars[i] : 'a', i < 62 ? '\0' : chars[i - 62], '\0'};
        size_t n = strlen(text);
        snprintf(text + n, sizeof text - n, "%s = host=pg%d dbname=x\n", name, i);
        n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s%s", i ? "," : "", name);
    }
    size_t n = strlen(text);
    snprintf(text + n, sizeof text - n, "[databases]\nd = shards='%s'\n", list);
    Config *cfg = load_ok(text);
    const CfgDatabase *db = cfg_find_db(cfg, "d");
    ck_assert_int_eq(db->nshards, 64);
    for (int i = 0; i < 64; i++)
        assert_range(db, i, i * 256, i * 256 + 255, i);
    cfg_unref(cfg);
}
END_TEST

START_TEST(test_slots_override)
{
    Config *cfg = load_ok(TWO_SHARDS "[databases]\n"
                                     "a = shards=s0,s1 slots=s1:0-99,s0:100-16383\n"
                                     "b = shards=s0,s1 slots='s0:0-10 , s0:11-8191,s1:8192-16383'\n"
                                     "c = shards=s0,s1 slots=s0:0,s1:1-16382,s0:16383\n"
                                     "d = shards=s1,s0 slots=s0:0-16383\n");
    const CfgDatabase *a = cfg_find_db(cfg, "a"), *b = cfg_find_db(cfg, "b");
    const CfgDatabase *c = cfg_find_db(cfg, "c"), *d = cfg_find_db(cfg, "d");
    ck_assert(a->slots_given);
    ck_assert_int_eq(a->nslots, 2);
    assert_range(a, 0, 0, 99, 1);
    assert_range(a, 1, 100, 16383, 0);
    /* Neighbours of one shard merge. */
    ck_assert_int_eq(b->nslots, 2);
    assert_range(b, 0, 0, 8191, 0);
    assert_range(b, 1, 8192, 16383, 1);
    ck_assert_int_eq(c->nslots, 3);
    assert_range(c, 0, 0, 0, 0);
    assert_range(c, 1, 1, 16382, 1);
    assert_range(c, 2, 16383, 16383, 0);
    /* A shard without slots (s1, position 0 in d's list) is allowed. */
    ck_assert_int_eq(d->nslots, 1);
    assert_range(d, 0, 0, 16383, 1);

    SlotMap m;
    ck_assert(slot_map_build(&m, a->nshards, a->slots, a->nslots));
    ck_assert_int_eq(slot_map_shard(&m, 0), 1);
    ck_assert_int_eq(slot_map_shard(&m, 99), 1);
    ck_assert_int_eq(slot_map_shard(&m, 100), 0);
    ck_assert_int_eq(slot_map_shard(&m, 16383), 0);
    ck_assert(slot_map_build(&m, c->nshards, c->slots, c->nslots));
    ck_assert_int_eq(slot_map_shard(&m, 0), 0);
    ck_assert_int_eq(slot_map_shard(&m, 1), 1);
    ck_assert_int_eq(slot_map_shard(&m, 16383), 0);
    cfg_unref(cfg);
}
END_TEST

typedef struct ErrCase {
    const char *text, *prefix, *want;
} ErrCase;

#define DB "[databases]\n" /* line 4 after TWO_SHARDS */

static const ErrCase err_cases[] = {
    /* [shards] entries */
    {TWO_SHARDS "s0 = host=pg2\n", "t.ini:4: ", "duplicate shard 's0' (first defined at line 2)"},
    {"[shards]\n-x = host=pg0\n", "t.ini:2: ", "invalid shard name '-x'"},
    {"[shards]\ns/0 = host=pg0\n", "t.ini:2: ", "invalid shard name 's/0'"},
    {"[shards]\ns0 =\n", "t.ini:2: ", "shard 's0': empty conninfo"},
    {"[shards]\ns0 = host=pg0 pool_size=5\n",
     "t.ini:2: ", "shard 's0': pool_size= is a [databases] key"},
    {"[shards]\ns0 = host=pg0 shards=s1\n", "t.ini:2: ", "shards= is a [databases] key"},
    {"[shards]\ns0 = host=pg0 bogus=1\n",
     "t.ini:2: ", "shard 's0': invalid conninfo: invalid connection option \"bogus\""},
    {"[shards]\ns0 = host='pg0\n", "t.ini:2: ", "unterminated quoted string"},
    {"[shards]\ns0 = postgresql://u:secret@pg0/x?bogus=1\n",
     "t.ini:2: ", "shard 's0': invalid conninfo: invalid URI query parameter"},
    {"[shards]\nname\n", "t.ini:2: ", "syntax error"},
    {"[shard]\ns0 = host=pg0\n",
     "t.ini:1: ", "unknown section [shard] (expected [pgpin], [databases] or [shards])"},
    /* shards= */
    {TWO_SHARDS DB "d = shards=s0,s2\n",
     "t.ini:5: ", "database 'd': shards=: unknown shard 's2' (no such entry in [shards])"},
    {TWO_SHARDS DB "d = shards=s0,s0\n", "t.ini:5: ", "shard 's0' is listed twice"},
    {TWO_SHARDS DB "d = shards=s0,\n", "t.ini:5: ", "empty shard name"},
    {TWO_SHARDS DB "d = shards=''\n", "t.ini:5: ", "shards= is empty"},
    {TWO_SHARDS DB "d = shards=s0 shards=s1\n", "t.ini:5: ", "database 'd': duplicate shards"},
    {TWO_SHARDS DB "d = shards=s0,s1 host=pg0\n",
     "t.ini:5: ", "shards= replaces the connection details: put host= in each [shards] entry"},
    {TWO_SHARDS DB "d = dbname=x shards=s0\n", "t.ini:5: ", "put dbname= in each"},
    {TWO_SHARDS DB "* = shards=s0,s1\n", "t.ini:5: ", "the fallback entry '*' cannot be sharded"},
    {TWO_SHARDS DB "d = host=pg0 slots=s0:0-16383\n",
     "t.ini:5: ", "database 'd': slots= needs shards="},
    {TWO_SHARDS DB "d = host=pg0 dbos_schema=x\n", "t.ini:5: ", "dbos_schema= needs shards="},
    {TWO_SHARDS DB "d = shards=s0,s1 pool_mode=transaction\n",
     "t.ini:5: ", "pool_mode = transaction: refused"},
    {TWO_SHARDS DB "d = shards=s0,s1 dbos_schema=''\n",
     "t.ini:5: ", "dbos_schema= must be 1-63 bytes"},
    {TWO_SHARDS DB "d = shards=s0,s1 min_pool_size=30\n",
     "t.ini:5: ", "min_pool_size 30 exceeds pool_size 20"},
    /* Shards that disagree, or that are one database twice. */
    {"[shards]\na = host=pg0 user=u dbname=x\nb = host=pg1 dbname=x\n" DB "d = shards=a,b\n",
     "t.ini:5: ", "shards 'a' and 'b' disagree on user=: 'a' sets it, 'b' does not"},
    {"[shards]\na = host=pg0\nb = host=pg1 dbname=x\n" DB "d = shards=a,b\n",
     "t.ini:5: ", "disagree on dbname=: 'b' sets it, 'a' does not"},
    {"[shards]\na = host=pg0 dbname=x\nb = host=pg0 port=5432 dbname=x\n" DB "d = shards=a,b\n",
     "t.ini:5: ", "shards 'a' and 'b' are the same Postgres database"},
    {"[shards]\na = host=pg0 dbname=x\nb = postgresql://pg0/x\n" DB "d = shards=a,b\n",
     "t.ini:5: ", "are the same Postgres database"},
    /* slots= */
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:0-8191,s1:8000-16383\n",
     "t.ini:5: ", "slots=: slots 8000-8191 are given to both 's0' and 's1'"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:0-16383,s1:5\n",
     "t.ini:5: ", "slots 5-5 are given to both 's0' and 's1'"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:0-8000,s1:8192-16383\n",
     "t.ini:5: ", "slots=: slots 8001-8191 are not given to any shard"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:1-16383\n",
     "t.ini:5: ", "slots 0-0 are not given to any shard"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:0-16382\n",
     "t.ini:5: ", "slots 16383-16383 are not given to any shard"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:0-16384\n",
     "t.ini:5: ", "'s0:0-16384': slots are 0-16383"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:99999999999999999999\n",
     "t.ini:5: ", "slots are 0-16383"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:9-1\n", "t.ini:5: ", "the range is backwards"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:0-8191,s2:8192-16383\n",
     "t.ini:5: ", "slots=: 's2' is not one of this database's shards="},
    {TWO_SHARDS DB "d = shards=s0 slots=s0:0-8191,s1:8192-16383\n",
     "t.ini:5: ", "'s1' is not one of this database's shards="},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0-0-16383\n",
     "t.ini:5: ", "expected shard:first-last or shard:slot, got 's0-0-16383'"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:\n", "t.ini:5: ", "got 's0:'"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:1-\n", "t.ini:5: ", "got 's0:1-'"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:-1\n", "t.ini:5: ", "got 's0:-1'"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:0x10\n", "t.ini:5: ", "got 's0:0x10'"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots='s0:0 - 9'\n", "t.ini:5: ", "got 's0:0 - 9'"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=s0:0-8191,,s1:8192-16383\n",
     "t.ini:5: ", "slots=: empty item"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=''\n", "t.ini:5: ", "slots= is empty"},
    {TWO_SHARDS DB "d = shards=s0,s1 slots=a slots=b\n", "t.ini:5: ", "duplicate slots"},
};

START_TEST(test_errors)
{
    const ErrCase *c = &err_cases[_i];
    load_fails(c->text, c->prefix, c->want);
}
END_TEST

START_TEST(test_too_many_shards)
{
    /* 65 names short enough for one line: 62 single characters, then aa, ab, ac. */
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char text[8192] = "[shards]\n", list[256] = "";
    for (int i = 0; i < 65; i++) {
        char name[3] = {i < 62 ? chars[i] : 'a', i < 62 ? '\0' : chars[i - 62], '\0'};
        size_t n = strlen(text);
        snprintf(text + n, sizeof text - n, "%s = host=pg%d\n", name, i);
        n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s%s", i ? "," : "", name);
    }
    size_t n = strlen(text);
    snprintf(text + n, sizeof text - n, "[databases]\nd = shards=%s\n", list);
    load_fails(text, "t.ini:68: ", "database 'd': shards=: more than 64 shards");
}
END_TEST

/* No password from a shard's URI in a message. */
START_TEST(test_uri_password_not_echoed)
{
    char err[512];
    Config *cfg =
        cfg_load_string("[shards]\ns0 = postgresql://u:hunter2@pg0/x?bogus=1\n", "t.ini", err, 512);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, "hunter2") == NULL, "%s", err);
}
END_TEST

START_TEST(test_unsupported)
{
    char buf[512];
    Config *cfg = load_ok("[databases]\nappdb = host=pg0\n");
    ck_assert(!cfg_sharding_unsupported(cfg, buf, sizeof buf));
    ck_assert_str_eq(buf, "");
    cfg_unref(cfg);

    cfg = load_ok(TWO_SHARDS);
    ck_assert(cfg_sharding_unsupported(cfg, buf, sizeof buf));
    ck_assert_msg(strstr(buf, "sharding is configured but not implemented in this build yet") &&
                      strstr(buf, "[shards] has entries"),
                  "%s", buf);
    cfg_unref(cfg);

    cfg = load_ok(TWO_SHARDS "[databases]\nappdb = host=pg0\nsys = shards=s1,s0\n");
    ck_assert(cfg_sharding_unsupported(cfg, buf, sizeof buf));
    ck_assert_msg(strncmp(buf, "<string>: sharding is configured", 32) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "database 'sys' has shards="), "%s", buf);
    cfg_unref(cfg);
}
END_TEST

/* The sample file's commented-out [shards] example, uncommented, is valid. */
START_TEST(test_sample_example)
{
    FILE *f = fopen(PGPIN_SOURCE_DIR "/config/pgpin.ini", "r");
    ck_assert_ptr_nonnull(f);
    static char text[65536], out[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *at = strstr(text, "\n;[shards]\n");
    ck_assert_ptr_nonnull(at);
    /* Every ";..." line from there on loses its ';' (the other commented examples too). */
    size_t o = 0;
    bool bol = true;
    for (const char *p = at + 1; *p; p++) {
        if (bol && *p == ';') {
            bol = false;
            continue;
        }
        out[o++] = *p;
        bol = *p == '\n';
    }
    out[o] = '\0';
    Config *cfg = load_ok(out);
    bool sharded = false;
    for (int i = 0; i < cfg->ndbs; i++)
        sharded |= cfg->dbs[i].nshards > 1;
    ck_assert(sharded);
    cfg_unref(cfg);
}
END_TEST

static Suite *config_shard_suite(void)
{
    Suite *s = suite_create("config_shard");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_basic);
    tcase_add_test(tc, test_order_and_forms);
    tcase_add_test(tc, test_default_ranges);
    tcase_add_test(tc, test_slots_override);
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof err_cases / sizeof err_cases[0]));
    tcase_add_test(tc, test_too_many_shards);
    tcase_add_test(tc, test_uri_password_not_echoed);
    tcase_add_test(tc, test_unsupported);
    tcase_add_test(tc, test_sample_example);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_shard_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
