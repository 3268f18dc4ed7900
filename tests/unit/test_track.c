/* test_track.c - Check suite for proxy/track.c: recorded settings and statements, the digest,
 * and the sync plan that turns a server's state into a client's (the messages it builds are
 * decoded back and compared). */
#include "proxy.h"
#include "pqmsg.h"
#include "track.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Decoding a plan ---- */

/* The plan as text: "Q<sql>|C<name>|P<name>|S|" per message. */
static void plan_text(const TrackPlan *p, char *out, size_t cap)
{
    size_t o = 0, i = 0;
    out[0] = '\0';
    while (i + 5 <= p->buf.len) {
        uint8_t t = p->buf.data[i];
        uint32_t len = wire_be32(p->buf.data + i + 1);
        const char *body = (const char *)p->buf.data + i + 5;
        if (t == PqMsg_Query)
            o += (size_t)snprintf(out + o, cap - o, "Q%s|", body);
        else if (t == PqMsg_Close)
            o += (size_t)snprintf(out + o, cap - o, "C%s|", body + 1);
        else if (t == PqMsg_Parse)
            o += (size_t)snprintf(out + o, cap - o, "P%s|", body);
        else
            o += (size_t)snprintf(out + o, cap - o, "%c|", t);
        ck_assert_uint_lt(o, cap);
        i += 1 + len;
    }
    ck_assert_uint_eq(i, p->buf.len);
}

/* A Parse message for (name, query), as a client sends it. Caller frees. */
static uint8_t *parse_msg(const char *name, const char *query, uint32_t *len)
{
    WireBuf b;
    wire_buf_init(&b);
    wire_msg_begin(&b, PqMsg_Parse);
    wire_put_string(&b, name);
    wire_put_string(&b, query);
    wire_put_i16(&b, 0);
    wire_msg_end(&b);
    uint8_t *m = malloc(b.len);
    memcpy(m, b.data, b.len);
    *len = (uint32_t)b.len;
    wire_buf_free(&b);
    return m;
}

/* Record a named Parse in t (a client's track, with the message). */
static void add_stmt(Track *t, const char *name, const char *query, bool with_msg)
{
    uint32_t len;
    uint8_t *m = parse_msg(name, query, &len);
    const char *n;
    uint64_t h;
    ck_assert(track_parse_body(m + 5, len - 5, &n, &h));
    ck_assert_str_eq(n, name);
    ck_assert(track_stmt_add(t, name, h, with_msg ? m : NULL, len, 1));
    free(m);
}

/* Run a plan for (want, cl) against (svp, sv); returns its text in out, nsteps. */
static int run_plan(const Params *want, const Track *cl, const Params *svp, Track *sv, char *out,
                    size_t cap, bool *wait)
{
    TrackPlan p;
    track_plan_init(&p);
    ck_assert(track_plan(&p, want, cl, svp, sv));
    plan_text(&p, out, cap);
    int n = p.nsteps;
    if (wait) *wait = p.wait;
    track_plan_free(&p);
    return n;
}

/* ---- Tests ---- */

START_TEST(sets_basic)
{
    Track t = {0};
    ck_assert(track_set(&t, "Work_Mem", "SET work_mem = '2MB'"));
    ck_assert(track_set(&t, "search_path", "SET search_path = a"));
    ck_assert_int_eq(t.nsets, 2);
    ck_assert_str_eq(t.sets[0].name, "work_mem"); /* lowercased */
    ck_assert_ptr_nonnull(track_find_set(&t, "WORK_MEM"));
    /* Setting again moves it to the end, with the new statement. */
    ck_assert(track_set(&t, "work_mem", "SET work_mem = '3MB'"));
    ck_assert_str_eq(t.sets[1].sql, "SET work_mem = '3MB'");
    track_unset(&t, "search_path");
    ck_assert_int_eq(t.nsets, 1);
    ck_assert(track_set(&t, "role", "SET ROLE app"));
    track_reset_all(&t); /* keeps role */
    ck_assert_int_eq(t.nsets, 1);
    ck_assert_str_eq(t.sets[0].name, "role");
    track_sets_unknown(&t);
    ck_assert_ptr_null(t.sets[0].sql);
    track_clear_sets(&t);
    ck_assert_int_eq(t.nsets, 0);
    track_free(&t);
}
END_TEST

