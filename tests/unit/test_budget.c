/* test_budget.c - the budget arithmetic (budget_headroom, budget_parse) on results built with
 * libpq's PQmakeEmptyPGresult/PQsetvalue, and reserve_headroom parsing. */
#include "budget.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A TUPLES_OK result with ncols text columns and the given rows (row-major cells). */
static PGresult *make_result(int ncols, int nrows, const char *const *cells)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc att[8];
    memset(att, 0, sizeof att);
    for (int c = 0; c < ncols; c++) {
        static char names[8][8];
        snprintf(names[c], sizeof names[c], "c%d", c);
        att[c].name = names[c];
        att[c].typid = 25;
        att[c].typlen = -1;
        att[c].atttypmod = -1;
    }
    ck_assert(PQsetResultAttrs(r, ncols, att));
    for (int i = 0; i < nrows; i++)
        for (int c = 0; c < ncols; c++) {
            const char *v = cells[i * ncols + c];
            ck_assert(PQsetvalue(r, i, c, (char *)v, v ? (int)strlen(v) : -1));
        }
    return r;
}

static PGresult *settings(const char *max, const char *su, const char *res, const char *self)
{
    const char *cells[] = {max, su, res, self, "15.4"};
    return make_result(5, 1, cells);
}

/* Backends: pids 100..100+n-1, user "app" for even ones, "other" for odd ones. */
static PGresult *backends(int n)
{
    char **cells = calloc((size_t)n * 2, sizeof *cells);
    for (int i = 0; i < n; i++) {
        cells[2 * i] = malloc(16);
        snprintf(cells[2 * i], 16, "%d", 100 + i);
        cells[2 * i + 1] = strdup(i % 2 ? "other" : "app");
    }
    PGresult *r = make_result(2, n, (const char *const *)cells);
    for (int i = 0; i < 2 * n; i++)
        free(cells[i]);
    free(cells);
    return r;
}

START_TEST(test_headroom)
{
    ck_assert_int_eq(budget_headroom(5, -1, 30), 2); /* 1.5 -> 2, and the minimum is 2 */
    ck_assert_int_eq(budget_headroom(5, -1, 100), 5);
    ck_assert_int_eq(budget_headroom(5, -1, 101), 6);  /* rounds up */
    ck_assert_int_eq(budget_headroom(0, -1, 1000), 2); /* 0% still keeps 2 */
    ck_assert_int_eq(budget_headroom(0, 0, 1000), 0);  /* a count is taken as it is */
    ck_assert_int_eq(budget_headroom(0, 7, 30), 7);
}
END_TEST

START_TEST(test_parse_headroom_text)
{
    double pct;
    int abs;
    ck_assert(cfg_parse_headroom("5%", &pct, &abs));
    ck_assert(pct == 5 && abs == -1);
    ck_assert(cfg_parse_headroom("12", &pct, &abs));
    ck_assert(pct == 0 && abs == 12);
    ck_assert(cfg_parse_headroom("0", &pct, &abs) && abs == 0);
    ck_assert(!cfg_parse_headroom("51%", &pct, &abs));
    ck_assert(!cfg_parse_headroom("-1", &pct, &abs));
    ck_assert(!cfg_parse_headroom("2.5", &pct, &abs));
    ck_assert(!cfg_parse_headroom("5 %", &pct, &abs));
    ck_assert(!cfg_parse_headroom("abc", &pct, &abs));
    ck_assert(!cfg_parse_headroom("", &pct, &abs));
    ck_assert(!cfg_parse_headroom("10001", &pct, &abs));
}
END_TEST

