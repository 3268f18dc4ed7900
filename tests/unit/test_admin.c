/* test_admin.c - Check suite for the admin console's parser (admin.c), the result-set builders
 * it uses (wire.c), snapshot merging (snapshot.c) and the Prometheus text (metrics.c), all
 * without an event loop. */
#include "admin.h"
#include "metrics.h"
#include "snapshot.h"
#include "wire.h"

#include <check.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Statements ---- */

/* Split q into statements joined by '|' into out. */
static void split(const char *q, char *out, size_t len)
{
    size_t pos = 0, n;
    const char *st;
    out[0] = '\0';
    while (admin_next_statement(q, &pos, &st, &n)) {
        if (out[0]) strncat(out, "|", len - strlen(out) - 1);
        strncat(out, st, n < len - strlen(out) - 1 ? n : len - strlen(out) - 1);
    }
}

START_TEST(test_statements)
{
    char out[256];
    split("SHOW POOLS", out, sizeof out);
    ck_assert_str_eq(out, "SHOW POOLS");
    split("  show pools ;; ;\n SHOW  HELP;  ", out, sizeof out);
    ck_assert_str_eq(out, "show pools|SHOW  HELP");
    split("PAUSE \"a;b\"; RESUME 'x;y'", out, sizeof out);
    ck_assert_str_eq(out, "PAUSE \"a;b\"|RESUME 'x;y'");
    split(" ; ;\t", out, sizeof out);
    ck_assert_str_eq(out, "");
    split("", out, sizeof out);
    ck_assert_str_eq(out, "");
}
END_TEST

static AdminCmd parse_ok(const char *s)
{
    AdminCmd c;
    char err[300];
    ck_assert_msg(admin_parse(s, strlen(s), &c, err, sizeof err), "%s: %s", s, err);
    return c;
}

static void parse_bad(const char *s, const char *want)
{
    AdminCmd c;
    char err[300];
    ck_assert_msg(!admin_parse(s, strlen(s), &c, err, sizeof err), "%s accepted", s);
    ck_assert_msg(strstr(err, want), "%s: '%s' lacks '%s'", s, err, want);
}

START_TEST(test_parse)
{
    ck_assert_int_eq(parse_ok("SHOW POOLS").kind, ADMIN_SHOW_POOLS);
    ck_assert_int_eq(parse_ok("show\tclients").kind, ADMIN_SHOW_CLIENTS);
    ck_assert_int_eq(parse_ok("Show Servers ").kind, ADMIN_SHOW_SERVERS);
    ck_assert_int_eq(parse_ok("SHOW STATS").kind, ADMIN_SHOW_STATS);
    ck_assert_int_eq(parse_ok("SHOW limits").kind, ADMIN_SHOW_LIMITS);
    ck_assert_int_eq(parse_ok("SHOW CONFIG").kind, ADMIN_SHOW_CONFIG);
    ck_assert_int_eq(parse_ok("SHOW VERSION").kind, ADMIN_SHOW_VERSION);
    ck_assert_int_eq(parse_ok("SHOW HELP").kind, ADMIN_SHOW_HELP);
    ck_assert_int_eq(parse_ok("reload").kind, ADMIN_RELOAD);
    ck_assert_int_eq(parse_ok("SHUTDOWN").kind, ADMIN_SHUTDOWN);
    ck_assert_int_eq(parse_ok("shutdown Wait_For_Clients").kind, ADMIN_SHUTDOWN_WAIT);
    AdminCmd c = parse_ok("PAUSE");
    ck_assert_int_eq(c.kind, ADMIN_PAUSE);
    ck_assert(!c.has_db);
    c = parse_ok("pause appdb");
    ck_assert(c.has_db);
    ck_assert_str_eq(c.db, "appdb");
    c = parse_ok("RESUME \"My \"\"db\"\"\"");
    ck_assert_int_eq(c.kind, ADMIN_RESUME);
    ck_assert_str_eq(c.db, "My \"db\"");
    c = parse_ok("RESUME AppDB"); /* names keep their case, as in [databases] */
    ck_assert_str_eq(c.db, "AppDB");
}
END_TEST

