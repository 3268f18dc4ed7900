/* config.h - pgpin configuration: INI file (inih) -> immutable, refcounted Config snapshot.
 *
 * A Config is never modified after cfg_load*() returns it. Reload builds a new one and swaps the
 * root pointer; connections keep (cfg_ref) the snapshot they started with. */
#ifndef PGPIN_CONFIG_H
#define PGPIN_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "slot.h"

typedef enum { CFG_POOL_SESSION = 0, CFG_POOL_AUTO = 1 } CfgPoolMode;
/* An int key spelled "auto" (write_rate). */
#define CFG_AUTO (-1)
/* md5: an md5 challenge for users whose secret is md5 or plain text, SCRAM for the rest, as
 * Postgres does. */
typedef enum { CFG_AUTH_TRUST = 0, CFG_AUTH_PLAIN, CFG_AUTH_MD5, CFG_AUTH_SCRAM } CfgAuthType;
/* client_tls_sslmode, PgBouncer's meanings: allow and prefer take TLS when the client asks;
 * require refuses clients without TLS; verify-ca and verify-full also need a client certificate
 * signed by client_tls_ca_file. */
typedef enum {
    CFG_SSL_DISABLE = 0,
    CFG_SSL_ALLOW,
    CFG_SSL_PREFER,
    CFG_SSL_REQUIRE,
    CFG_SSL_VERIFY_CA,
    CFG_SSL_VERIFY_FULL,
} CfgSslMode;
typedef enum { CFG_LOG_ERROR = 0, CFG_LOG_WARNING, CFG_LOG_INFO, CFG_LOG_DEBUG } CfgLogLevel;

/* Bits of Config.client_tls_protocol_mask. */
#define CFG_TLS_V1_0 (1u << 0)
#define CFG_TLS_V1_1 (1u << 1)
#define CFG_TLS_V1_2 (1u << 2)
#define CFG_TLS_V1_3 (1u << 3)

typedef struct AuthFile AuthFile; /* proxy/auth.h */

/* One [databases] entry. The line's value is a libpq conninfo (key=value form or URI); the
 * pgpin-only keys pool_size=, min_pool_size=, pool_mode=, write_rate=, write_burst= are taken
 * out of it (as PgBouncer does) and the rest is handed to libpq verbatim. */
typedef struct CfgDatabase {
    char *name;        /* client-facing name; "*" is the fallback entry */
    char *conninfo;    /* libpq conninfo with pgpin-only keys removed */
    bool has_user;     /* conninfo sets user= (forces the server login user) */
    bool has_dbname;   /* conninfo sets dbname= (else the client's database name is used) */
    int pool_size;     /* resolved: entry's pool_size= or [pgpin] default_pool_size */
    int min_pool_size; /* resolved: entry's min_pool_size= or [pgpin] min_pool_size */
    CfgPoolMode pool_mode;
    int write_rate;  /* resolved: entry's write_rate= or [pgpin] write_rate; 0 = off; CFG_AUTO */
    int write_burst; /* resolved likewise; 0 = a tenth of write_rate, at least 1 */

    /* Sharding (see config_shard.c). An entry with shards= is sharded: its rows live on the
     * [shards] it names, its conninfo is "" (the connection details are the shards'), and the
     * pgpin-only keys above apply to each shard's pool. nshards == 0: not sharded. */
    int nshards;
    int *shards;      /* indices into Config.shards, in shards= order (shard 0 first) */
    SlotRange *slots; /* sorted by first slot, tiling 0..16383; shard = index into shards */
    int nslots;
    bool slots_given;  /* slots= was given (else the default even ranges) */
    char *dbos_schema; /* schema of the DBOS tables: dbos_schema=, default "dbos" */
} CfgDatabase;

/* One [shards] entry: name = libpq conninfo of one Postgres database holding a slice of a
 * sharded database's rows. */
typedef struct CfgShard {
    char *name;
    char *conninfo;  /* as written (key=value form or URI), handed to libpq */
    bool has_user;   /* sets user= */
    bool has_dbname; /* sets dbname= */
    int line;        /* where it is defined */
} CfgShard;

