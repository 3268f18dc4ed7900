/* test_config.c - Check suite for config/config.c: the key table, [databases] conninfo handling,
 * FILE:LINE errors, reload snapshots and reference counts; config_auth.c: auth_file and the
 * client TLS files. */
#include "config.h"

#include "auth.h"

#include <check.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PGPIN_SOURCE_DIR
#error "PGPIN_SOURCE_DIR must name the source tree (set in tests/CMakeLists.txt)"
#endif

#define SAMPLE_INI      PGPIN_SOURCE_DIR "/config/pgpin.ini"
#define SAMPLE_USERLIST PGPIN_SOURCE_DIR "/config/userlist.txt"

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

/* A temporary file holding `len` bytes of text; caller unlinks and frees the path. */
static char *write_tmp(const char *text, size_t len)
{
    char *path = strdup("/tmp/pgpin-test-config-XXXXXX");
    ck_assert_ptr_nonnull(path);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

/* A conninfo option's value as libpq reads it back, or NULL; caller frees. */
static char *conninfo_get(const char *conninfo, const char *key)
{
    char *err = NULL, *val = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    ck_assert_msg(opts != NULL, "libpq rejects '%s': %s", conninfo, err ? err : "?");
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, key) == 0 && o->val) val = strdup(o->val);
    PQconninfoFree(opts);
    return val;
}

START_TEST(test_defaults)
{
    Config *cfg = load_ok("");
    ck_assert_int_eq(atomic_load(&cfg->refs), 1);
    ck_assert_str_eq(cfg->path, "<string>");
    ck_assert_str_eq(cfg->listen_addr, "127.0.0.1");
    ck_assert_int_eq(cfg->listen_port, 6432);
    ck_assert_int_eq(cfg->pool_mode, CFG_POOL_SESSION);
    ck_assert_int_eq(cfg->default_pool_size, 20);
    ck_assert_int_eq(cfg->min_pool_size, 0);
    ck_assert_int_eq(cfg->max_client_conn, 1000);
    ck_assert_str_eq(cfg->server_reset_query, "DISCARD ALL");
    ck_assert_double_eq(cfg->server_idle_timeout, 600);
    ck_assert_double_eq(cfg->server_lifetime, 3600);
    ck_assert_double_eq(cfg->server_connect_timeout, 15);
    ck_assert_double_eq(cfg->query_wait_timeout, 120);
    ck_assert_double_eq(cfg->shutdown_timeout, 30);
    ck_assert_double_eq(cfg->client_login_timeout, 60);
    ck_assert_double_eq(cfg->client_idle_timeout, 0);
    ck_assert_int_eq(cfg->max_packet_size, 1073741822);
    ck_assert_int_eq(cfg->client_tls_sslmode, CFG_SSL_DISABLE);
    ck_assert_str_eq(cfg->client_tls_cert_file, "");
    ck_assert_str_eq(cfg->client_tls_key_file, "");
    ck_assert_str_eq(cfg->client_tls_ca_file, "");
    ck_assert_str_eq(cfg->client_tls_protocols, "secure");
    ck_assert_uint_eq(cfg->client_tls_protocol_mask, CFG_TLS_V1_2 | CFG_TLS_V1_3);
    ck_assert_str_eq(cfg->client_tls_ciphers, "HIGH:!aNULL:!MD5");
    ck_assert_int_eq(cfg->auth_type, CFG_AUTH_TRUST);
    ck_assert_str_eq(cfg->auth_file, "");
    ck_assert_ptr_null(cfg->auth);
    ck_assert_str_eq(cfg->auth_user, "");
    ck_assert_str_eq(cfg->auth_query, "SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
    ck_assert_str_eq(cfg->admin_users, "");
    ck_assert(cfg->tcp_keepalive);
    ck_assert_int_eq(cfg->tcp_keepidle, 30);
    ck_assert_int_eq(cfg->tcp_keepintvl, 10);
    ck_assert_int_eq(cfg->tcp_keepcnt, 3);
    ck_assert_int_eq(cfg->tcp_user_timeout, 0);
    ck_assert_int_eq(cfg->log_level, CFG_LOG_INFO);
    ck_assert_int_eq(cfg->workers, 0);
    ck_assert_int_eq(cfg->ndbs, 0);
    cfg_unref(cfg);
}
END_TEST

START_TEST(test_every_key)
{
    Config *cfg = load_ok("[pgpin]\n"
                          "listen_addr = *\n"
                          "listen_port = 7000\n"
                          "pool_mode = auto\n"
                          "default_pool_size = 50\n"
                          "min_pool_size = 5\n"
                          "max_client_conn = 20000\n"
                          "server_reset_query =\n"
                          "server_idle_timeout = 0.5\n"
                          "server_lifetime = 0\n"
                          "server_connect_timeout = 2.25\n"
                          "query_wait_timeout = 0\n"
                          "shutdown_timeout = 1e1\n"
                          "client_login_timeout = 31536000\n"
                          "client_idle_timeout = 300\n"
                          "max_packet_size = 1024\n"
                          "client_tls_sslmode = disable\n"
                          "client_tls_protocols = tlsv1.3\n"
                          "client_tls_ciphers = ECDHE+AESGCM\n"
                          "auth_type = scram-sha-256\n"
                          "auth_file = " SAMPLE_USERLIST "\n"
                          "auth_user = pgpin_auth\n"
                          "auth_query = SELECT * FROM my_auth($1)\n"
                          "admin_users = admin, ops\n"
                          "tcp_keepalive = off\n"
                          "tcp_keepidle = 1\n"
                          "tcp_keepintvl = 2\n"
                          "tcp_keepcnt = 127\n"
                          "tcp_user_timeout = 2500\n"
                          "log_level = DEBUG\n"
                          "workers = 8\n");
    ck_assert_str_eq(cfg->listen_addr, "*");
    ck_assert_int_eq(cfg->listen_port, 7000);
    ck_assert_int_eq(cfg->pool_mode, CFG_POOL_AUTO);
    ck_assert_int_eq(cfg->default_pool_size, 50);
    ck_assert_int_eq(cfg->min_pool_size, 5);
    ck_assert_int_eq(cfg->max_client_conn, 20000);
    ck_assert_str_eq(cfg->server_reset_query, "");
    ck_assert_double_eq(cfg->server_idle_timeout, 0.5);
    ck_assert_double_eq(cfg->server_lifetime, 0);
    ck_assert_double_eq(cfg->server_connect_timeout, 2.25);
    ck_assert_double_eq(cfg->query_wait_timeout, 0);
    ck_assert_double_eq(cfg->shutdown_timeout, 10);
    ck_assert_double_eq(cfg->client_login_timeout, 31536000);
    ck_assert_double_eq(cfg->client_idle_timeout, 300);
    ck_assert_int_eq(cfg->max_packet_size, 1024);
    ck_assert_int_eq(cfg->client_tls_sslmode, CFG_SSL_DISABLE);
    ck_assert_uint_eq(cfg->client_tls_protocol_mask, CFG_TLS_V1_3);
    ck_assert_str_eq(cfg->client_tls_ciphers, "ECDHE+AESGCM");
    ck_assert_int_eq(cfg->auth_type, CFG_AUTH_SCRAM);
    ck_assert_str_eq(cfg->auth_file, SAMPLE_USERLIST);
    ck_assert_ptr_nonnull(cfg->auth);
    ck_assert_int_eq(auth_file_count(cfg->auth), 4);
    ck_assert_ptr_nonnull(auth_file_find(cfg->auth, "alice"));
    ck_assert_str_eq(cfg->auth_user, "pgpin_auth");
    ck_assert_str_eq(cfg->auth_query, "SELECT * FROM my_auth($1)");
    ck_assert_str_eq(cfg->admin_users, "admin, ops");
    ck_assert(!cfg->tcp_keepalive);
    ck_assert_int_eq(cfg->tcp_keepidle, 1);
    ck_assert_int_eq(cfg->tcp_keepintvl, 2);
    ck_assert_int_eq(cfg->tcp_keepcnt, 127);
    ck_assert_int_eq(cfg->tcp_user_timeout, 2500);
    ck_assert_int_eq(cfg->log_level, CFG_LOG_DEBUG);
    ck_assert_int_eq(cfg->workers, 8);
    cfg_unref(cfg);
}
END_TEST

START_TEST(test_log_levels)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    static const CfgLogLevel levels[] = {CFG_LOG_ERROR, CFG_LOG_WARNING, CFG_LOG_INFO,
                                         CFG_LOG_DEBUG};
    for (int i = 0; i < 4; i++) {
        char text[64];
        snprintf(text, sizeof text, "[pgpin]\nlog_level = %s\n", names[i]);
        Config *cfg = load_ok(text);
        ck_assert_int_eq(cfg->log_level, levels[i]);
        cfg_unref(cfg);
    }
}
END_TEST

