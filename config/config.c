/* config.c - INI file -> immutable Config, driven by one declarative key table.
 *
 * inih does the INI syntax, fed by a line reader of ours: Debian's inih 55 is built without
 * INI_HANDLER_LINENO, so the reader counts lines for every message, rejects unknown sections even
 * when they are empty, and strips indentation (inih would take an indented key for a continuation
 * of the previous value). */
#include "config.h"
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>
#include <libpq-fe.h>

#include "auth.h"

/* Enum keys are stored and compared through int pointers. */
_Static_assert(sizeof(CfgPoolMode) == sizeof(int), "CfgPoolMode must be int-sized");
_Static_assert(sizeof(CfgAuthType) == sizeof(int), "CfgAuthType must be int-sized");
_Static_assert(sizeof(CfgLogLevel) == sizeof(int), "CfgLogLevel must be int-sized");
_Static_assert(sizeof(CfgSslMode) == sizeof(int), "CfgSslMode must be int-sized");

#define CFG_MAX_FILE    (1 << 20)  /* bytes; a config file is a few kB */
#define CFG_MAX_SECONDS 31536000.0 /* a year: catches unit slips like 600000000 */
#define CFG_MAX_POOL    10000.0    /* per-pool server connections */
#define CFG_MAX_PACKET  1073741822 /* Postgres's PQ_LARGE_MESSAGE_LIMIT, length word included */
#define CFG_SYNTAX_MSG  "syntax error: expected '[section]', 'key = value' or a comment"

typedef enum { KT_INT, KT_DOUBLE, KT_STRING, KT_ENUM, KT_BOOL } KeyType;

/* An accepted enum spelling, or (value -1) a known one we refuse, with the reason. */
typedef struct CfgEnumName {
    const char *name;
    int value;
    const char *refuse;
} CfgEnumName;

typedef struct KeyDef {
    const char *name;
    KeyType type;
    size_t off;               /* offsetof(Config, field) */
    const char *def;          /* default, as text: parsed like a file value */
    double min, max;          /* int/double range; KT_STRING: min = minimum length */
    const CfgEnumName *enums; /* KT_ENUM spellings, NULL-terminated */
    bool restart;             /* only takes effect on restart (else on reload) */
    const char *help;         /* one line for cfg_help() and the sample file */
} KeyDef;

/* KT_INT keys that also take the word "auto" (stored as CFG_AUTO). */
static bool key_takes_auto(const KeyDef *k)
{
    return strcmp(k->name, "write_rate") == 0;
}

static const CfgEnumName pool_modes[] = {
    {"session", CFG_POOL_SESSION, NULL},
    {"auto", CFG_POOL_AUTO, NULL},
    {"transaction", -1,
     "refused: transaction pooling breaks LISTEN/NOTIFY and the session state (SET, prepared "
     "statements, advisory locks, temporary tables) that DBOS relies on; use pool_mode = auto, "
     "which pins a session to its server when it needs to"},
    {NULL, 0, NULL},
};

#define AUTH_UNSUPPORTED "not supported (use trust, plain, md5 or scram-sha-256)"
static const CfgEnumName auth_types[] = {
    {"trust", CFG_AUTH_TRUST, NULL},
    {"plain", CFG_AUTH_PLAIN, NULL},
    {"md5", CFG_AUTH_MD5, NULL},
    {"scram-sha-256", CFG_AUTH_SCRAM, NULL},
    {"cert", -1, AUTH_UNSUPPORTED},
    {"hba", -1, AUTH_UNSUPPORTED},
    {"pam", -1, AUTH_UNSUPPORTED},
    {"any", -1, AUTH_UNSUPPORTED},
    {NULL, 0, NULL},
};

static const CfgEnumName ssl_modes[] = {
    {"disable", CFG_SSL_DISABLE, NULL},
    {"allow", CFG_SSL_ALLOW, NULL},
    {"prefer", CFG_SSL_PREFER, NULL},
    {"require", CFG_SSL_REQUIRE, NULL},
    {"verify-ca", CFG_SSL_VERIFY_CA, NULL},
    {"verify-full", CFG_SSL_VERIFY_FULL, NULL},
    {NULL, 0, NULL},
};

static const CfgEnumName log_levels[] = {
    {"error", CFG_LOG_ERROR, NULL},
    {"warning", CFG_LOG_WARNING, NULL},
    {"info", CFG_LOG_INFO, NULL},
    {"debug", CFG_LOG_DEBUG, NULL},
    {NULL, 0, NULL},
};

#define OFF(f) offsetof(Config, f)

