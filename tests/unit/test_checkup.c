/* test_checkup.c - Check suite for proxy/checkup.c (`pgpin check`): which entries are skipped,
 * the table's columns and failure lines, and the exit status for servers that cannot be reached
 * (a Unix socket directory that does not exist: no network, no waiting). The checks against a
 * live server, PgBouncer included, are in tests/integration/check.sh. */
#include "checkup.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOWHERE "host=/nonexistent-pgpin-check-dir port=5432"

static Config *load_ok(const char *text)
{
    char err[512];
    Config *cfg = cfg_load_string(text, "t.ini", err, sizeof err);
    ck_assert_msg(cfg != NULL, "unexpected error: %s", err);
    return cfg;
}

/* checkup_run's output and exit status; caller frees *text. */
static int run_capture(const Config *cfg, char **text)
{
    size_t len;
    FILE *f = open_memstream(text, &len);
    ck_assert_ptr_nonnull(f);
    int rc = checkup_run(cfg, f);
    fclose(f);
    return rc;
}

/* Line n (0-based) of text, copied into buf; "" past the end. */
static const char *line_of(const char *text, int n, char *buf, size_t len)
{
    for (; n > 0 && text; n--) {
        text = strchr(text, '\n');
        if (text) text++;
    }
    size_t l = text ? strcspn(text, "\n") : 0;
    if (l >= len) l = len - 1;
    memcpy(buf, text ? text : "", l);
    buf[l] = '\0';
    return buf;
}

START_TEST(test_skips)
{
    Config *cfg = load_ok("[databases]\n"
                          "appdb = " NOWHERE "\n"
                          "* = " NOWHERE "\n");
    ck_assert(!checkup_skips(cfg_find_db(cfg, "appdb")));
    ck_assert(checkup_skips(cfg_find_db(cfg, "other")));
    cfg_unref(cfg);
    cfg = load_ok("[databases]\n* = " NOWHERE " dbname=x\n");
    ck_assert(checkup_skips(&cfg->dbs[0]));
    cfg_unref(cfg);
    cfg = load_ok("[databases]\n* = " NOWHERE " user=u\n");
    ck_assert(checkup_skips(&cfg->dbs[0]));
    cfg_unref(cfg);
    cfg = load_ok("[databases]\n* = " NOWHERE " dbname=x user=u\n");
    ck_assert(!checkup_skips(&cfg->dbs[0]));
    cfg_unref(cfg);
}
END_TEST

/* Every value of a row starts in the column of its header word. */
static void assert_aligned(const char *header, const char *row)
{
    const char *words[] = {"database", "server",    "result",        "version",
                           "max",      "reserved",  "others",        "headroom",
                           "budget",   "pool_size", "listen/notify", "note"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        const char *h = strstr(header, words[i]);
        ck_assert_ptr_nonnull(h);
        size_t col = (size_t)(h - header);
        ck_assert_msg(strlen(row) > col && row[col] != ' ' && (col == 0 || row[col - 1] == ' '),
                      "'%s' not under '%s' in\n%s\n%s", words[i], words[i], header, row);
    }
}