typedef struct Config {
    atomic_int refs;
    char *path; /* file it was loaded from ("<string>" for cfg_load_string) */

    /* [pgpin] */
    char *listen_addr;             /* default "127.0.0.1"; "*" = all IPv4+IPv6 addresses; restart */
    int listen_port;               /* default 6432; restart */
    CfgPoolMode pool_mode;         /* default session; "transaction" is refused with a reason */
    int default_pool_size;         /* default 20 */
    int min_pool_size;             /* default 0 */
    int max_client_conn;           /* default 1000 */
    char *server_reset_query;      /* default "DISCARD ALL"; "" = none */
    double server_idle_timeout;    /* seconds, default 600; 0 = never */
    double server_lifetime;        /* seconds, default 3600; 0 = unlimited */
    double server_connect_timeout; /* seconds, default 15 */
    double query_wait_timeout;     /* seconds to wait for a server, default 120; 0 = forever */
    double shutdown_timeout;       /* seconds SIGTERM waits for transactions, default 30 */
    double client_login_timeout;   /* seconds to finish startup, default 60; 0 = off */
    double client_idle_timeout;    /* seconds a logged-in client may stay silent; 0 = off */
    int max_packet_size;           /* bytes of a large client message, default and max Postgres's */
    CfgSslMode client_tls_sslmode; /* default disable */
    /* TLS files: "" = unset; a relative path is made relative to the config file's directory. */
    char *client_tls_cert_file;
    char *client_tls_key_file;
    char *client_tls_ca_file;
    char *client_tls_protocols;        /* as written, default "secure" */
    unsigned client_tls_protocol_mask; /* CFG_TLS_V1_* bits it allows */
    char *client_tls_ciphers;          /* OpenSSL cipher list (TLS 1.2 and older) */
    CfgAuthType auth_type;             /* default trust */
    char *auth_file;                   /* userlist.txt, resolved like the TLS files; "" = none */
    const AuthFile *auth;              /* auth_file loaded, NULL when unset; freed with cfg */
    char *auth_user;                   /* user that runs auth_query; "" = none */
    char *auth_query;                  /* looks up a secret by user name ($1) */
    char *admin_users;                 /* comma-separated; see cfg_is_admin_user() */
    char *reserve_headroom;            /* as written: "5%" (default) or a count */
    double reserve_headroom_pct;       /* its percentage of max_connections, or 0 */
    int reserve_headroom_abs;          /* its count, or -1 when a percentage */
    double limits_refresh_interval;    /* seconds between budget readings, default 5 */
    double query_wait_notice;          /* seconds before a waiting client is told; 0 = never */
    char *metrics_listen;              /* "host:port" for /metrics; "" = off; restart */
    int write_rate;                    /* writes/s per server; 0 = no shaping; CFG_AUTO */
    double write_latency_target;       /* write_rate = auto: seconds, default 0.05 */
    int write_burst;                   /* 0 = write_rate / 10, at least 1 */
    double write_max_wait;             /* seconds a write may wait; 0 = no limit */
    /* Dead peers, on client sockets and server connections (proxy/tcp.c); 0 = the system's. */
    bool tcp_keepalive;    /* default on */
    int tcp_keepidle;      /* seconds of silence before the first probe, default 30 */
    int tcp_keepintvl;     /* seconds between probes, default 10 */
    int tcp_keepcnt;       /* unanswered probes before the connection is dropped, default 3 */
    int tcp_user_timeout;  /* ms sent data may stay unacknowledged, default 0 */
    CfgLogLevel log_level; /* default info */
    int workers;           /* default 0 = number of cores; restart */

    CfgDatabase *dbs;
    int ndbs;
    CfgShard *shards; /* [shards], in file order */
    int nshards;
} Config;

/* Parse and validate a config file, and load auth_file and check the TLS files it names.
 * Returns a new Config with refs = 1 (caller owns it), or NULL with a message
 * "FILE:LINE: what is wrong" written to err (always NUL-terminated). */
Config *cfg_load(const char *path, char *err, size_t errlen);

/* Same, from a string in memory (unit tests). `name` stands for the file in messages. */
Config *cfg_load_string(const char *text, const char *name, char *err, size_t errlen);

/* Take / drop a reference. cfg_unref frees at zero; NULL is ignored. Thread-safe. */
Config *cfg_ref(Config *cfg);
void cfg_unref(Config *cfg);

/* The entry for a client-facing database name: exact match, else "*", else NULL.
 * The pointer lives as long as cfg. */
const CfgDatabase *cfg_find_db(const Config *cfg, const char *name);

/* When cfg configures sharding ([shards] entries or a database with shards=), the reason this
 * build cannot run it, "FILE: ..." into buf, and true; false (buf empty) otherwise. The config
 * itself is valid: pgpin refuses to start or reload with it, `pgpin check` checks its shards. */
bool cfg_sharding_unsupported(const Config *cfg, char *buf, size_t len);

/* reserve_headroom's text: "N%" (0-50) sets *pct and *abs = -1, a count N (0-10000) sets
 * *abs and *pct = 0. False for anything else. */
bool cfg_parse_headroom(const char *s, double *pct, int *abs);

/* Whether `user` is listed in admin_users (exact match; blanks around commas ignored). */
bool cfg_is_admin_user(const Config *cfg, const char *user);

/* Names of keys that differ between old and new but only take effect on restart,
 * comma-separated into buf (empty string when none). Returns the number of such keys. */
int cfg_restart_keys_changed(const Config *old, const Config *cur, char *buf, size_t len);

/* Write every [pgpin] key as "name = value" lines for SHOW CONFIG / --help; caller frees. */
char *cfg_dump(const Config *cfg);

/* Every [pgpin] key as "name = default" plus an indented one-line description, marked
 * "(restart)" where a reload does not apply it; for --help. Caller frees; NULL if out of memory. */
char *cfg_help(void);

#endif