/* Indentation, comments, CRLF, a BOM and repeated sections are all plain INI. */
START_TEST(test_lexical)
{
    Config *cfg = load_ok("\xEF\xBB\xBF# comment\n"
                          "[pgpin]\r\n"
                          "  listen_port = 7001\r\n"
                          "\tworkers = 3 ; inline comment\n"
                          "  ; indented comment\n"
                          "[databases]\n"
                          "  a = host=x\n"
                          "[pgpin]\n"
                          "log_level = error\n");
    ck_assert_int_eq(cfg->listen_port, 7001);
    ck_assert_int_eq(cfg->workers, 3);
    ck_assert_int_eq(cfg->log_level, CFG_LOG_ERROR);
    ck_assert_int_eq(cfg->ndbs, 1);
    ck_assert_str_eq(cfg->dbs[0].conninfo, "host=x");
    cfg_unref(cfg);
}
END_TEST

typedef struct ErrCase {
    const char *text, *prefix, *want;
} ErrCase;

static const ErrCase err_cases[] = {
    {"[pgpin]\nworkers = 1\n[pgbouncer]\n", "t.ini:3: ", "unknown section [pgbouncer]"},
    {"[pgpin]\n\n; comment\nbogus = 1\n", "t.ini:4: ", "unknown key 'bogus' in [pgpin]"},
    {"workers = 1\n", "t.ini:1: ", "'workers' is outside any [section]"},
    {"[pgpin]\nworkers\n", "t.ini:2: ", "syntax error"},
    {"[pgpin\nworkers = 1\n", "t.ini:1: ", "syntax error"},
    {"[pgpin]\nworkers = 2\nlisten_port = 1\n  workers = 3\n",
     "t.ini:4: ", "duplicate key 'workers' (first set at line 2)"},
    {"[pgpin]\nlisten_port = abc\n",
     "t.ini:2: ", "listen_port must be an integer between 1 and 65535, got 'abc'"},
    {"[pgpin]\nlisten_port = 0\n", "t.ini:2: ", "between 1 and 65535, got '0'"},
    {"[pgpin]\nlisten_port = 65536\n", "t.ini:2: ", "between 1 and 65535, got '65536'"},
    {"[pgpin]\nlisten_port = 64 32\n", "t.ini:2: ", "listen_port must be an integer"},
    {"[pgpin]\nlisten_port = 99999999999999999999\n", "t.ini:2: ", "listen_port must be"},
    {"[pgpin]\ndefault_pool_size = -1\n",
     "t.ini:2: ", "default_pool_size must be an integer between 1 and 10000, got '-1'"},
    {"[pgpin]\ndefault_pool_size = 0\n", "t.ini:2: ", "default_pool_size must be"},
    {"[pgpin]\nmin_pool_size = -3\n", "t.ini:2: ", "min_pool_size must be an integer between 0"},
    {"[pgpin]\nmax_client_conn = 1.5\n", "t.ini:2: ", "max_client_conn must be an integer"},
    {"[pgpin]\nworkers = 2000\n", "t.ini:2: ", "workers must be an integer between 0 and 1024"},
    {"[pgpin]\nserver_idle_timeout = 10s\n", "t.ini:2: ",
     "server_idle_timeout must be a number of seconds between 0 and 31536000, got '10s'"},
    {"[pgpin]\nserver_lifetime = -1\n", "t.ini:2: ", "server_lifetime must be a number"},
    {"[pgpin]\nquery_wait_timeout = nan\n", "t.ini:2: ", "query_wait_timeout must be a number"},
    {"[pgpin]\nshutdown_timeout = inf\n", "t.ini:2: ", "shutdown_timeout must be a number"},
    {"[pgpin]\nclient_login_timeout = 0x10\n", "t.ini:2: ", "client_login_timeout must be"},
    {"[pgpin]\nserver_idle_timeout = 1e300\n", "t.ini:2: ", "server_idle_timeout must be"},
    {"[pgpin]\nserver_idle_timeout =\n", "t.ini:2: ", "server_idle_timeout must be"},
    {"[pgpin]\nserver_connect_timeout = 0\n", "t.ini:2: ", "between 0.001 and 31536000"},
    {"[pgpin]\nlog_level = verbose\n",
     "t.ini:2: ", "unknown log_level 'verbose' (expected error, warning, info, debug)"},
    {"[pgpin]\npool_mode = statement\n",
     "t.ini:2: ", "unknown pool_mode 'statement' (expected session, auto)"},
    {"[pgpin]\nauth_type = cert\n", "t.ini:2: ", "auth_type = cert: not supported"},
    {"[pgpin]\nauth_type = hba\n", "t.ini:2: ", "not supported"},
    {"[pgpin]\nauth_type = password\n",
     "t.ini:2: ", "unknown auth_type 'password' (expected trust, plain, md5, scram-sha-256)"},
    {"[pgpin]\n\nauth_type = md5\n", "t.ini:3: ", "auth_file is required unless auth_type = trust"},
    {"[pgpin]\nauth_type = plain\nauth_file =\n", "t.ini:2: ", "auth_file is required"},
    {"[pgpin]\nauth_type = scram-sha-256\nauth_file = /nonexistent/users.txt\n",
     "t.ini:3: ", "auth_file: /nonexistent/users.txt: No such file or directory"},
    {"[pgpin]\nauth_file = /tmp\n", "t.ini:2: ", "auth_file: /tmp: not a regular file"},
    {"[pgpin]\nmax_packet_size = 1023\n",
     "t.ini:2: ", "max_packet_size must be an integer between 1024 and 1073741822, got '1023'"},
    {"[pgpin]\nmax_packet_size = 1073741823\n", "t.ini:2: ", "max_packet_size must be"},
    {"[pgpin]\nclient_idle_timeout = -1\n", "t.ini:2: ", "client_idle_timeout must be"},
    {"[pgpin]\nclient_tls_sslmode = on\n", "t.ini:2: ",
     "unknown client_tls_sslmode 'on' (expected disable, allow, prefer, require, verify-ca, "
     "verify-full)"},
    {"[pgpin]\nclient_tls_sslmode = require\n", "t.ini:2: ",
     "client_tls_sslmode other than disable needs client_tls_cert_file and "
     "client_tls_key_file"},
    {"[pgpin]\nclient_tls_sslmode = allow\n", "t.ini:2: ", "needs client_tls_cert_file"},
    {"[pgpin]\nclient_tls_cert_file = /nonexistent/c.pem\n",
     "t.ini:2: ", "client_tls_cert_file: /nonexistent/c.pem: No such file or directory"},
    {"[pgpin]\nclient_tls_ca_file = /tmp\n",
     "t.ini:2: ", "client_tls_ca_file: /tmp: not a regular"},
    {"[pgpin]\nclient_tls_protocols = tlsv1.2,tlsv1.4\n",
     "t.ini:2: ", "client_tls_protocols: unknown protocol 'tlsv1.4' (expected tlsv1.0"},
    {"[pgpin]\nclient_tls_protocols = all,!all\n",
     "t.ini:2: ", "client_tls_protocols: no protocol left in 'all,!all'"},
    {"[pgpin]\nclient_tls_protocols =\n", "t.ini:2: ", "client_tls_protocols must not be empty"},
    {"[pgpin]\nclient_tls_ciphers = NOSUCHCIPHER\n",
     "t.ini:2: ", "client_tls_ciphers: no usable cipher in 'NOSUCHCIPHER'"},

    {"[pgpin]\ntcp_keepalive = maybe\n",
     "t.ini:2: ", "tcp_keepalive must be on or off (or true/false, yes/no, 1/0), got 'maybe'"},
    {"[pgpin]\ntcp_keepcnt = 128\n",
     "t.ini:2: ", "tcp_keepcnt must be an integer between 0 and 127"},
    {"[pgpin]\ntcp_keepidle = 32768\n", "t.ini:2: ", "tcp_keepidle must be an integer between 0"},
    {"[pgpin]\ntcp_keepintvl = -1\n", "t.ini:2: ", "tcp_keepintvl must be an integer"},
    {"[pgpin]\ntcp_user_timeout = 3s\n", "t.ini:2: ", "tcp_user_timeout must be an integer"},
    {"[pgpin]\nlisten_addr =\n", "t.ini:2: ", "listen_addr must not be empty"},
    {"[pgpin]\nmin_pool_size = 30\n", "t.ini:2: ", "min_pool_size 30 exceeds default_pool_size 20"},
    {"[pgpin]\nmin_pool_size = 5\ndefault_pool_size = 4\n", "t.ini:3: ", "exceeds"},
    {"[databases]\na = host=x\n\na = host=y\n",
     "t.ini:4: ", "duplicate database 'a' (first defined at line 2)"},
    {"[databases]\n= host=x\n", "t.ini:2: ", "missing database name"},
    {"[databases]\nb = host=x\na = hots=x\n",
     "t.ini:3: ", "database 'a': invalid conninfo: invalid connection option \"hots\""},
    {"[databases]\na = host='x\n", "t.ini:2: ", "database 'a': invalid conninfo: unterminated"},
    {"[databases]\na = host x\n", "t.ini:2: ", "missing \"=\" after a key"},
    {"[databases]\na = =x\n", "t.ini:2: ", "missing key before \"=\""},
    {"[databases]\na = host=x pool_size=0\n",
     "t.ini:2: ", "database 'a': pool_size must be an integer between 1 and 10000, got '0'"},
    {"[databases]\na = host=x pool_size=ten\n", "t.ini:2: ", "database 'a': pool_size must be"},
    {"[databases]\na = min_pool_size=-1\n", "t.ini:2: ", "database 'a': min_pool_size must be"},
    {"[databases]\na = host=x pool_size=1 pool_size=2\n",
     "t.ini:2: ", "database 'a': duplicate pool_size"},
    {"[databases]\na = pool_mode=transaction\n",
     "t.ini:2: ", "database 'a': pool_mode = transaction: refused"},
    {"[databases]\na = pool_mode=bogus\n", "t.ini:2: ", "unknown pool_mode 'bogus'"},
    {"[databases]\na = host=x pool_size=2 min_pool_size=3\n",
     "t.ini:2: ", "database 'a': min_pool_size 3 exceeds pool_size 2"},
    {"[pgpin]\nmin_pool_size = 4\n[databases]\n\na = host=x pool_size=2\n",
     "t.ini:5: ", "min_pool_size 4 (from [pgpin]) exceeds pool_size 2"},
    {"[databases]\na = postgresql://h/db?pool_size=5\n", "t.ini:2: ",
     "invalid URI query parameter: \"pool_size\" (pool_size, min_pool_size and pool_mode need"},
    /* The first error wins, whoever finds it. */
    {"[pgpin]\nnoeq\nbogus = 1\n", "t.ini:2: ", "syntax error"},
    {"[pgpin]\nbogus = 1\nnoeq\n", "t.ini:2: ", "unknown key"},
    {"[pgpin]\r\nworkers = 1\r\nlisten_port = x\r\n", "t.ini:3: ", "listen_port must be"},
};