/* Every [pgpin] key, in the order cfg_dump() and cfg_help() list them. */
static const KeyDef cfg_keys[] = {
    {"listen_addr", KT_STRING, OFF(listen_addr), "127.0.0.1", 1, 0, NULL, true,
     "address to listen on; * = all IPv4 and IPv6 addresses"},
    {"listen_port", KT_INT, OFF(listen_port), "6432", 1, 65535, NULL, true,
     "TCP port to listen on"},
    {"pool_mode", KT_ENUM, OFF(pool_mode), "session", 0, 0, pool_modes, false,
     "session or auto (transaction is refused: it breaks LISTEN/NOTIFY and session state)"},
    {"default_pool_size", KT_INT, OFF(default_pool_size), "20", 1, CFG_MAX_POOL, NULL, false,
     "server connections per pool, unless the database sets pool_size="},
    {"min_pool_size", KT_INT, OFF(min_pool_size), "0", 0, CFG_MAX_POOL, NULL, false,
     "server connections kept open per pool, unless the database sets min_pool_size="},
    {"max_client_conn", KT_INT, OFF(max_client_conn), "1000", 1, 1000000, NULL, false,
     "client connections accepted in total"},
    {"server_reset_query", KT_STRING, OFF(server_reset_query), "DISCARD ALL", 0, 0, NULL, false,
     "run when a server goes back to the pool; empty = none"},
    {"server_idle_timeout", KT_DOUBLE, OFF(server_idle_timeout), "600", 0, CFG_MAX_SECONDS, NULL,
     false, "seconds an unused server stays open; 0 = never closed"},
    {"server_lifetime", KT_DOUBLE, OFF(server_lifetime), "3600", 0, CFG_MAX_SECONDS, NULL, false,
     "seconds a server lives before it is retired; 0 = unlimited"},
    {"server_connect_timeout", KT_DOUBLE, OFF(server_connect_timeout), "15", 0.001, CFG_MAX_SECONDS,
     NULL, false, "seconds to wait for a server connection (> 0)"},
    {"query_wait_timeout", KT_DOUBLE, OFF(query_wait_timeout), "120", 0, CFG_MAX_SECONDS, NULL,
     false, "seconds a client may wait for a server; 0 = forever"},
    {"shutdown_timeout", KT_DOUBLE, OFF(shutdown_timeout), "30", 0, CFG_MAX_SECONDS, NULL, false,
     "seconds SIGTERM waits for open transactions"},
    {"client_login_timeout", KT_DOUBLE, OFF(client_login_timeout), "60", 0, CFG_MAX_SECONDS, NULL,
     false, "seconds a client has to finish startup; 0 = off"},
    {"client_idle_timeout", KT_DOUBLE, OFF(client_idle_timeout), "0", 0, CFG_MAX_SECONDS, NULL,
     false, "seconds a logged-in client may stay silent before it is closed; 0 = off"},
    {"max_packet_size", KT_INT, OFF(max_packet_size), "1073741822", 1024, CFG_MAX_PACKET, NULL,
     false, "bytes of a client Query/Parse/Bind/CopyData message, length word included"},
    {"client_tls_sslmode", KT_ENUM, OFF(client_tls_sslmode), "disable", 0, 0, ssl_modes, false,
     "disable, allow, prefer, require, verify-ca or verify-full"},
    {"client_tls_cert_file", KT_STRING, OFF(client_tls_cert_file), "", 0, 0, NULL, false,
     "certificate (chain) shown to clients; needed unless client_tls_sslmode = disable"},
    {"client_tls_key_file", KT_STRING, OFF(client_tls_key_file), "", 0, 0, NULL, false,
     "private key of client_tls_cert_file"},
    {"client_tls_ca_file", KT_STRING, OFF(client_tls_ca_file), "", 0, 0, NULL, false,
     "CA certificates for client certificates; needed by verify-ca and verify-full"},
    {"client_tls_protocols", KT_STRING, OFF(client_tls_protocols), "secure", 1, 0, NULL, false,
     "tlsv1.0..tlsv1.3, all, secure (= tlsv1.2,tlsv1.3) or legacy, comma-separated"},
    {"client_tls_ciphers", KT_STRING, OFF(client_tls_ciphers), "HIGH:!aNULL:!MD5", 1, 0, NULL,
     false, "OpenSSL cipher list for TLS 1.2 and older"},
    {"auth_type", KT_ENUM, OFF(auth_type), "trust", 0, 0, auth_types, false,
     "trust, plain, md5 or scram-sha-256 (md5 uses SCRAM for users with SCRAM secrets)"},
    {"auth_file", KT_STRING, OFF(auth_file), "", 0, 0, NULL, false,
     "user list in PgBouncer's userlist.txt format; needed unless auth_type = trust"},
    {"auth_user", KT_STRING, OFF(auth_user), "", 0, 0, NULL, false,
     "user that runs auth_query for users missing from auth_file; empty = none"},
    {"auth_query", KT_STRING, OFF(auth_query),
     "SELECT usename, passwd FROM pg_shadow WHERE usename=$1", 1, 0, NULL, false,
     "query returning the user name and secret of user $1"},
    {"admin_users", KT_STRING, OFF(admin_users), "", 0, 0, NULL, false,
     "comma-separated users allowed to run admin commands"},
    {"reserve_headroom", KT_STRING, OFF(reserve_headroom), "5%", 1, 0, NULL, false,
     "server slots left free below each server's budget: a count, or N% of max_connections "
     "(at least 2)"},
    {"limits_refresh_interval", KT_DOUBLE, OFF(limits_refresh_interval), "5", 0.1, CFG_MAX_SECONDS,
     NULL, false,
     "seconds between readings of each server's max_connections and foreign connections"},
    {"query_wait_notice", KT_DOUBLE, OFF(query_wait_notice), "5", 0, CFG_MAX_SECONDS, NULL, false,
     "seconds a client waits for a server before a NOTICE tells it why; 0 = never"},
    {"metrics_listen", KT_STRING, OFF(metrics_listen), "", 0, 0, NULL, true,
     "host:port serving Prometheus metrics at /metrics; empty = off"},
    {"write_rate", KT_INT, OFF(write_rate), "0", 0, 10000000, NULL, false,
     "write transactions per second pgpin lets through to each server; 0 = no shaping; auto = "
     "adapt to keep commit latency under write_latency_target"},
    {"write_latency_target", KT_DOUBLE, OFF(write_latency_target), "0.05", 0.0001, 60, NULL, false,
     "write_rate = auto: seconds a write transaction may take, admission to commit"},
    {"write_burst", KT_INT, OFF(write_burst), "0", 0, 10000000, NULL, false,
     "writes admitted at once above write_rate; 0 = a tenth of write_rate (at least 1)"},
    {"write_max_wait", KT_DOUBLE, OFF(write_max_wait), "0", 0, CFG_MAX_SECONDS, NULL, false,
     "seconds a write may wait for its turn before it fails with 53400; 0 = no limit"},
    {"tcp_keepalive", KT_BOOL, OFF(tcp_keepalive), "on", 0, 0, NULL, false,
     "TCP keepalives on client sockets and server connections"},
    {"tcp_keepidle", KT_INT, OFF(tcp_keepidle), "30", 0, 32767, NULL, false,
     "seconds a connection is silent before the first keepalive probe; 0 = the system's"},
    {"tcp_keepintvl", KT_INT, OFF(tcp_keepintvl), "10", 0, 32767, NULL, false,
     "seconds between keepalive probes; 0 = the system's"},
    {"tcp_keepcnt", KT_INT, OFF(tcp_keepcnt), "3", 0, 127, NULL, false,
     "unanswered keepalive probes before the connection is dropped; 0 = the system's"},
    {"tcp_user_timeout", KT_INT, OFF(tcp_user_timeout), "0", 0, 2147483647, NULL, false,
     "milliseconds sent data may stay unacknowledged before the connection is dropped; "
     "0 = the system's"},
    {"log_level", KT_ENUM, OFF(log_level), "info", 0, 0, log_levels, false,
     "error, warning, info or debug"},
    {"workers", KT_INT, OFF(workers), "0", 0, 1024, NULL, true,
     "event-loop threads; 0 = one per CPU core"},
};
#define CFG_NKEYS (sizeof cfg_keys / sizeof cfg_keys[0])

