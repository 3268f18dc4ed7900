/* test_json.c - Check suite for proxy/json.c: the reader sql.c runs over libpg_query's output.
 * Well-formed documents become pre-order nodes with subtree ends; anything else is refused
 * without reading past the given length. */
#include "json.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static JsonResult parse(JsonDoc *d, const char *s)
{
    return json_parse(d, s, strlen(s));
}

START_TEST(test_json_tree)
{
    const char *s = " {\"a\": [1, -2.5e3, \"x\"], \"b\": {}, \"c\": [], \"d\": true, \"e\": null, "
                    "\"f\": false} ";
    JsonDoc d;
    ck_assert_int_eq(parse(&d, s), JSON_OK);
    ck_assert_uint_eq(d.count, 10);
    ck_assert_int_eq(d.n[0].type, JSON_OBJ);
    ck_assert_uint_eq(d.n[0].end, 10);
    uint32_t a = json_member(&d, 0, "a");
    ck_assert_uint_eq(a, 1);
    ck_assert_int_eq(d.n[a].type, JSON_ARR);
    ck_assert_uint_eq(d.n[a].end, 5); /* 1, -2.5e3, "x" are nodes 2-4 */
    int64_t v;
    ck_assert(json_int(&d, json_first(&d, a), &v));
    ck_assert_int_eq(v, 1);
    uint32_t second = json_next(&d, a, json_first(&d, a));
    ck_assert(!json_int(&d, second, &v)); /* not an integer */
    uint32_t third = json_next(&d, a, second);
    ck_assert(json_str_is(&d, third, "x"));
    ck_assert_uint_eq(json_next(&d, a, third), 0);
    uint32_t b = json_member(&d, 0, "b");
    ck_assert_int_eq(d.n[b].type, JSON_OBJ);
    ck_assert_uint_eq(json_first(&d, b), 0); /* empty */
    ck_assert_int_eq(d.n[json_member(&d, 0, "d")].type, JSON_TRUE);
    ck_assert_int_eq(d.n[json_member(&d, 0, "e")].type, JSON_NULL);
    ck_assert_int_eq(d.n[json_member(&d, 0, "f")].type, JSON_FALSE);
    ck_assert_uint_eq(json_member(&d, 0, "zz"), 0);
    ck_assert_uint_eq(json_member(&d, a, "a"), 0); /* not an object */
    json_free(&d);
}
END_TEST

START_TEST(test_json_strings)
{
    JsonDoc d;
    const char *s = "[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u20ac\\ud83d\\ude00\", "
                    "\"\\u0000\\ud800x\", \"\"]";
    ck_assert_int_eq(parse(&d, s), JSON_OK);
    char buf[64];
    uint32_t e = json_first(&d, 0);
    ck_assert_uint_eq(json_str_copy(&d, e, buf), 12);
    ck_assert_str_eq(buf, "a\"b\\c/d\b\f\n\r\t");
    e = json_next(&d, 0, e);
    json_str_copy(&d, e, buf);
    ck_assert_str_eq(buf, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"); /* é € 😀 */
    e = json_next(&d, 0, e);
    json_str_copy(&d, e, buf);
    ck_assert_str_eq(buf, "\xef\xbf\xbd\xef\xbf\xbdx"); /* NUL and a lone surrogate: U+FFFD */
    e = json_next(&d, 0, e);
    ck_assert_uint_eq(json_str_copy(&d, e, buf), 0);
    ck_assert_uint_eq(json_str_copy(&d, 0, buf), SIZE_MAX); /* not a string */
    json_free(&d);
}
END_TEST

START_TEST(test_json_malformed)
{
    static const char *const bad[] = {
        "",        "{",         "[1,]",       "{\"a\"}", "{\"a\":}", "[1 2]",      "\"abc",
        "\"\\x\"", "\"\\u12\"", "tru",        "[nul]",   "1 2",      "{\"a\":1,}", "[\"\x01\"]",
        "-",       "[]]",       "{\"a\":1}}", "{1:2}",   "[,]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        JsonDoc d;
        ck_assert_msg(parse(&d, bad[i]) == JSON_MALFORMED, "[%s]", bad[i]);
        json_free(&d);
    }
    /* Only len bytes are read: a valid prefix of a longer buffer. */
    JsonDoc d;
    ck_assert_int_eq(json_parse(&d, "[1]garbage", 3), JSON_OK);
    json_free(&d);
    ck_assert_int_eq(json_parse(&d, "[1]garbage", 2), JSON_MALFORMED);
    json_free(&d);
}
END_TEST

START_TEST(test_json_deep)
{
    /* Nesting costs heap, not stack. */
    size_t n = 200000;
    char *s = malloc(2 * n);
    memset(s, '[', n);
    memset(s + n, ']', n);
    JsonDoc d;
    ck_assert_int_eq(json_parse(&d, s, 2 * n), JSON_OK);
    ck_assert_uint_eq(d.count, n);
    ck_assert_uint_eq(d.n[0].end, n);
    ck_assert_uint_eq(d.n[n - 1].end, n);
    json_free(&d);
    free(s);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, test_json_tree);
    tcase_add_test(tc, test_json_strings);
    tcase_add_test(tc, test_json_malformed);
    tcase_add_test(tc, test_json_deep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