START_TEST(test_errors)
{
    const ErrCase *c = &err_cases[_i];
    load_fails(c->text, c->prefix, c->want);
}
END_TEST

START_TEST(test_transaction_refused)
{
    char err[1024];
    Config *cfg = cfg_load_string("[pgpin]\n\npool_mode = transaction\n", "p.ini", err, sizeof err);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strncmp(err, "p.ini:3: pool_mode = transaction: refused", 41) == 0, "%s", err);
    ck_assert_msg(strstr(err, "LISTEN/NOTIFY") && strstr(err, "session state"), "%s", err);
    ck_assert_msg(strstr(err, "DBOS") && strstr(err, "use pool_mode = auto"), "%s", err);
}
END_TEST

START_TEST(test_long_line)
{
    char text[600];
    snprintf(text, sizeof text, "[databases]\n\na = host=%0400d\n", 7);
    load_fails(text, "t.ini:3: ", "line is longer than 198 characters");
    /* 198 characters still fit */
    snprintf(text, sizeof text, "[databases]\na = host=%0189d\n", 7);
    ck_assert_int_eq(strlen(strchr(text, '\n') + 1), 199);
    Config *cfg = load_ok(text);
    ck_assert_int_eq(strlen(cfg->dbs[0].conninfo), 194);
    cfg_unref(cfg);
}
END_TEST