/* pgpin-only keys of a [databases] conninfo, each defaulting to a [pgpin] key of the same type. */
enum { DBK_POOL_SIZE, DBK_MIN_POOL_SIZE, DBK_POOL_MODE, DBK_WRITE_RATE, DBK_WRITE_BURST };

typedef struct DbPoolKey {
    const char *name;
    const char *cfg_key; /* [pgpin] key giving the default, range and spellings */
    size_t off;          /* offsetof(CfgDatabase, field); an int-sized field */
} DbPoolKey;

static const DbPoolKey db_pool_keys[] = {
    [DBK_POOL_SIZE] = {"pool_size", "default_pool_size", offsetof(CfgDatabase, pool_size)},
    [DBK_MIN_POOL_SIZE] = {"min_pool_size", "min_pool_size", offsetof(CfgDatabase, min_pool_size)},
    [DBK_POOL_MODE] = {"pool_mode", "pool_mode", offsetof(CfgDatabase, pool_mode)},
    [DBK_WRITE_RATE] = {"write_rate", "write_rate", offsetof(CfgDatabase, write_rate)},
    [DBK_WRITE_BURST] = {"write_burst", "write_burst", offsetof(CfgDatabase, write_burst)},
};
#define DB_NPOOLKEYS (sizeof db_pool_keys / sizeof db_pool_keys[0])

typedef struct DbExtra {
    int line;                  /* where the entry is defined */
    bool set[DB_NPOOLKEYS];    /* pool key given in the entry (else resolved from [pgpin]) */
    char *shard[CFG_SK_COUNT]; /* shards=, slots=, dbos_schema= values (owned), NULL if absent */
} DbExtra;

typedef struct ParseCtx {
    Config *cfg;
    const char *name; /* file name for messages */
    const char *cur;  /* reader position in the text */
    int lineno;       /* line the reader handed to inih last */
    int err_line;     /* line of the first error */
    bool failed;
    char *err;
    size_t errlen;
    int key_line[CFG_NKEYS]; /* line that set each [pgpin] key, 0 = default */
    DbExtra *extra;          /* parallel to cfg->dbs */
    int dbcap;
} ParseCtx;

typedef struct StrBuf {
    char *buf;
    size_t len, cap;
    bool oom;
} StrBuf;

static void sb_add(StrBuf *sb, const char *s, size_t n)
{
    if (sb->oom) return;
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 128;
        while (cap < sb->len + n + 1)
            cap *= 2;
        char *nb = realloc(sb->buf, cap);
        if (!nb) {
            sb->oom = true;
            return;
        }
        sb->buf = nb;
        sb->cap = cap;
    }
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

static void sb_str(StrBuf *sb, const char *s)
{
    sb_add(sb, s, strlen(s));
}

/* The built string (caller frees), or NULL if an allocation failed. */
static char *sb_finish(StrBuf *sb)
{
    if (sb->oom) {
        free(sb->buf);
        return NULL;
    }
    return sb->buf ? sb->buf : strdup("");
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Record the first error as "FILE:LINE: ..." at the reader's current line ("FILE: ..." when it
 * is 0). Returns 0 (inih's
 * "handler failed") so callers can `return ctx_fail(...)`. */
