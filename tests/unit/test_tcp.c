/* test_tcp.c - Check suite for proxy/tcp.c: socket options on a client socket, and the libpq
 * keywords for server connections, which a database's conninfo overrides. */
#include "tcp.h"

#include <check.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static Config *load(const char *text)
{
    char err[256];
    Config *cfg = cfg_load_string(text, "t.ini", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    return cfg;
}

static int get_int(int fd, int level, int opt)
{
    int v = -1;
    socklen_t len = sizeof v;
    ck_assert_int_eq(getsockopt(fd, level, opt, &v, &len), 0);
    return v;
}

START_TEST(test_client_socket)
{
    Config *cfg = load("[pgpin]\ntcp_keepidle = 7\ntcp_keepintvl = 3\ntcp_keepcnt = 4\n"
                       "tcp_user_timeout = 2500\n");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert(tcp_setup_client(fd, cfg));
    ck_assert_int_eq(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    ck_assert_int_eq(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 7);
    ck_assert_int_eq(get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 3);
    ck_assert_int_eq(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
    ck_assert_int_eq(get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 2500);
    close(fd);
    cfg_unref(cfg);
}
END_TEST

/* 0 leaves the system's value; tcp_keepalive = off turns keepalives off. */
START_TEST(test_client_socket_system)
{
    Config *cfg = load("[pgpin]\ntcp_keepalive = off\ntcp_keepidle = 0\ntcp_user_timeout = 0\n");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int idle = get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE);
    ck_assert(tcp_setup_client(fd, cfg));
    ck_assert_int_eq(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    ck_assert_int_eq(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), idle);
    ck_assert_int_eq(get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
    close(fd);
    cfg_unref(cfg);
}
END_TEST

/* What libpq holds for `key` after our keywords and then `conninfo` (as server_open orders
 * them); caller frees. */
static char *libpq_value(const Config *cfg, const char *conninfo, const char *key)
{
    const char *keys[TCP_LIBPQ_MAX + 2], *vals[TCP_LIBPQ_MAX + 2];
    TcpLibpqText txt;
    int n = tcp_libpq_params(cfg, keys, vals, &txt);
    keys[n] = "dbname", vals[n++] = conninfo;
    keys[n] = NULL, vals[n] = NULL;
    PGconn *c = PQconnectStartParams(keys, vals, 1);
    ck_assert_ptr_nonnull(c);
    char *v = NULL;
    PQconninfoOption *opts = PQconninfo(c);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0 && o->val) v = strdup(o->val);
    PQconninfoFree(opts);
    PQfinish(c);
    return v ? v : strdup("");
}

START_TEST(test_libpq_keywords)
{
    Config *cfg = load("[pgpin]\ntcp_user_timeout = 60000\n");
    const char *keys[TCP_LIBPQ_MAX], *vals[TCP_LIBPQ_MAX];
    TcpLibpqText txt;
    ck_assert_int_eq(tcp_libpq_params(cfg, keys, vals, &txt), 5);
    const char *want[][2] = {{"keepalives", "1"},
                             {"keepalives_idle", "30"},
                             {"keepalives_interval", "10"},
                             {"keepalives_count", "3"},
                             {"tcp_user_timeout", "60000"}};
    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(keys[i], want[i][0]);
        ck_assert_str_eq(vals[i], want[i][1]);
    }
    cfg_unref(cfg);
    cfg = load("[pgpin]\ntcp_keepalive = off\ntcp_user_timeout = 0\n");
    ck_assert_int_eq(tcp_libpq_params(cfg, keys, vals, &txt), 1);
    ck_assert_str_eq(keys[0], "keepalives");
    ck_assert_str_eq(vals[0], "0");
    cfg_unref(cfg);
}
END_TEST

/* The database's conninfo wins over pgpin's settings, keyword by keyword. */
START_TEST(test_conninfo_overrides)
{
    Config *cfg = load("[pgpin]\ntcp_keepidle = 1\ntcp_user_timeout = 3000\n");
    const char *ci = "host=127.0.0.1 port=1 dbname=x keepalives_idle=45";
    char *idle = libpq_value(cfg, ci, "keepalives_idle"),
         *ut = libpq_value(cfg, ci, "tcp_user_timeout");
    char *uri =
        libpq_value(cfg, "postgresql://127.0.0.1:1/x?tcp_user_timeout=9000", "tcp_user_timeout");
    ck_assert_str_eq(idle, "45");
    ck_assert_str_eq(ut, "3000");
    ck_assert_str_eq(uri, "9000");
    free(idle), free(ut), free(uri);
    cfg_unref(cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp");
    TCase *tc = tcase_create("tcp");
    tcase_add_test(tc, test_client_socket);
    tcase_add_test(tc, test_client_socket_system);
    tcase_add_test(tc, test_libpq_keywords);
    tcase_add_test(tc, test_conninfo_overrides);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