START_TEST(stmts_digest)
{
    Track a = {0}, b = {0};
    add_stmt(&a, "s1", "SELECT 1", true);
    add_stmt(&a, "s2", "SELECT 2", true);
    add_stmt(&b, "s2", "SELECT 2", false);
    add_stmt(&b, "s1", "SELECT 1", false);
    ck_assert(a.digest == b.digest); /* order does not matter */
    add_stmt(&b, "s1", "SELECT 11", false);
    ck_assert(a.digest != b.digest);
    add_stmt(&b, "s1", "SELECT 1", false);
    ck_assert(a.digest == b.digest);
    track_stmts_unknown(&b);
    ck_assert(a.digest != b.digest);
    ck_assert(track_find_stmt(&b, "s1")->hash == 0);
    track_stmt_del(&a, "s1");
    ck_assert_int_eq(a.nstmts, 1);
    ck_assert_ptr_null(track_find_stmt(&a, "s1"));
    track_stmts_clear(&a);
    ck_assert(a.digest == 0);
    track_free(&a);
    track_free(&b);
}
END_TEST

START_TEST(parse_body_bad)
{
    const char *n;
    uint64_t h;
    uint8_t bad[3] = {'a', 'b', 'c'}; /* no NUL */
    ck_assert(!track_parse_body(bad, sizeof bad, &n, &h));
    ck_assert(track_hash("", 0) != 0);
}
END_TEST

START_TEST(plan_nothing)
{
    Params want = {0}, svp = {0};
    Track cl = {0}, sv = {0};
    char out[2048];
    params_set(&want, "client_encoding", "UTF8");
    params_set(&svp, "client_encoding", "UTF8");
    params_set(&svp, "application_name", "");
    ck_assert_int_eq(run_plan(&want, &cl, &svp, &sv, out, sizeof out, NULL), 0);
    ck_assert_str_eq(out, "");
    /* The same recorded state on both sides: nothing either. */
    track_set(&cl, "work_mem", "SET work_mem = '2MB'");
    track_set(&sv, "work_mem", "SET work_mem = '2MB'");
    add_stmt(&cl, "s1", "SELECT 1", true);
    add_stmt(&sv, "s1", "SELECT 1", false);
    ck_assert_int_eq(run_plan(&want, &cl, &svp, &sv, out, sizeof out, NULL), 0);
    params_free(&want), params_free(&svp), track_free(&cl), track_free(&sv);
}
END_TEST

START_TEST(plan_sets)
{
    Params want = {0}, svp = {0};
    Track cl = {0}, sv = {0};
    char out[2048];
    bool wait;
    params_set(&want, "application_name", "app's");
    params_set(&want, "statement_timeout", "5s"); /* unreported */
    params_set(&svp, "application_name", "other");
    track_set(&sv, "search_path", "SET search_path = x"); /* another client's */
    track_set(&cl, "work_mem", "SET work_mem = '2MB'");
    ck_assert_int_eq(run_plan(&want, &cl, &svp, &sv, out, sizeof out, &wait), 1);
    ck_assert_str_eq(out, "QRESET \"search_path\"; SET \"application_name\" = E'app''s'; SET "
                          "\"statement_timeout\" = E'5s'; SET work_mem = '2MB'|");
    ck_assert(!wait);
    /* The server is now recorded as synced: the unreported startup GUC and the SET. */
    ck_assert_ptr_null(track_find_set(&sv, "search_path"));
    ck_assert_ptr_nonnull(track_find_set(&sv, "statement_timeout"));
    ck_assert_str_eq(track_find_set(&sv, "work_mem")->sql, "SET work_mem = '2MB'");
    /* Again (the reported value now matches): nothing. */
    params_set(&svp, "application_name", "app's");
    ck_assert_int_eq(run_plan(&want, &cl, &svp, &sv, out, sizeof out, NULL), 0);
    /* A recorded SET overrides the startup GUC of the same name. */
    track_set(&cl, "statement_timeout", "SET statement_timeout = 7");
    ck_assert_int_eq(run_plan(&want, &cl, &svp, &sv, out, sizeof out, NULL), 1);
    ck_assert_str_eq(out, "QSET statement_timeout = 7|");
    /* Unknown on the server: set again. */
    track_sets_unknown(&sv);
    ck_assert_int_eq(run_plan(&want, &cl, &svp, &sv, out, sizeof out, NULL), 1);
    ck_assert_str_eq(out, "QSET work_mem = '2MB'; SET statement_timeout = 7|");
    params_free(&want), params_free(&svp), track_free(&cl), track_free(&sv);
}
END_TEST