/* max 30, reserved 3, 10 backends of which 3 are ours and one is the reader: 6 others. */
START_TEST(test_budget_arithmetic)
{
    PGresult *s = settings("30", "3", "0", "109"), *b = backends(10);
    int ours[] = {100, 101, 102};
    BudgetFacts f;
    char err[100];
    ck_assert(budget_parse(s, b, NULL, ours, 3, NULL, 5, -1, &f, err, sizeof err));
    ck_assert_int_eq(f.max_connections, 30);
    ck_assert_int_eq(f.backends, 10);
    ck_assert_int_eq(f.ours, 4);
    ck_assert_int_eq(f.others, 6);
    ck_assert_int_eq(f.headroom, 2);
    ck_assert_int_eq(f.budget, 30 - 3 - 6 - 2);
    ck_assert_int_eq(f.role_limit, -1);
    ck_assert_str_eq(f.version, "15.4");
    PQclear(s);
    /* reserved_connections (16+) comes off too */
    s = settings("30", "3", "4", "109");
    ck_assert(budget_parse(s, b, NULL, ours, 3, NULL, 5, -1, &f, err, sizeof err));
    ck_assert_int_eq(f.budget, 30 - 3 - 4 - 6 - 2);
    PQclear(s);
    PQclear(b);
}
END_TEST

START_TEST(test_budget_never_negative)
{
    PGresult *s = settings("10", "3", "0", "1"), *b = backends(20);
    BudgetFacts f;
    char err[100];
    ck_assert(budget_parse(s, b, NULL, NULL, 0, NULL, 0, 2, &f, err, sizeof err));
    ck_assert_int_eq(f.others, 20);
    ck_assert_int_eq(f.budget, 0);
    PQclear(s);
    PQclear(b);
}
END_TEST

/* rolconnlimit of the login role caps the budget by what the role has left. */
START_TEST(test_role_limit)
{
    PGresult *s = settings("100", "3", "0", "100"), *b = backends(10);
    const char *rc[] = {"app", "8", "x", "1"};
    PGresult *roles = make_result(2, 2, rc);
    int ours[] = {102};
    BudgetFacts f;
    char err[100];
    /* app's backends: 100 (reader), 102 (ours), 104, 106, 108: 3 others of the role */
    ck_assert(budget_parse(s, b, roles, ours, 1, "app", 5, -1, &f, err, sizeof err));
    ck_assert_int_eq(f.role_limit, 8);
    ck_assert_int_eq(f.role_others, 3);
    ck_assert_int_eq(f.budget, 5);
    /* a role without a limit: the server's arithmetic */
    ck_assert(budget_parse(s, b, roles, ours, 1, "nobody", 5, -1, &f, err, sizeof err));
    ck_assert_int_eq(f.role_limit, -1);
    ck_assert_int_eq(f.budget, 100 - 3 - 8 - 5);
    PQclear(roles);
    PQclear(s);
    PQclear(b);
}
END_TEST

START_TEST(test_bad_results)
{
    BudgetFacts f;
    char err[100];
    PGresult *b = backends(1);
    const char *bad[] = {"x", "3", "0", "1", "15"};
    PGresult *s = make_result(5, 1, bad);
    ck_assert(!budget_parse(s, b, NULL, NULL, 0, NULL, 5, -1, &f, err, sizeof err));
    ck_assert_msg(strstr(err, "settings"), "%s", err);
    PQclear(s);
    const char *nul[] = {"30", NULL, "0", "1", "15"};
    s = make_result(5, 1, nul);
    ck_assert(!budget_parse(s, b, NULL, NULL, 0, NULL, 5, -1, &f, err, sizeof err));
    PQclear(s);
    s = settings("30", "3", "0", "1");
    ck_assert(!budget_parse(s, NULL, NULL, NULL, 0, NULL, 5, -1, &f, err, sizeof err));
    ck_assert(!budget_parse(NULL, b, NULL, NULL, 0, NULL, 5, -1, &f, err, sizeof err));
    PGresult *empty = make_result(5, 0, NULL);
    ck_assert(!budget_parse(empty, b, NULL, NULL, 0, NULL, 5, -1, &f, err, sizeof err));
    PQclear(empty);
    PQclear(s);
    PQclear(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("budget");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_headroom);
    tcase_add_test(tc, test_parse_headroom_text);
    tcase_add_test(tc, test_budget_arithmetic);
    tcase_add_test(tc, test_budget_never_negative);
    tcase_add_test(tc, test_role_limit);
    tcase_add_test(tc, test_bad_results);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