static int ctx_fail(ParseCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ctx_fail(ParseCtx *ctx, const char *fmt, ...)
{
    if (ctx->failed) return 0;
    ctx->failed = true;
    ctx->err_line = ctx->lineno;
    if (ctx->errlen == 0) return 0;
    int n = ctx->lineno ? snprintf(ctx->err, ctx->errlen, "%s:%d: ", ctx->name, ctx->lineno)
                        : snprintf(ctx->err, ctx->errlen, "%s: ", ctx->name);
    if (n >= 0 && (size_t)n < ctx->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return 0;
}

static int key_find(const char *name)
{
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (strcmp(cfg_keys[i].name, name) == 0) return (int)i;
    return -1;
}

static void *key_field(Config *cfg, const KeyDef *k)
{
    return (char *)cfg + k->off;
}

static const void *key_cfield(const Config *cfg, const KeyDef *k)
{
    return (const char *)cfg + k->off;
}

static bool parse_int(const KeyDef *k, const char *label, const char *val, int *out, char *msg,
                      size_t msglen)
{
    char *end;
    if (key_takes_auto(k) && strcmp(val, "auto") == 0) {
        *out = CFG_AUTO;
        return true;
    }
    errno = 0;
    long v = strtol(val, &end, 10);
    if (end == val || *end != '\0' || errno == ERANGE || v < k->min || v > k->max) {
        snprintf(msg, msglen, "%s must be an integer between %.0f and %.0f%s, got '%s'", label,
                 k->min, k->max, key_takes_auto(k) ? " or auto" : "", val);
        return false;
    }
    *out = (int)v;
    return true;
}

static bool parse_double(const KeyDef *k, const char *label, const char *val, double *out,
                         char *msg, size_t msglen)
{
    /* Plain decimal notation only: strtod would also take "inf", "nan" and hex. */
    bool ok = val[0] != '\0' && strspn(val, "0123456789.eE+-") == strlen(val);
    char *end = NULL;
    errno = 0;
    double v = ok ? strtod(val, &end) : 0;
    if (!ok || *end != '\0' || errno == ERANGE || !isfinite(v) || v < k->min || v > k->max) {
        snprintf(msg, msglen, "%s must be a number of seconds between %.15g and %.15g, got '%s'",
                 label, k->min, k->max, val);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_string(const KeyDef *k, const char *label, const char *val, char **out, char *msg,
                         size_t msglen)
{
    if (strlen(val) < (size_t)k->min) {
        snprintf(msg, msglen, "%s must not be empty", label);
        return false;
    }
    char *s = strdup(val);
    if (!s) {
        snprintf(msg, msglen, "out of memory");
        return false;
    }
    free(*out);
    *out = s;
    return true;
}

static bool parse_enum(const KeyDef *k, const char *label, const char *val, int *out, char *msg,
                       size_t msglen)
{
    char names[128] = "";
    size_t used = 0;
    for (const CfgEnumName *e = k->enums; e->name; e++) {
        if (strcasecmp(e->name, val) == 0) {
            if (e->value < 0) {
                snprintf(msg, msglen, "%s = %s: %s", label, e->name, e->refuse);
                return false;
            }
            *out = e->value;
            return true;
        }
        if (e->value >= 0 && used < sizeof names) {
            int w = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", e->name);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    snprintf(msg, msglen, "unknown %s '%s' (expected %s)", label, val, names);
    return false;
}

static bool parse_bool(const char *label, const char *val, bool *out, char *msg, size_t msglen)
{
    static const char *const yes[] = {"true", "on", "yes", "1"};
    static const char *const no[] = {"false", "off", "no", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(val, yes[i]) == 0 || strcasecmp(val, no[i]) == 0) {
            *out = strcasecmp(val, yes[i]) == 0;
            return true;
        }
    }
    snprintf(msg, msglen, "%s must be on or off (or true/false, yes/no, 1/0), got '%s'", label,
             val);
    return false;
}

/* Parse `val` for key k into `field` (naming the key `label` in messages). Returns false with the
 * reason in msg, leaving `field` unchanged. */
static bool key_parse(const KeyDef *k, const char *label, const char *val, void *field, char *msg,
                      size_t msglen)
{
    switch (k->type) {
    case KT_INT: return parse_int(k, label, val, field, msg, msglen);
    case KT_DOUBLE: return parse_double(k, label, val, field, msg, msglen);
    case KT_STRING: return parse_string(k, label, val, field, msg, msglen);
    case KT_ENUM: return parse_enum(k, label, val, field, msg, msglen);
    case KT_BOOL: return parse_bool(label, val, field, msg, msglen);
    default: abort();
    }
}

static bool key_equal(const KeyDef *k, const Config *a, const Config *b)
{
    const void *fa = key_cfield(a, k), *fb = key_cfield(b, k);
    switch (k->type) {
    case KT_INT:
    case KT_ENUM: return *(const int *)fa == *(const int *)fb;
    case KT_DOUBLE: return *(const double *)fa == *(const double *)fb;
    case KT_STRING: return strcmp(*(char *const *)fa, *(char *const *)fb) == 0;
    case KT_BOOL: return *(const bool *)fa == *(const bool *)fb;
    default: abort();
    }
}

static const char *enum_name(const CfgEnumName *e, int value)
{
    for (; e->name; e++)
        if (e->value == value) return e->name;
    return "?";
}

/* The value of key k as text: the string itself, or formatted into tmp. */
static const char *key_text(const KeyDef *k, const Config *cfg, char *tmp, size_t n)
{
    const void *f = key_cfield(cfg, k);
    switch (k->type) {
    case KT_INT:
        if (key_takes_auto(k) && *(const int *)f == CFG_AUTO) return "auto";
        snprintf(tmp, n, "%d", *(const int *)f);
        return tmp;
    case KT_DOUBLE:
        /* Shortest text that reads back as the same double. */
        snprintf(tmp, n, "%.15g", *(const double *)f);
        if (strtod(tmp, NULL) != *(const double *)f) snprintf(tmp, n, "%.17g", *(const double *)f);
        return tmp;
    case KT_STRING: return *(char *const *)f;
    case KT_ENUM: return enum_name(k->enums, *(const int *)f);
    case KT_BOOL: return *(const bool *)f ? "on" : "off";
    default: abort();
    }
}

static void cfg_free(Config *cfg)
{
    auth_file_free((AuthFile *)cfg->auth);
    cfg_shard_free(cfg);
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (cfg_keys[i].type == KT_STRING) free(*(char **)key_field(cfg, &cfg_keys[i]));
    for (int i = 0; i < cfg->ndbs; i++) {
        free(cfg->dbs[i].name);
        free(cfg->dbs[i].conninfo);
    }
    free(cfg->dbs);
    free(cfg->path);
    free(cfg);
}

/* A Config holding every default, refs = 1; NULL with err set on failure. */
static Config *cfg_new(const char *path, char *err, size_t errlen)
{
    Config *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !(cfg->path = strdup(path))) goto oom;
    atomic_init(&cfg->refs, 1);
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const KeyDef *k = &cfg_keys[i];
        char msg[256];
        if (!key_parse(k, k->name, k->def, key_field(cfg, k), msg, sizeof msg)) {
            set_err(err, errlen, "internal error: default of %s: %s", k->name, msg);
            cfg_free(cfg);
            return NULL;
        }
    }
    return cfg;
oom:
    set_err(err, errlen, "out of memory");
    free(cfg);
    return NULL;
}

/* inih's fgets-style reader over the text: one physical line per call, so inih's line count and
 * ours agree. Returns NULL at the end of the text or after the first error. */
static char *cfg_reader(char *buf, int num, void *stream)
{
    ParseCtx *ctx = stream;
    if (ctx->failed || *ctx->cur == '\0') return NULL;
    const char *line = ctx->cur;
    size_t n = strcspn(line, "\n");
    ctx->cur = line[n] ? line + n + 1 : line + n;
    ctx->lineno++;
    if (ctx->lineno == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3;
        n -= 3;
    }
    /* An indented line would be a continuation of the previous value to inih. */
    while (n > 0 && (*line == ' ' || *line == '\t')) {
        line++;
        n--;
    }
    if (num < 3 || n > (size_t)num - 2) {
        ctx_fail(ctx, "line is longer than %d characters", num - 2);
        return NULL;
    }
    memcpy(buf, line, n);
    buf[n] = '\n';
    buf[n + 1] = '\0';
    const char *end = buf[0] == '[' ? strchr(buf, ']') : NULL;
    if (!end) return buf; /* not a section header, or a broken one inih reports */
    int len = (int)(end - buf - 1);
    if ((len == 5 && strncmp(buf + 1, "pgpin", 5) == 0) ||
        (len == 9 && strncmp(buf + 1, "databases", 9) == 0) ||
        (len == 6 && strncmp(buf + 1, "shards", 6) == 0))
        return buf;
    ctx_fail(ctx, "unknown section [%.*s] (expected [pgpin], [databases] or [shards])", len,
             buf + 1);
    return NULL;
}

static int handle_pgpin(ParseCtx *ctx, const char *name, const char *value)
{
    int i = key_find(name);
    if (i < 0) return ctx_fail(ctx, "unknown key '%s' in [pgpin]", name);
    if (ctx->key_line[i])
        return ctx_fail(ctx, "duplicate key '%s' (first set at line %d)", name, ctx->key_line[i]);
    ctx->key_line[i] = ctx->lineno;
    char msg[512];
    if (!key_parse(&cfg_keys[i], name, value, key_field(ctx->cfg, &cfg_keys[i]), msg, sizeof msg))
        return ctx_fail(ctx, "%s", msg);
    return 1;
}

/* Next key=value pair of a libpq key=value conninfo, decoded in place the way libpq does
 * (optional blanks around '=', single-quoted values, backslash escapes). Returns 1 with key/val
 * set, 0 at the end, -1 with *msg set. Messages never quote values: they may be passwords.
 * (config_int.h) */
int cfg_conninfo_next(char **pp, char **key, char **val, const char **msg)
{
    char *p = *pp;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0') return 0;
    *key = p;
    while (*p && *p != '=' && !isspace((unsigned char)*p))
        p++;
    char *kend = p;
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '=' || kend == *key) {
        *msg = kend == *key ? "missing key before \"=\"" : "missing \"=\" after a key";
        return -1;
    }
    p++;
    *kend = '\0';
    while (isspace((unsigned char)*p))
        p++;
    char *out = p;
    *val = p;
    bool quoted = *p == '\'';
    if (quoted) p++;
    while (*p && (quoted ? *p != '\'' : !isspace((unsigned char)*p))) {
        if (*p == '\\' && *++p == '\0') break; /* libpq drops a trailing backslash */
        *out++ = *p++;
    }
    if (quoted && *p != '\'') {
        *msg = "unterminated quoted string";
        return -1;
    }
    /* Step past the closing quote or one blank before the terminator may overwrite it. */
    char *next = *p ? p + 1 : p;
    *out = '\0';
    *pp = next;
    return 1;
}

/* Append key=value to a conninfo, quoting the value when libpq needs it to. */
static void conninfo_append(StrBuf *sb, const char *key, const char *val)
{
    if (sb->len) sb_str(sb, " ");
    sb_str(sb, key);
    sb_str(sb, "=");
    if (val[0] && !strpbrk(val, " \t\n\r\f\v'\\")) {
        sb_str(sb, val);
        return;
    }
    sb_str(sb, "'");
    for (const char *v = val; *v; v++) {
        if (*v == '\'' || *v == '\\') sb_str(sb, "\\");
        sb_add(sb, v, 1);
    }
    sb_str(sb, "'");
}

/* Apply a pgpin-only key of a database entry. Returns false after ctx_fail. */
static bool db_pool_key(ParseCtx *ctx, CfgDatabase *db, DbExtra *ex, size_t i, const char *val)
{
    const DbPoolKey *pk = &db_pool_keys[i];
    if (ex->set[i]) {
        ctx_fail(ctx, "database '%s': duplicate %s", db->name, pk->name);
        return false;
    }
    ex->set[i] = true;
    char msg[512];
    const KeyDef *k = &cfg_keys[key_find(pk->cfg_key)];
    if (!key_parse(k, pk->name, val, (char *)db + pk->off, msg, sizeof msg)) {
        ctx_fail(ctx, "database '%s': %s", db->name, msg);
        return false;
    }
    return true;
}

static int pool_key_find(const char *name)
{
    for (size_t i = 0; i < DB_NPOOLKEYS; i++)
        if (strcmp(db_pool_keys[i].name, name) == 0) return (int)i;
    return -1;
}

static int shard_key_find(const char *name)
{
    for (int i = 0; i < CFG_SK_COUNT; i++)
        if (strcmp(cfg_shard_keys[i], name) == 0) return i;
    return -1;
}

/* Take the pgpin-only keys out of a key=value conninfo and set db->conninfo to the rest.
 * Returns false after ctx_fail. */
static bool conninfo_split(ParseCtx *ctx, CfgDatabase *db, DbExtra *ex, const char *value)
{
    StrBuf sb = {0};
    char *copy = strdup(value), *p = copy, *key, *val;
    const char *msg = NULL;
    int r;
    if (!copy) goto oom;
    while ((r = cfg_conninfo_next(&p, &key, &val, &msg)) > 0) {
        int i = pool_key_find(key), k = shard_key_find(key);
        if (k >= 0) {
            if (ex->shard[k]) {
                ctx_fail(ctx, "database '%s': duplicate %s", db->name, key);
                goto fail;
            }
            if (!(ex->shard[k] = strdup(val))) goto oom;
        } else if (i < 0) {
            conninfo_append(&sb, key, val);
        } else if (!db_pool_key(ctx, db, ex, (size_t)i, val)) {
            goto fail;
        }
    }
    if (r < 0) {
        ctx_fail(ctx, "database '%s': invalid conninfo: %s", db->name, msg);
        goto fail;
    }
    free(copy);
    db->conninfo = sb_finish(&sb);
    if (!db->conninfo) return ctx_fail(ctx, "out of memory");
    return true;
oom:
    ctx_fail(ctx, "out of memory");
fail:
    free(copy);
    free(sb.buf);
    return false;
}

/* Replace the first occurrence of `what` in msg (in place) with "<uri>": libpq quotes the whole
 * URI in some messages, and it may hold a password. */
static void redact(char *msg, const char *what)
{
    size_t wl = strlen(what);
    char *at = wl >= 5 ? strstr(msg, what) : NULL;
    if (!at) return;
    memcpy(at, "<uri>", 5);
    memmove(at + 5, at + wl, strlen(at + wl) + 1);
}

/* Validate db->conninfo with libpq and note whether it sets user and dbname. Returns false after
 * ctx_fail. */
static bool conninfo_check(ParseCtx *ctx, CfgDatabase *db, bool uri)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(db->conninfo, &errmsg);
    if (!opts) {
        if (!errmsg) return ctx_fail(ctx, "out of memory");
        size_t n = strlen(errmsg);
        while (n > 0 && isspace((unsigned char)errmsg[n - 1]))
            errmsg[--n] = '\0';
        if (uri) redact(errmsg, db->conninfo);
        bool pool = uri && strstr(db->conninfo, "pool_") != NULL;
        ctx_fail(ctx, "database '%s': invalid conninfo: %s%s", db->name, errmsg,
                 pool ? " (pool_size, min_pool_size and pool_mode need the key=value form)" : "");
        PQfreemem(errmsg);
        return false;
    }
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        bool set = o->val && o->val[0];
        if (strcmp(o->keyword, "user") == 0) db->has_user = set;
        if (strcmp(o->keyword, "dbname") == 0) db->has_dbname = set;
    }
    PQconninfoFree(opts);
    return true;
}