START_TEST(plan_app_name)
{
    Params want = {0}, svp = {0};
    Track cl = {0}, sv = {0};
    char out[2048];
    /* A client naming no application on a server opened for one sees "". */
    params_set(&svp, "application_name", "first");
    ck_assert_int_eq(run_plan(&want, &cl, &svp, &sv, out, sizeof out, NULL), 1);
    ck_assert_str_eq(out, "QSET \"application_name\" = E''|");
    /* A RESET of another client's application_name is followed by SET '' too. */
    params_set(&svp, "application_name", "");
    track_set(&sv, "application_name", "SET application_name = 'b'");
    ck_assert_int_eq(run_plan(&want, &cl, &svp, &sv, out, sizeof out, NULL), 1);
    ck_assert_str_eq(out, "QRESET \"application_name\"; SET \"application_name\" = E''|");
    params_free(&want), params_free(&svp), track_free(&cl), track_free(&sv);
}
END_TEST

START_TEST(plan_role_waits)
{
    Params want = {0}, svp = {0};
    Track cl = {0}, sv = {0};
    char out[2048];
    bool wait;
    track_set(&cl, "role", "SET ROLE app");
    run_plan(&want, &cl, &svp, &sv, out, sizeof out, &wait);
    ck_assert(wait);
    track_clear_sets(&cl);
    run_plan(&want, &cl, &svp, &sv, out, sizeof out, &wait); /* RESET role */
    ck_assert_str_eq(out, "QRESET \"role\"|");
    ck_assert(wait);
    params_free(&want), params_free(&svp), track_free(&cl), track_free(&sv);
}
END_TEST

START_TEST(plan_stmts)
{
    Params want = {0}, svp = {0};
    Track cl = {0}, sv = {0};
    char out[2048];
    add_stmt(&cl, "same", "SELECT 1", true);
    add_stmt(&cl, "new", "SELECT 2", true);
    add_stmt(&cl, "changed", "SELECT 3", true);
    add_stmt(&sv, "same", "SELECT 1", false);
    add_stmt(&sv, "changed", "SELECT 33", false);
    add_stmt(&sv, "foreign", "SELECT 4", false);
    int n = run_plan(&want, &cl, &svp, &sv, out, sizeof out, NULL);
    /* One Close batch (changed, foreign), then a Parse + Sync each for new and changed. */
    ck_assert_int_eq(n, 3);
    ck_assert_msg(strstr(out, "Cforeign|") && strstr(out, "Cchanged|"), "%s", out);
    ck_assert_msg(strstr(out, "Pnew|S|") && strstr(out, "Pchanged|S|"), "%s", out);
    ck_assert_msg(strstr(out, "Csame") == NULL && strstr(out, "Psame") == NULL, "%s", out);
    ck_assert(cl.digest == sv.digest);
    ck_assert_int_eq(sv.nstmts, 3);
    /* Steps: CLOSES, PARSE new/changed (names kept for the error path). */
    TrackPlan p;
    track_plan_init(&p);
    track_stmts_unknown_batch(&sv, 0); /* the plan's own entries have batch 0 */
    ck_assert(track_plan(&p, &want, &cl, &svp, &sv));
    ck_assert_int_eq(p.nsteps, 3);
    ck_assert_int_eq(p.steps[0].kind, TRACK_STEP_CLOSES);
    ck_assert_int_eq(p.steps[1].kind, TRACK_STEP_PARSE);
    ck_assert_ptr_nonnull(p.steps[1].name);
    track_plan_free(&p);
    params_free(&want), params_free(&svp), track_free(&cl), track_free(&sv);
}
END_TEST

static Suite *track_suite(void)
{
    Suite *s = suite_create("track");
    TCase *tc = tcase_create("track");
    tcase_add_test(tc, sets_basic);
    tcase_add_test(tc, stmts_digest);
    tcase_add_test(tc, parse_body_bad);
    tcase_add_test(tc, plan_nothing);
    tcase_add_test(tc, plan_sets);
    tcase_add_test(tc, plan_app_name);
    tcase_add_test(tc, plan_role_waits);
    tcase_add_test(tc, plan_stmts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(track_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
