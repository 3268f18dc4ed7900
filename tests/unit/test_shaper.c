/* test_shaper.c - the GCRA token bucket: burst, steady rate, waits it reports, idle credit,
 * reconfiguration, AIMD steps of write_rate = auto, and many threads taking at once never
 * exceeding rate * t + burst. */
#include "shaper.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000LL
#define S  1000000000LL

START_TEST(test_off)
{
    Shaper s;
    memset(&s, 0, sizeof s);
    ck_assert(!shaper_on(&s));
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(shaper_take(&s, 0), 0);
    shaper_configure(&s, 0, 10);
    ck_assert(!shaper_on(&s));
}
END_TEST

START_TEST(test_burst_then_rate)
{
    Shaper s;
    memset(&s, 0, sizeof s);
    shaper_configure(&s, 100, 5); /* 10 ms apart, 5 at once */
    int64_t t = 10 * S;
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(shaper_take(&s, t), 0);
    int64_t wait = shaper_take(&s, t);
    ck_assert_int_eq(wait, 10 * MS); /* the sixth waits one interval */
    ck_assert_int_eq(shaper_take(&s, t + wait - 1), 1);
    ck_assert_int_eq(shaper_take(&s, t + wait), 0);
    /* steady: one per 10 ms */
    int admitted = 0;
    for (int64_t now = t + wait; now < t + wait + S; now += MS)
        admitted += shaper_take(&s, now) == 0;
    ck_assert_msg(admitted >= 99 && admitted <= 101, "%d in one second at 100/s", admitted);
}
END_TEST

START_TEST(test_idle_credit_capped)
{
    Shaper s;
    memset(&s, 0, sizeof s);
    shaper_configure(&s, 10, 3);
    ck_assert_int_eq(shaper_take(&s, S), 0);
    /* an hour idle banks no more than the burst */
    int64_t later = 3600 * S;
    int n = 0;
    while (shaper_take(&s, later) == 0)
        n++;
    ck_assert_int_eq(n, 3);
}
END_TEST

START_TEST(test_reconfigure)
{
    Shaper s;
    memset(&s, 0, sizeof s);
    shaper_configure(&s, 1, 1);
    ck_assert_int_eq(shaper_take(&s, S), 0);
    ck_assert_int_eq(shaper_take(&s, S), S);
    shaper_configure(&s, 0, 1);
    ck_assert_int_eq(shaper_take(&s, S), 0);
    shaper_configure(&s, 1000, 1);
    ck_assert(shaper_take(&s, 3 * S) == 0);
}
END_TEST

typedef struct Taker {
    Shaper *s;
    int64_t t0, span;
    int admitted;
} Taker;

static void *taker_main(void *arg)
{
    Taker *tk = arg;
    for (int64_t now = tk->t0; now < tk->t0 + tk->span; now += 100000)
        tk->admitted += shaper_take(tk->s, now) == 0;
    return NULL;
}

/* Four threads on the same simulated clock: admissions never pass rate * span + burst. */
START_TEST(test_threads)
{
    Shaper s;
    memset(&s, 0, sizeof s);
    shaper_configure(&s, 1000, 10);
    Taker tk[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        tk[i] = (Taker){.s = &s, .t0 = 5 * S, .span = S};
        ck_assert_int_eq(pthread_create(&th[i], NULL, taker_main, &tk[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += tk[i].admitted;
    }
    ck_assert_msg(total <= 1000 + 10 && total >= 900, "%d admitted at 1000/s burst 10", total);
}
END_TEST

START_TEST(test_stats)
{
    Shaper s;
    memset(&s, 0, sizeof s);
    shaper_count_admitted(&s, 0);
    shaper_count_admitted(&s, 0.003);
    shaper_count_admitted(&s, 10);
    ck_assert_uint_eq(s.admitted, 3);
    ck_assert_uint_eq(s.delayed, 2);
    ck_assert_uint_eq(s.delay_hist[1], 1);
    ck_assert_uint_eq(s.delay_hist[SHAPER_DELAY_BUCKETS], 1);
    ck_assert_uint_eq(s.delay_us, 10003000);
}
END_TEST

START_TEST(test_aimd_next)
{
    ck_assert(shaper_aimd_next(1000, 0.2, 0.05, true) == 700);    /* too slow: x0.7 */
    ck_assert(shaper_aimd_next(1000, 0.2, 0.05, false) == 700);   /* ... limited or not */
    ck_assert(shaper_aimd_next(1000, 0.01, 0.05, true) == 1050);  /* fast and binding: +5% */
    ck_assert(shaper_aimd_next(10, 0.01, 0.05, true) == 11);      /* at least +1 */
    ck_assert(shaper_aimd_next(1000, 0.01, 0.05, false) == 1000); /* not binding: stay */
    ck_assert(shaper_aimd_next(1000, -1, 0.05, true) == 1000);    /* nothing finished: stay */
    ck_assert(shaper_aimd_next(12, 1, 0.05, true) == SHAPER_AUTO_MIN);
}
END_TEST

START_TEST(test_aimd_steps)
{
    Shaper s;
    memset(&s, 0, sizeof s);
    shaper_configure_auto(&s, 0, 0.05);
    ck_assert(atomic_load(&s.adaptive));
    ck_assert(atomic_load(&s.rate) == SHAPER_AUTO_START);
    ck_assert_int_eq(atomic_load(&s.interval), 1000000); /* 1 ms: 1000/s */
    /* Slow commits: the rate falls. */
    for (int i = 0; i < 10; i++)
        shaper_count_latency(&s, 0.5);
    shaper_aimd_step(&s);
    ck_assert(atomic_load(&s.rate) == 700);
    ck_assert_int_eq(atomic_load(&s.interval), (int64_t)(1e9 / 700 + 0.5));
    ck_assert_int_eq(atomic_load(&s.lat_n), 0); /* the window starts again */
    /* Fast commits while writes waited: it climbs. */
    shaper_count_latency(&s, 0.001);
    shaper_count_admitted(&s, 0.01);
    shaper_aimd_step(&s);
    ck_assert(atomic_load(&s.rate) == 735);
    /* A reload keeps what it found; a fixed rate turns it off. */
    shaper_configure_auto(&s, 0, 0.05);
    ck_assert(atomic_load(&s.rate) == 735);
    shaper_configure(&s, 50, 5);
    ck_assert(!atomic_load(&s.adaptive));
    shaper_count_latency(&s, 9);
    shaper_aimd_step(&s); /* not adaptive: nothing moves */
    ck_assert_int_eq(atomic_load(&s.interval), 20000000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shaper");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_off);
    tcase_add_test(tc, test_burst_then_rate);
    tcase_add_test(tc, test_idle_credit_capped);
    tcase_add_test(tc, test_reconfigure);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_stats);
    tcase_add_test(tc, test_aimd_next);
    tcase_add_test(tc, test_aimd_steps);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