static bool db_grow(ParseCtx *ctx)
{
    Config *cfg = ctx->cfg;
    if (cfg->ndbs < ctx->dbcap) return true;
    int cap = ctx->dbcap ? ctx->dbcap * 2 : 8;
    CfgDatabase *dbs = realloc(cfg->dbs, (size_t)cap * sizeof *dbs);
    if (!dbs) return false;
    cfg->dbs = dbs;
    DbExtra *ex = realloc(ctx->extra, (size_t)cap * sizeof *ex);
    if (!ex) return false;
    ctx->extra = ex;
    ctx->dbcap = cap;
    return true;
}

static int handle_db(ParseCtx *ctx, const char *name, const char *value)
{
    Config *cfg = ctx->cfg;
    if (name[0] == '\0') return ctx_fail(ctx, "missing database name before '='");
    for (int i = 0; i < cfg->ndbs; i++)
        if (strcmp(cfg->dbs[i].name, name) == 0)
            return ctx_fail(ctx, "duplicate database '%s' (first defined at line %d)", name,
                            ctx->extra[i].line);
    if (!db_grow(ctx)) return ctx_fail(ctx, "out of memory");
    CfgDatabase *db = &cfg->dbs[cfg->ndbs];
    DbExtra *ex = &ctx->extra[cfg->ndbs];
    memset(db, 0, sizeof *db);
    memset(ex, 0, sizeof *ex);
    ex->line = ctx->lineno;
    cfg->ndbs++; /* counted now so that cfg_free releases a half-built entry */
    if (!(db->name = strdup(name))) return ctx_fail(ctx, "out of memory");
    bool uri = strncmp(value, "postgresql://", 13) == 0 || strncmp(value, "postgres://", 11) == 0;
    if (uri) {
        if (!(db->conninfo = strdup(value))) return ctx_fail(ctx, "out of memory");
    } else if (!conninfo_split(ctx, db, ex, value)) {
        return 0;
    }
    if (!ex->shard[CFG_SK_SHARDS]) {
        for (int k = 0; k < CFG_SK_COUNT; k++)
            if (ex->shard[k])
                return ctx_fail(ctx,
                                "database '%s': %s= needs shards= (it shapes a sharded "
                                "database)",
                                db->name, cfg_shard_keys[k]);
        return conninfo_check(ctx, db, uri) ? 1 : 0;
    }
    if (db->conninfo[0]) /* the shards hold the connection details */
        return ctx_fail(ctx,
                        "database '%s': shards= replaces the connection details: put %.*s= in "
                        "each [shards] entry instead",
                        db->name, (int)strcspn(db->conninfo, "="), db->conninfo);
    return 1;
}