START_TEST(test_parse_errors)
{
    parse_bad("SELECT 1", "unknown admin command \"SELECT 1\"");
    parse_bad("SELECT 1", "SHOW HELP");
    parse_bad("SHOW", "unknown SHOW command");
    parse_bad("SHOW DATABASES", "SHOW POOLS, CLIENTS");
    parse_bad("SHOW \"POOLS\"", "unknown SHOW command");
    parse_bad("SHOW POOLS now", "unexpected \"now\"");
    parse_bad("RELOAD please", "unexpected");
    parse_bad("PAUSE a b", "unexpected \"b\"");
    parse_bad("PAUSE \"a", "unterminated");
    parse_bad("PAUSE \"\"", "empty database name");
    parse_bad("SHUTDOWN NOW", "unexpected \"NOW\"");
    parse_bad("\"SHOW\" POOLS", "unknown admin command");
    char longname[400];
    memset(longname, 'x', sizeof longname);
    memcpy(longname, "PAUSE ", 6);
    longname[sizeof longname - 1] = '\0';
    parse_bad(longname, "too long");
}
END_TEST

/* ---- Result-set builders ---- */

START_TEST(test_row_builders)
{
    WireBuf b;
    const char *names[] = {"a", "n"};
    const uint32_t types[] = {25, 20};
    const char *cells[] = {"xy", NULL};
    wire_buf_init(&b);
    wire_build_row_description(&b, 2, names, types);
    static const uint8_t rd[] = {'T',  0, 0,  0,   46, 0,    2,    'a',  0,    0,    0,    0,
                                 0,    0, 0,  0,   0,  0,    25,   0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0, 0,  'n', 0,  0,    0,    0,    0,    0,    0,    0,
                                 0,    0, 20, 0,   8,  0xff, 0xff, 0xff, 0xff, 0,    0};
    ck_assert_uint_eq(b.len, sizeof rd);
    ck_assert_mem_eq(b.data, rd, sizeof rd);
    b.len = 0;
    wire_build_data_row(&b, 2, cells);
    static const uint8_t dr[] = {'D', 0, 0,   0,   16,   0,    2,    0,   0,
                                 0,   2, 'x', 'y', 0xff, 0xff, 0xff, 0xff};
    ck_assert_uint_eq(b.len, sizeof dr);
    ck_assert_mem_eq(b.data, dr, sizeof dr);
    b.len = 0;
    wire_build_command_complete(&b, "SHOW");
    ck_assert_uint_eq(b.len, 10);
    ck_assert_mem_eq(b.data, "C\0\0\0\x09SHOW", 10);
    b.len = 0;
    wire_build_empty_query(&b);
    ck_assert_mem_eq(b.data, "I\0\0\0\x04", 5);
    wire_buf_free(&b);
}
END_TEST

/* ---- Snapshots and metrics ---- */

static Snapshot *fake_snapshot(void)
{
    Snapshot *s = calloc(1, sizeof *s + 2 * sizeof s->parts[0]);
    ck_assert_ptr_nonnull(s);
    s->nparts = 2;
    for (int w = 0; w < 2; w++) {
        SnapPart *p = &s->parts[w];
        p->npools = 2;
        p->pools = calloc(2, sizeof *p->pools);
        /* The same (db, user) on both workers, and one more pool on each. */
        p->pools[0].dbname = strdup("d\"b");
        p->pools[0].user = strdup("u\\1\n");
        p->pools[1].dbname = strdup(w ? "zz" : "aa");
        p->pools[1].user = strdup("u");
        p->pools[0].mode = p->pools[1].mode = "session";
        p->pools[0].size = 5;
        p->pools[0].cl_active = 2 + w;
        p->pools[0].sv_idle = 1;
        p->pools[0].max_wait = w ? 0.5 : 2.0;
        p->pools[0].stats.queries = 10;
        p->pools[0].stats.error_class[stats_error_slot("53300")] = w;
        stats_add_wait(&p->pools[0].stats, 0.002);
        stats_add_wait(&p->pools[0].stats, 7);
        p->cl_active = 3;
        p->cl_login = w;
    }
    return s;
}

static void fake_free(Snapshot *s)
{
    for (int w = 0; w < s->nparts; w++) {
        for (int i = 0; i < s->parts[w].npools; i++)
            free(s->parts[w].pools[i].dbname), free(s->parts[w].pools[i].user);
        free(s->parts[w].pools);
    }
    free(s);
}