START_TEST(test_uri_password_not_echoed)
{
    char err[512];
    Config *cfg = cfg_load_string("[databases]\na = postgresql://u:s3cret@[::1/db\n", "t.ini", err,
                                  sizeof err);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strncmp(err, "t.ini:2: database 'a': invalid conninfo: ", 41) == 0, "%s", err);
    ck_assert_msg(strstr(err, "s3cret") == NULL, "password echoed: %s", err);
    ck_assert_msg(strstr(err, "<uri>") != NULL, "%s", err);
}
END_TEST

START_TEST(test_error_buffer)
{
    char err[8];
    memset(err, 'x', sizeof err);
    ck_assert_ptr_null(cfg_load_string("[nope]\n", "long-file-name.ini", err, sizeof err));
    ck_assert_str_eq(err, "long-fi");
    ck_assert_ptr_null(cfg_load_string("[nope]\n", "t.ini", NULL, 0));
    ck_assert_ptr_null(cfg_load("/nonexistent/pgpin.ini", NULL, 0));
    memset(err, 'x', sizeof err);
    Config *cfg = cfg_load_string("", NULL, err, sizeof err);
    ck_assert_str_eq(err, "");
    cfg_unref(cfg);
}
END_TEST

/* write_rate: a count, or auto (adaptive), in [pgpin] and per database; write_burst per
 * database; SHOW CONFIG's text says auto. */