static int handle_shard(ParseCtx *ctx, const char *name, const char *value)
{
    char msg[512];
    if (!cfg_shard_add(ctx->cfg, name, value, ctx->lineno, msg, sizeof msg))
        return ctx_fail(ctx, "%s", msg);
    return 1;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
    ParseCtx *ctx = user;
    if (strcmp(section, "pgpin") == 0) return handle_pgpin(ctx, name, value);
    if (strcmp(section, "databases") == 0) return handle_db(ctx, name, value);
    if (strcmp(section, "shards") == 0) return handle_shard(ctx, name, value);
    if (section[0] == '\0') return ctx_fail(ctx, "'%s' is outside any [section]", name);
    return ctx_fail(ctx, "unknown section [%s]", section);
}

bool cfg_parse_headroom(const char *s, double *pct, int *abs)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0) return false;
    if (*end == '%' && end[1] == '\0' && v <= 50) {
        *pct = v, *abs = -1;
        return true;
    }
    if (*end || v > 10000 || v != (int)v) return false;
    *pct = 0, *abs = (int)v;
    return true;
}

/* After the whole file is read ([pgpin] may follow [databases]): fill each entry's unset pool
 * keys from [pgpin] and check min_pool_size <= pool size. Returns false after ctx_fail. */
static bool cfg_resolve(ParseCtx *ctx)
{
    Config *cfg = ctx->cfg;
    if (!cfg_parse_headroom(cfg->reserve_headroom, &cfg->reserve_headroom_pct,
                            &cfg->reserve_headroom_abs)) {
        ctx->lineno = ctx->key_line[key_find("reserve_headroom")];
        return ctx_fail(ctx,
                        "reserve_headroom: expected a count (0-10000) or a percentage "
                        "(0%%-50%%), got '%s'",
                        cfg->reserve_headroom);
    }
    if (cfg->metrics_listen[0] && !strrchr(cfg->metrics_listen, ':')) {
        ctx->lineno = ctx->key_line[key_find("metrics_listen")];
        return ctx_fail(ctx, "metrics_listen: expected host:port, got '%s'", cfg->metrics_listen);
    }
    if (cfg->min_pool_size > cfg->default_pool_size) {
        int a = ctx->key_line[key_find("min_pool_size")];
        int b = ctx->key_line[key_find("default_pool_size")];
        ctx->lineno = a > b ? a : b;
        return ctx_fail(ctx, "min_pool_size %d exceeds default_pool_size %d", cfg->min_pool_size,
                        cfg->default_pool_size);
    }
    for (int d = 0; d < cfg->ndbs; d++) {
        CfgDatabase *db = &cfg->dbs[d];
        const DbExtra *ex = &ctx->extra[d];
        for (size_t i = 0; i < DB_NPOOLKEYS; i++) {
            const KeyDef *k = &cfg_keys[key_find(db_pool_keys[i].cfg_key)];
            if (!ex->set[i]) *(int *)((char *)db + db_pool_keys[i].off) = *(int *)key_field(cfg, k);
        }
        char msg[512];
        if (ex->shard[CFG_SK_SHARDS] && !cfg_shard_db(cfg, db, ex->shard, msg, sizeof msg)) {
            ctx->lineno = ex->line;
            return ctx_fail(ctx, "database '%s': %s", db->name, msg);
        }
        if (db->min_pool_size > db->pool_size) {
            ctx->lineno = ex->line;
            return ctx_fail(ctx, "database '%s': min_pool_size %d%s exceeds pool_size %d%s",
                            db->name, db->min_pool_size,
                            ex->set[DBK_MIN_POOL_SIZE] ? "" : " (from [pgpin])", db->pool_size,
                            ex->set[DBK_POOL_SIZE] ? "" : " (from [pgpin])");
        }
    }
    return true;
}