START_TEST(test_snapshot_merge)
{
    Snapshot *s = fake_snapshot();
    int n;
    SnapPool *p = snapshot_pools(s, &n);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(p[0].dbname, "aa"); /* sorted */
    ck_assert_str_eq(p[1].dbname, "d\"b");
    ck_assert_str_eq(p[2].dbname, "zz");
    ck_assert_int_eq(p[1].cl_active, 5);
    ck_assert_int_eq(p[1].sv_idle, 2);
    ck_assert_int_eq(p[1].size, 5);
    ck_assert(p[1].max_wait == 2.0);
    ck_assert_uint_eq(p[1].stats.queries, 20);
    ck_assert_uint_eq(p[1].stats.waits, 4);
    free(p);
    fake_free(s);
}
END_TEST

static char *render(Snapshot *s)
{
    struct evbuffer *o = evbuffer_new();
    metrics_render(o, s);
    size_t n = evbuffer_get_length(o);
    char *t = malloc(n + 1);
    evbuffer_remove(o, t, n);
    t[n] = '\0';
    evbuffer_free(o);
    return t;
}

START_TEST(test_metrics_text)
{
    Snapshot *s = fake_snapshot();
    char *t = render(s);
    const char *want[] = {
        "# TYPE pgpin_up gauge\npgpin_up 1\n",
        "pgpin_info{version=\"" PGPIN_VERSION "\"} 1\n",
        "pgpin_clients{state=\"active\"} 6\n",
        "pgpin_clients{state=\"login\"} 1\n",
        "pgpin_queries_total{db=\"d\\\"b\",user=\"u\\\\1\\n\"} 20\n",
        "pgpin_queries_total{db=\"aa\",user=\"u\"} 0\n",
        "pgpin_errors_total{db=\"d\\\"b\",user=\"u\\\\1\\n\",class=\"53\"} 1\n",
        "pgpin_server_connections{db=\"d\\\"b\",user=\"u\\\\1\\n\",state=\"idle\"} 2\n",
        "pgpin_wait_seconds_bucket{db=\"d\\\"b\",user=\"u\\\\1\\n\",le=\"0.001\"} 0\n",
        "pgpin_wait_seconds_bucket{db=\"d\\\"b\",user=\"u\\\\1\\n\",le=\"0.005\"} 2\n",
        "pgpin_wait_seconds_bucket{db=\"d\\\"b\",user=\"u\\\\1\\n\",le=\"5\"} 2\n",
        "pgpin_wait_seconds_bucket{db=\"d\\\"b\",user=\"u\\\\1\\n\",le=\"10\"} 4\n",
        "pgpin_wait_seconds_bucket{db=\"d\\\"b\",user=\"u\\\\1\\n\",le=\"+Inf\"} 4\n",
        "pgpin_wait_seconds_count{db=\"d\\\"b\",user=\"u\\\\1\\n\"} 4\n",
        "pgpin_wait_seconds_sum{db=\"d\\\"b\",user=\"u\\\\1\\n\"} 14.004000\n",
        "# TYPE pgpin_wait_seconds histogram\n",
        "# TYPE pgpin_errors_total counter\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(t, want[i]), "missing: %s", want[i]);
    /* Zero error classes are left out. */
    ck_assert_ptr_null(strstr(t, "pgpin_errors_total{db=\"aa\""));
    ck_assert_ptr_null(strstr(t, "class=\"00\""));
    free(t);
    fake_free(s);
}
END_TEST

START_TEST(test_escape_label)
{
    struct evbuffer *o = evbuffer_new();
    metrics_escape_label(o, "a\\b\"c\nd\te");
    char buf[64] = "";
    evbuffer_remove(o, buf, sizeof buf - 1);
    ck_assert_str_eq(buf, "a\\\\b\\\"c\\nd\te");
    evbuffer_free(o);
}
END_TEST

static Suite *admin_suite(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("console");
    tcase_add_test(tc, test_statements);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_row_builders);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("metrics");
    tcase_add_test(tm, test_snapshot_merge);
    tcase_add_test(tm, test_metrics_text);
    tcase_add_test(tm, test_escape_label);
    suite_add_tcase(s, tm);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(admin_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