START_TEST(test_write_shaping_keys)
{
    Config *cfg = load_ok("[pgpin]\nwrite_rate = auto\nwrite_latency_target = 0.02\n"
                          "write_max_wait = 2.5\n[databases]\n"
                          "a = host=h dbname=a\n"
                          "b = host=h dbname=b write_rate=300 write_burst=7\n");
    ck_assert_int_eq(cfg->write_rate, CFG_AUTO);
    ck_assert(cfg->write_latency_target == 0.02 && cfg->write_max_wait == 2.5);
    ck_assert_int_eq(cfg->dbs[0].write_rate, CFG_AUTO);
    ck_assert_int_eq(cfg->dbs[1].write_rate, 300);
    ck_assert_int_eq(cfg->dbs[1].write_burst, 7);
    ck_assert_str_eq(cfg->dbs[1].conninfo, "host=h dbname=b");
    char *dump = cfg_dump(cfg);
    ck_assert_msg(strstr(dump, "write_rate = auto\n"), "%s", dump);
    free(dump);
    cfg_unref(cfg);
    cfg = load_ok("[databases]\nc = host=h write_rate=auto\n");
    ck_assert_int_eq(cfg->write_rate, 0);
    ck_assert_int_eq(cfg->dbs[0].write_rate, CFG_AUTO);
    cfg_unref(cfg);
    load_fails("[pgpin]\nwrite_rate = fast\n", "t.ini:2:", "or auto");
    load_fails("[pgpin]\nwrite_burst = auto\n", "t.ini:2:", "integer");
}
END_TEST

START_TEST(test_conninfo_keys)
{
    Config *cfg = load_ok("[databases]\n"
                          "a = host=127.0.0.1 port=5432 dbname=appdb pool_size=7 min_pool_size=2 "
                          "pool_mode=auto\n"
                          "b = host = 'my host'  password='it\\'s a \\\\ secret' user=bob\n"
                          "c = host='' dbname = x\\ y pool_mode = session sslmode=disable\n");
    ck_assert_int_eq(cfg->ndbs, 3);
    const CfgDatabase *a = &cfg->dbs[0], *b = &cfg->dbs[1], *c = &cfg->dbs[2];
    ck_assert_str_eq(a->name, "a");
    ck_assert_str_eq(a->conninfo, "host=127.0.0.1 port=5432 dbname=appdb");
    ck_assert_int_eq(a->pool_size, 7);
    ck_assert_int_eq(a->min_pool_size, 2);
    ck_assert_int_eq(a->pool_mode, CFG_POOL_AUTO);
    ck_assert(a->has_dbname && !a->has_user);

    ck_assert_str_eq(b->conninfo, "host='my host' password='it\\'s a \\\\ secret' user=bob");
    char *pw = conninfo_get(b->conninfo, "password"), *host = conninfo_get(b->conninfo, "host");
    ck_assert_str_eq(pw, "it's a \\ secret");
    ck_assert_str_eq(host, "my host");
    free(pw);
    free(host);
    ck_assert_int_eq(b->pool_size, 20);
    ck_assert_int_eq(b->min_pool_size, 0);
    ck_assert_int_eq(b->pool_mode, CFG_POOL_SESSION);
    ck_assert(b->has_user && !b->has_dbname);

    ck_assert_str_eq(c->conninfo, "host='' dbname='x y' sslmode=disable");
    char *db = conninfo_get(c->conninfo, "dbname");
    ck_assert_str_eq(db, "x y");
    free(db);
    ck_assert(c->has_dbname && !c->has_user);
    cfg_unref(cfg);
}
END_TEST

START_TEST(test_conninfo_uri)
{
    Config *cfg = load_ok("[databases]\n"
                          "a = postgresql://bob@db.example:5433/app?sslmode=disable\n"
                          "b = postgres://db.example\n"
                          "c = postgres:///only_db\n"
                          "d =\n"
                          "e = user='' dbname=''\n");
    ck_assert_str_eq(cfg->dbs[0].conninfo, "postgresql://bob@db.example:5433/app?sslmode=disable");
    ck_assert(cfg->dbs[0].has_user && cfg->dbs[0].has_dbname);
    ck_assert_int_eq(cfg->dbs[0].pool_size, 20);
    ck_assert(!cfg->dbs[1].has_user && !cfg->dbs[1].has_dbname);
    ck_assert(!cfg->dbs[2].has_user && cfg->dbs[2].has_dbname);
    ck_assert_str_eq(cfg->dbs[3].conninfo, "");
    ck_assert(!cfg->dbs[3].has_user && !cfg->dbs[3].has_dbname);
    ck_assert(!cfg->dbs[4].has_user && !cfg->dbs[4].has_dbname);
    cfg_unref(cfg);
}
END_TEST

/* Defaults come from [pgpin] even when it follows [databases]. */
START_TEST(test_resolve_after_pgpin)
{
    Config *cfg = load_ok("[databases]\n"
                          "a = host=x\n"
                          "b = host=x pool_size=3 min_pool_size=0 pool_mode=session\n"
                          "[pgpin]\n"
                          "default_pool_size = 9\n"
                          "min_pool_size = 2\n"
                          "pool_mode = auto\n");
    ck_assert_int_eq(cfg->dbs[0].pool_size, 9);
    ck_assert_int_eq(cfg->dbs[0].min_pool_size, 2);
    ck_assert_int_eq(cfg->dbs[0].pool_mode, CFG_POOL_AUTO);
    ck_assert_int_eq(cfg->dbs[1].pool_size, 3);
    ck_assert_int_eq(cfg->dbs[1].min_pool_size, 0);
    ck_assert_int_eq(cfg->dbs[1].pool_mode, CFG_POOL_SESSION);
    cfg_unref(cfg);

    cfg = load_ok("[databases]\n[pgpin]\nworkers = 1\n");
    ck_assert_int_eq(cfg->ndbs, 0);
    ck_assert_ptr_null(cfg_find_db(cfg, "a"));
    cfg_unref(cfg);
}
END_TEST