/* The checks that read other files (auth_file, TLS files), blaming the line of the key that
 * config_auth.c names. Returns false after ctx_fail. */
static bool cfg_check_files(ParseCtx *ctx)
{
    const char *key = NULL;
    char msg[1024];
    if (cfg_auth_setup(ctx->cfg, &key, msg, sizeof msg) &&
        cfg_tls_setup(ctx->cfg, &key, msg, sizeof msg))
        return true;
    int i = key ? key_find(key) : -1;
    ctx->lineno = i >= 0 ? ctx->key_line[i] : 0;
    return ctx_fail(ctx, "%s", msg);
}

static Config *cfg_parse(const char *text, const char *name, const char *path, char *err,
                         size_t errlen)
{
    if (errlen) err[0] = '\0';
    if (!text) {
        set_err(err, errlen, "%s: no text", name);
        return NULL;
    }
    Config *cfg = cfg_new(path, err, errlen);
    if (!cfg) return NULL;
    ParseCtx ctx = {.cfg = cfg, .name = name, .cur = text, .err = err, .errlen = errlen};
    int ret = ini_parse_stream(cfg_reader, &ctx, cfg_handler, &ctx);
    if (ret == -2) {
        set_err(err, errlen, "%s: out of memory", name);
        ctx.failed = true;
    } else if (ret > 0 && (!ctx.failed || ret < ctx.err_line)) {
        /* inih's own syntax error came first (it returns the first failing line). */
        ctx.failed = false;
        ctx.lineno = ret;
        ctx_fail(&ctx, CFG_SYNTAX_MSG);
    }
    if (!ctx.failed) cfg_resolve(&ctx);
    if (!ctx.failed) cfg_check_files(&ctx);
    for (int i = 0; i < cfg->ndbs; i++)
        for (int k = 0; k < CFG_SK_COUNT; k++)
            free(ctx.extra[i].shard[k]);
    free(ctx.extra);
    if (ctx.failed) {
        cfg_free(cfg);
        return NULL;
    }
    return cfg;
}