START_TEST(test_print)
{
    CheckupRow rows[2];
    memset(rows, 0, sizeof rows);
    snprintf(rows[0].name, sizeof rows[0].name, "a");
    snprintf(rows[0].server, sizeof rows[0].server, "db.example.com:5432");
    rows[0].result = CHECKUP_OK;
    rows[0].have_facts = true;
    rows[0].facts = (BudgetFacts){.max_connections = 100,
                                  .superuser_reserved = 3,
                                  .reserved = 2,
                                  .others = 7,
                                  .headroom = 5,
                                  .budget = 83,
                                  .role_limit = -1};
    snprintf(rows[0].facts.version, sizeof rows[0].facts.version, "16.2 (Debian 16.2-1)");
    rows[0].pool_size = 20;
    rows[0].notify = 1;
    checkup_warn(&rows[0], "first");
    checkup_warn(&rows[0], "second");
    ck_assert_int_eq(rows[0].result, CHECKUP_WARN);

    snprintf(rows[1].name, sizeof rows[1].name, "a_longer_name");
    snprintf(rows[1].server, sizeof rows[1].server, "h:1");
    rows[1].pool_size = 3;
    rows[1].notify = -1;
    checkup_fail(&rows[1], "cannot connect: line one\n\tline two\n", "fix it");
    checkup_fail(&rows[1], "second", "other fix");
    checkup_warn(&rows[1], "w"); /* a failure stays a failure */
    ck_assert_int_eq(rows[1].result, CHECKUP_FAIL);

    char *text = NULL, h[256], r0[256], r1[256], buf[256];
    size_t len;
    FILE *f = open_memstream(&text, &len);
    checkup_print(rows, 2, f);
    fclose(f);
    line_of(text, 0, h, sizeof h);
    line_of(text, 1, r0, sizeof r0);
    line_of(text, 2, r1, sizeof r1);
    ck_assert_msg(strncmp(h, "database       server", 21) == 0, "header: %s", h);
    assert_aligned(h, r0);
    assert_aligned(h, r1);
    /* Reserved is superuser_reserved + reserved_connections; the version is its number. */
    ck_assert_msg(strstr(r0, "warn    16.2     100  5         7       5         83      20 ") !=
                      NULL,
                  "row: %s", r0);
    ck_assert_msg(strstr(r0, "ok             first; second") != NULL, "row: %s", r0);
    /* Nothing read: "-" in every budget column. */
    ck_assert_msg(strstr(r1,
                         "FAIL    -        -    -         -       -         -       3          -"
                         "              w") != NULL,
                  "row: %s", r1);
    ck_assert_str_eq(line_of(text, 3, buf, sizeof buf),
                     "FAIL a_longer_name (h:1): cannot connect: line one line two; fix: fix it");
    ck_assert_str_eq(line_of(text, 4, buf, sizeof buf),
                     "FAIL a_longer_name (h:1): second; fix: other fix");
    ck_assert_str_eq(line_of(text, 5, buf, sizeof buf), "");
    free(text);
}
END_TEST

/* The first three words of line n of text (database, server, result) as "w1 w2 w3". */
static const char *words3(const char *text, int n, char *buf, size_t len)
{
    char line[512], a[128] = "", b[128] = "", c[128] = "";
    line_of(text, n, line, sizeof line);
    sscanf(line, "%127s %127s %127s", a, b, c);
    snprintf(buf, len, "%s %s %s", a, b, c);
    return buf;
}

START_TEST(test_unreachable)
{
    Config *cfg = load_ok("[databases]\n"
                          "appdb = " NOWHERE " pool_size=4\n"
                          "* = " NOWHERE "\n");
    char *text = NULL, buf[512];
    ck_assert_int_eq(run_capture(cfg, &text), CHECKUP_EXIT_FAIL);
    ck_assert_str_eq(words3(text, 1, buf, sizeof buf),
                     "appdb /nonexistent-pgpin-check-dir:5432 FAIL");
    ck_assert_str_eq(words3(text, 2, buf, sizeof buf),
                     "* /nonexistent-pgpin-check-dir:5432 skipped");
    line_of(text, 3, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "FAIL appdb (/nonexistent-pgpin-check-dir:5432): cannot connect: ") ==
                      buf,
                  "%s", buf);
    ck_assert_msg(strstr(buf, "No such file or directory") != NULL, "%s", buf);
    free(text);
    cfg_unref(cfg);

    /* A "*" that names its database and user is checked like any entry. */
    cfg = load_ok("[databases]\n* = " NOWHERE " dbname=x user=u\n");
    ck_assert_int_eq(run_capture(cfg, &text), CHECKUP_EXIT_FAIL);
    ck_assert_ptr_nonnull(strstr(text, "\nFAIL * ("));
    free(text);
    cfg_unref(cfg);
}
END_TEST

START_TEST(test_nothing_to_check)
{
    Config *cfg = load_ok("[databases]\n* = " NOWHERE "\n");
    char *text = NULL;
    ck_assert_int_eq(run_capture(cfg, &text), CHECKUP_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(text, "has no [databases] entry to check\n"));
    free(text);
    cfg_unref(cfg);
}
END_TEST

static Suite *checkup_suite(void)
{
    Suite *s = suite_create("checkup");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_skips);
    tcase_add_test(tc, test_print);
    tcase_add_test(tc, test_unreachable);
    tcase_add_test(tc, test_nothing_to_check);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(checkup_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