START_TEST(test_find_db)
{
    Config *cfg = load_ok("[databases]\nappdb = dbname=appdb\nother = dbname=o\n");
    ck_assert_str_eq(cfg_find_db(cfg, "appdb")->name, "appdb");
    ck_assert_str_eq(cfg_find_db(cfg, "other")->name, "other");
    ck_assert_ptr_null(cfg_find_db(cfg, "missing"));
    ck_assert_ptr_null(cfg_find_db(cfg, "APPDB"));
    ck_assert_ptr_null(cfg_find_db(cfg, NULL));
    cfg_unref(cfg);

    cfg = load_ok("[databases]\n* = host=fallback\nappdb = dbname=appdb\n");
    ck_assert_str_eq(cfg_find_db(cfg, "appdb")->name, "appdb");
    const CfgDatabase *star = cfg_find_db(cfg, "missing");
    ck_assert_ptr_nonnull(star);
    ck_assert_str_eq(star->name, "*");
    ck_assert_str_eq(star->conninfo, "host=fallback");
    ck_assert(!star->has_dbname);
    cfg_unref(cfg);
}
END_TEST

START_TEST(test_restart_keys)
{
    Config *a = load_ok("[pgpin]\nlisten_port = 7000\nworkers = 2\nlog_level = info\n");
    Config *b = load_ok("[pgpin]\nlisten_port = 7001\nworkers = 4\nlog_level = debug\n"
                        "default_pool_size = 3\n[databases]\nx = host=y\n");
    Config *c = load_ok("[pgpin]\nlisten_addr = *\nlisten_port = 7000\nworkers = 2\n");
    char buf[128];
    ck_assert_int_eq(cfg_restart_keys_changed(a, b, buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "listen_port, workers");
    ck_assert_int_eq(cfg_restart_keys_changed(a, c, buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "listen_addr");
    ck_assert_int_eq(cfg_restart_keys_changed(a, a, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(cfg_restart_keys_changed(b, c, buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "listen_addr, listen_port, workers");
    char small[8];
    ck_assert_int_eq(cfg_restart_keys_changed(b, c, small, sizeof small), 3);
    ck_assert_str_eq(small, "listen_");
    ck_assert_int_eq(cfg_restart_keys_changed(b, c, NULL, 0), 3);
    cfg_unref(a);
    cfg_unref(b);
    cfg_unref(c);
}
END_TEST

static void *ref_loop(void *arg)
{
    for (int i = 0; i < 100000; i++)
        cfg_unref(cfg_ref(arg));
    return NULL;
}

START_TEST(test_refcount)
{
    Config *cfg = load_ok("[databases]\na = host=x\n");
    ck_assert_ptr_eq(cfg_ref(cfg), cfg);
    ck_assert_int_eq(atomic_load(&cfg->refs), 2);
    cfg_unref(cfg);
    ck_assert_int_eq(atomic_load(&cfg->refs), 1);
    ck_assert_ptr_null(cfg_ref(NULL));
    cfg_unref(NULL);

    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, ref_loop, cfg), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(atomic_load(&cfg->refs), 1);
    cfg_unref(cfg); /* frees: ASan/LSan report a leak or double free */
}
END_TEST

START_TEST(test_dump_and_help)
{
    Config *cfg = load_ok("[pgpin]\nserver_idle_timeout = 0.1\nserver_reset_query =\n"
                          "pool_mode = auto\n");
    char *dump = cfg_dump(cfg);
    ck_assert_msg(strncmp(dump, "listen_addr = 127.0.0.1\nlisten_port = 6432\n", 43) == 0, "%s",
                  dump);
    ck_assert_ptr_nonnull(strstr(dump, "\nserver_idle_timeout = 0.1\n"));
    ck_assert_ptr_nonnull(strstr(dump, "\nserver_reset_query = \n"));
    ck_assert_ptr_nonnull(strstr(dump, "\npool_mode = auto\n"));
    static const char last[] = "\nworkers = 0\n";
    ck_assert_msg(strcmp(dump + strlen(dump) - (sizeof last - 1), last) == 0, "%s", dump);
    /* The dump reads back as the same configuration. */
    char *text = malloc(strlen(dump) + 16);
    sprintf(text, "[pgpin]\n%s", dump);
    Config *again = load_ok(text);
    char *dump2 = cfg_dump(again);
    ck_assert_str_eq(dump, dump2);

    char *help = cfg_help();
    for (char *line = dump; *line; line = strchr(line, '\n') + 1) {
        char key[64];
        ck_assert_int_eq(sscanf(line, "%63s =", key), 1);
        ck_assert_msg(strstr(help, key) != NULL, "help lacks %s", key);
    }
    ck_assert_ptr_nonnull(strstr(help, "listen_port = 6432\n"));
    ck_assert_ptr_nonnull(strstr(help, "TCP port to listen on (restart)\n"));
    ck_assert_ptr_nonnull(strstr(help, "one per CPU core (restart)\n"));
    free(help);
    free(dump2);
    free(text);
    free(dump);
    cfg_unref(again);
    cfg_unref(cfg);
}
END_TEST

/* The sample holds every key, set to its default, and loads as it is. */
START_TEST(test_sample_file)
{
    char err[512];
    Config *cfg = cfg_load(SAMPLE_INI, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->path, SAMPLE_INI);
    const CfgDatabase *db = cfg_find_db(cfg, "appdb");
    ck_assert_ptr_nonnull(db);
    ck_assert_str_eq(db->conninfo, "host=127.0.0.1 port=5432 dbname=appdb");
    ck_assert_ptr_null(cfg_find_db(cfg, "other")); /* the '*' entry is commented out */

    Config *defaults = load_ok("");
    char *dump = cfg_dump(cfg), *want = cfg_dump(defaults);
    ck_assert_str_eq(dump, want);

    FILE *f = fopen(SAMPLE_INI, "r");
    ck_assert_ptr_nonnull(f);
    static char text[65536];
    size_t n = fread(text + 1, 1, sizeof text - 2, f);
    fclose(f);
    text[0] = '\n';
    text[n + 1] = '\0';
    for (char *line = want; *line; line = strchr(line, '\n') + 1) {
        char want_line[128];
        snprintf(want_line, sizeof want_line, "\n%.*s", (int)(strchr(line, '\n') - line + 1), line);
        char *blank = strstr(want_line, " = \n"); /* an empty value is written "key =" */
        if (blank) strcpy(blank, " =\n");
        char *at = strstr(text, want_line);
        ck_assert_msg(at != NULL, "sample lacks '%s'", want_line + 1);
        char *prev = at; /* start of the line above */
        while (prev > text && prev[-1] != '\n')
            prev--;
        ck_assert_msg(*prev == '#', "no comment line above '%s'", want_line + 1);
    }
    ck_assert_ptr_nonnull(strstr(text, "\n;* = "));
    free(dump);
    free(want);
    cfg_unref(defaults);
    cfg_unref(cfg);
}
END_TEST

START_TEST(test_file_errors)
{
    char err[512];
    ck_assert_ptr_null(cfg_load("/nonexistent/dir/pgpin.ini", err, sizeof err));
    ck_assert_str_eq(err, "/nonexistent/dir/pgpin.ini: cannot open: No such file or directory");

    static const char bad[] = "[pgpin]\n# ok\nworkers = many\n";
    char *path = write_tmp(bad, sizeof bad - 1);
    ck_assert_ptr_null(cfg_load(path, err, sizeof err));
    char want[256];
    snprintf(want, sizeof want, "%s:3: workers must be an integer", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    unlink(path);
    free(path);

    static const char nul[] = "[pgpin]\nworkers = 1\0\n";
    path = write_tmp(nul, sizeof nul - 1);
    ck_assert_ptr_null(cfg_load(path, err, sizeof err));
    snprintf(want, sizeof want, "%s:2: NUL byte in file", path);
    ck_assert_str_eq(err, want);
    unlink(path);
    free(path);

    ck_assert_ptr_null(cfg_load("/tmp", err, sizeof err));
    ck_assert_str_eq(err, "/tmp: cannot read: Is a directory");
}
END_TEST

/* A reload: a bad file leaves the running snapshot alone; a good one is a new snapshot. */
START_TEST(test_reload)
{
    static const char a_text[] = "[pgpin]\nlisten_port = 7000\ndefault_pool_size = 10\n"
                                 "[databases]\nappdb = host=a dbname=appdb\n";
    static const char b_text[] = "[pgpin]\nlisten_port = 7000\ndefault_pool_size = 12\n"
                                 "[databases]\nappdb = host=b dbname=appdb pool_mode=transaction\n";
    static const char c_text[] = "[pgpin]\nlisten_port = 7002\ndefault_pool_size = 12\n"
                                 "[databases]\nappdb = host=c dbname=appdb\n* = host=c\n";
    char *pa = write_tmp(a_text, sizeof a_text - 1), *pb = write_tmp(b_text, sizeof b_text - 1),
         *pc = write_tmp(c_text, sizeof c_text - 1), err[512];
    Config *a = cfg_load(pa, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    Config *held = cfg_ref(a); /* a connection still using A */
    char *before = cfg_dump(a);

    ck_assert_ptr_null(cfg_load(pb, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, ":5: database 'appdb': pool_mode = transaction: refused"));
    char *after = cfg_dump(a);
    ck_assert_str_eq(before, after);
    ck_assert_str_eq(a->dbs[0].conninfo, "host=a dbname=appdb");
    ck_assert_int_eq(a->dbs[0].pool_size, 10);

    Config *c = cfg_load(pc, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    char keys[128];
    ck_assert_int_eq(cfg_restart_keys_changed(a, c, keys, sizeof keys), 1);
    ck_assert_str_eq(keys, "listen_port");
    ck_assert_int_eq(c->default_pool_size, 12);
    ck_assert_int_eq(cfg_find_db(c, "appdb")->pool_size, 12);
    ck_assert_str_eq(cfg_find_db(c, "nope")->conninfo, "host=c");
    ck_assert_ptr_null(cfg_find_db(a, "nope"));

    cfg_unref(a); /* the root swaps to C; the connection keeps A alive */
    ck_assert_str_eq(held->dbs[0].conninfo, "host=a dbname=appdb");
    cfg_unref(held);
    cfg_unref(c);
    free(before);
    free(after);
    unlink(pa);
    unlink(pb);
    unlink(pc);
    free(pa);
    free(pb);
    free(pc);
}
END_TEST

/* A fresh temporary directory; caller removes it with rm_dir. */
static char *make_dir(void)
{
    char *dir = strdup("/tmp/pgpin-test-cfgdir-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

/* dir/name, written with text unless NULL; caller frees. */
static char *dir_file(const char *dir, const char *name, const char *text)
{
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    if (text) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static void rm_dir(char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}

/* auth_file relative to the config file's directory, loaded into the snapshot and stored
 * resolved; its errors carry both locations and never the secret. */
START_TEST(test_auth_file)
{
    char *dir = make_dir(), err[1024];
    char *users = dir_file(dir, "users.txt", "\"app\" \"md58cc7ff7afbc8551bd526b65944c17b36\"\n");
    char *ini = dir_file(dir, "pgpin.ini", "[pgpin]\nauth_type = md5\nauth_file = users.txt\n");
    Config *cfg = cfg_load(ini, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->auth_file, users);
    ck_assert_int_eq(cfg->auth_type, CFG_AUTH_MD5);
    const AuthUser *u = auth_file_find(cfg->auth, "app");
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(u->kind, AUTH_SECRET_MD5);
    Config *held = cfg_ref(cfg);
    cfg_unref(cfg);
    ck_assert_ptr_eq(auth_file_find(held->auth, "app"), u); /* lives with the snapshot */
    cfg_unref(held);

    /* A broken user list: the config's line, then the user list's. */
    free(dir_file(dir, "users.txt", "\"ok\" \"pw\"\n\"bad\" \"SCRAM-SHA-256$4096:c2FsdA==$x\"\n"));
    ck_assert_ptr_null(cfg_load(ini, err, sizeof err));
    char want[512];
    snprintf(want, sizeof want, "%s:3: auth_file: %s:2: user \"bad\": malformed SCRAM", ini, users);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    ck_assert_msg(strstr(err, "c2FsdA") == NULL, "secret echoed: %s", err);

    /* Under trust an auth_file is still loaded (and checked). */
    free(dir_file(dir, "users.txt", "\"ok\" \"pw\"\n"));
    free(dir_file(dir, "pgpin.ini", "[pgpin]\nauth_file = users.txt\n"));
    cfg = cfg_load(ini, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(auth_file_count(cfg->auth), 1);
    cfg_unref(cfg);
    free(users);
    free(ini);
    rm_dir(dir);
}
END_TEST

/* A self-signed certificate and its key, PEM. */
static void write_cert(const char *cert_path, const char *key_path)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    ck_assert(pk && x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    ck_assert_int_gt(X509_sign(x, pk, EVP_sha256()), 0);
    FILE *f = fopen(cert_path, "w");
    ck_assert(f && PEM_write_X509(f, x));
    fclose(f);
    f = fopen(key_path, "w");
    ck_assert(f && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL));
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
}

static Config *tls_load(const char *dir, const char *keys, char *err, size_t errlen)
{
    char text[1024];
    snprintf(text, sizeof text, "[pgpin]\n%s", keys);
    char *ini = dir_file(dir, "tls.ini", text);
    Config *cfg = cfg_load(ini, err, errlen);
    free(ini);
    return cfg;
}

START_TEST(test_tls_files)
{
    char *dir = make_dir(), err[1024];
    char *cert = dir_file(dir, "server.crt", NULL), *key = dir_file(dir, "server.key", NULL);
    char *cert2 = dir_file(dir, "other.crt", NULL), *key2 = dir_file(dir, "other.key", NULL);
    write_cert(cert, key);
    write_cert(cert2, key2);
    Config *cfg = tls_load(dir,
                           "client_tls_sslmode = verify-full\nclient_tls_cert_file = server.crt\n"
                           "client_tls_key_file = server.key\nclient_tls_ca_file = other.crt\n"
                           "client_tls_protocols = all, !tlsv1.0 : -TLSV1.1\n",
                           err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->client_tls_sslmode, CFG_SSL_VERIFY_FULL);
    ck_assert_str_eq(cfg->client_tls_cert_file, cert);
    ck_assert_str_eq(cfg->client_tls_key_file, key);
    ck_assert_str_eq(cfg->client_tls_ca_file, cert2);
    ck_assert_uint_eq(cfg->client_tls_protocol_mask, CFG_TLS_V1_2 | CFG_TLS_V1_3);
    cfg_unref(cfg);

    ck_assert_ptr_null(tls_load(dir,
                                "client_tls_sslmode = require\nclient_tls_cert_file = server.crt\n"
                                "\nclient_tls_key_file = other.key\n",
                                err, sizeof err));
    ck_assert_msg(strstr(err, "tls.ini:5: client_tls_key_file: ") && strstr(err, "other.key"), "%s",
                  err);
    ck_assert_ptr_null(
        tls_load(dir,
                 "client_tls_sslmode = verify-ca\nclient_tls_cert_file = server.crt\n"
                 "client_tls_key_file = server.key\n",
                 err, sizeof err));
    ck_assert_msg(strstr(err, "tls.ini:2: client_tls_sslmode verify-ca and verify-full need "
                              "client_tls_ca_file"),
                  "%s", err);
    ck_assert_ptr_null(tls_load(dir, "client_tls_cert_file = server.key\n", err, sizeof err));
    ck_assert_msg(strstr(err, "tls.ini:2: client_tls_cert_file: ") && strstr(err, "server.key: "),
                  "%s", err);
    ck_assert_ptr_null(tls_load(dir, "client_tls_ca_file = server.key\n", err, sizeof err));
    ck_assert_msg(strstr(err, "tls.ini:2: client_tls_ca_file: "), "%s", err);
    free(cert);
    free(key);
    free(cert2);
    free(key2);
    rm_dir(dir);
}
END_TEST

START_TEST(test_admin_users)
{
    Config *cfg = load_ok("[pgpin]\nadmin_users = admin ,  ops team,,root\n");
    ck_assert(cfg_is_admin_user(cfg, "admin"));
    ck_assert(cfg_is_admin_user(cfg, "ops team"));
    ck_assert(cfg_is_admin_user(cfg, "root"));
    ck_assert(!cfg_is_admin_user(cfg, "ops"));
    ck_assert(!cfg_is_admin_user(cfg, "adm"));
    ck_assert(!cfg_is_admin_user(cfg, "Admin"));
    ck_assert(!cfg_is_admin_user(cfg, ""));
    ck_assert(!cfg_is_admin_user(cfg, NULL));
    cfg_unref(cfg);
    cfg = load_ok("");
    ck_assert(!cfg_is_admin_user(cfg, "admin"));
    cfg_unref(cfg);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_every_key);
    tcase_add_test(tc, test_log_levels);
    tcase_add_test(tc, test_lexical);
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof err_cases / sizeof err_cases[0]));
    tcase_add_test(tc, test_transaction_refused);
    tcase_add_test(tc, test_long_line);
    tcase_add_test(tc, test_uri_password_not_echoed);
    tcase_add_test(tc, test_error_buffer);
    tcase_add_test(tc, test_conninfo_keys);
    tcase_add_test(tc, test_write_shaping_keys);
    tcase_add_test(tc, test_conninfo_uri);
    tcase_add_test(tc, test_resolve_after_pgpin);
    tcase_add_test(tc, test_find_db);
    tcase_add_test(tc, test_restart_keys);
    tcase_add_test(tc, test_refcount);
    tcase_add_test(tc, test_dump_and_help);
    tcase_add_test(tc, test_sample_file);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_reload);
    tcase_add_test(tc, test_auth_file);
    tcase_add_test(tc, test_tls_files);
    tcase_add_test(tc, test_admin_users);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