/* The file's text, NUL-terminated (caller frees), or NULL with err set. */
static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0, n;
    char *buf = malloc(cap + 1);
    if (!buf) goto oom;
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len < cap) continue;
        if (cap >= CFG_MAX_FILE) {
            set_err(err, errlen, "%s: larger than %d bytes", path, CFG_MAX_FILE);
            goto fail;
        }
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) goto oom;
        buf = nb;
        cap *= 2;
    }
    if (ferror(f)) {
        set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    const char *nul = memchr(buf, '\0', len);
    if (nul) {
        int line = 1;
        for (const char *c = buf; c < nul; c++)
            line += *c == '\n';
        set_err(err, errlen, "%s:%d: NUL byte in file", path, line);
        goto fail;
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
oom:
    set_err(err, errlen, "%s: out of memory", path);
fail:
    free(buf);
    fclose(f);
    return NULL;
}

Config *cfg_load(const char *path, char *err, size_t errlen)
{
    if (errlen) err[0] = '\0';
    char *text = read_file(path, err, errlen);
    if (!text) return NULL;
    Config *cfg = cfg_parse(text, path, path, err, errlen);
    free(text);
    return cfg;
}

Config *cfg_load_string(const char *text, const char *name, char *err, size_t errlen)
{
    return cfg_parse(text, name ? name : "<string>", "<string>", err, errlen);
}

Config *cfg_ref(Config *cfg)
{
    if (cfg) atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    return cfg;
}

void cfg_unref(Config *cfg)
{
    if (cfg && atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1) cfg_free(cfg);
}

const CfgDatabase *cfg_find_db(const Config *cfg, const char *name)
{
    const CfgDatabase *star = NULL;
    if (!cfg || !name) return NULL;
    for (int i = 0; i < cfg->ndbs; i++) {
        if (strcmp(cfg->dbs[i].name, name) == 0) return &cfg->dbs[i];
        if (strcmp(cfg->dbs[i].name, "*") == 0) star = &cfg->dbs[i];
    }
    return star;
}

int cfg_restart_keys_changed(const Config *old, const Config *cur, char *buf, size_t len)
{
    int count = 0;
    size_t used = 0;
    if (len) buf[0] = '\0';
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const KeyDef *k = &cfg_keys[i];
        if (!k->restart || key_equal(k, old, cur)) continue;
        if (used + 1 < len) {
            int w = snprintf(buf + used, len - used, "%s%s", count ? ", " : "", k->name);
            used += w > 0 ? (size_t)w : 0;
            if (used >= len) used = len - 1;
        }
        count++;
    }
    return count;
}

char *cfg_dump(const Config *cfg)
{
    StrBuf sb = {0};
    char tmp[64];
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        sb_str(&sb, cfg_keys[i].name);
        sb_str(&sb, " = ");
        sb_str(&sb, key_text(&cfg_keys[i], cfg, tmp, sizeof tmp));
        sb_str(&sb, "\n");
    }
    return sb_finish(&sb);
}

char *cfg_help(void)
{
    StrBuf sb = {0};
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const KeyDef *k = &cfg_keys[i];
        sb_str(&sb, k->name);
        sb_str(&sb, " = ");
        sb_str(&sb, k->def);
        sb_str(&sb, "\n    ");
        sb_str(&sb, k->help);
        sb_str(&sb, k->restart ? " (restart)\n" : "\n");
    }
    return sb_finish(&sb);
}
