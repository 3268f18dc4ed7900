/* config_auth.c - the config checks that read other files: auth_file (loaded into the snapshot)
 * and the client TLS files, checked by building a throwaway OpenSSL context so that a bad
 * certificate, key or cipher list is an error at load (with the key's line), not at the first
 * TLS client. Also admin_users lookups. */
#include "config_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "auth.h"

/* `p` made relative to the directory of the config file at cfg_path (absolute paths and a
 * config file without a directory leave it alone). Caller frees; NULL if out of memory. */
static char *cfg_path_resolve(const char *cfg_path, const char *p)
{
    const char *slash = strrchr(cfg_path, '/');
    if (p[0] == '/' || !slash) return strdup(p);
    size_t dirlen = (size_t)(slash - cfg_path) + 1, plen = strlen(p);
    char *out = malloc(dirlen + plen + 1);
    if (!out) return NULL;
    memcpy(out, cfg_path, dirlen);
    memcpy(out + dirlen, p, plen + 1);
    return out;
}

/* Resolve a file key in place and check the file is a readable regular file ("" = unset). */
static bool cfg_file_fix(const Config *cfg, const char *key, char **field, char *msg, size_t msglen)
{
    struct stat st;
    if (!(*field)[0]) return true;
    char *path = cfg_path_resolve(cfg->path, *field);
    if (!path) {
        snprintf(msg, msglen, "out of memory");
        return false;
    }
    free(*field);
    *field = path;
    FILE *f = NULL;
    if (stat(path, &st) != 0 || (S_ISREG(st.st_mode) && !(f = fopen(path, "r")))) {
        snprintf(msg, msglen, "%s: %s: %s", key, path, strerror(errno));
        return false;
    }
    if (f) fclose(f);
    if (!S_ISREG(st.st_mode)) {
        snprintf(msg, msglen, "%s: %s: not a regular file", key, path);
        return false;
    }
    return true;
}

bool cfg_auth_setup(Config *cfg, const char **key, char *msg, size_t msglen)
{
    *key = "auth_file";
    if (!cfg->auth_file[0]) {
        if (cfg->auth_type == CFG_AUTH_TRUST) return true;
        *key = "auth_type";
        snprintf(msg, msglen, "auth_file is required unless auth_type = trust");
        return false;
    }
    char err[768];
    if (!cfg_file_fix(cfg, "auth_file", &cfg->auth_file, msg, msglen)) return false;
    AuthFile *af = auth_file_load(cfg->auth_file, err, sizeof err);
    if (!af) {
        snprintf(msg, msglen, "auth_file: %s", err);
        return false;
    }
    cfg->auth = af;
    return true;
}

typedef struct TlsProto {
    const char *name;
    unsigned mask;
} TlsProto;

#define TLS_ALL    (CFG_TLS_V1_0 | CFG_TLS_V1_1 | CFG_TLS_V1_2 | CFG_TLS_V1_3)
#define TLS_SECURE (CFG_TLS_V1_2 | CFG_TLS_V1_3)

/* PgBouncer's (libtls's) names; "!" or "-" before a name removes it. */
static const TlsProto tls_protos[] = {
    {"tlsv1.0", CFG_TLS_V1_0}, {"tlsv1.1", CFG_TLS_V1_1}, {"tlsv1.2", CFG_TLS_V1_2},
    {"tlsv1.3", CFG_TLS_V1_3}, {"all", TLS_ALL},          {"legacy", TLS_ALL},
    {"secure", TLS_SECURE},    {"default", TLS_SECURE},   {NULL, 0},
};

static bool cfg_tls_protocols(const char *text, unsigned *out, char *msg, size_t msglen)
{
    char *copy = strdup(text), *save = NULL;
    unsigned mask = 0;
    if (!copy) {
        snprintf(msg, msglen, "out of memory");
        return false;
    }
    for (char *tok = strtok_r(copy, ",: \t", &save); tok; tok = strtok_r(NULL, ",: \t", &save)) {
        bool neg = tok[0] == '!' || tok[0] == '-';
        const TlsProto *p = tls_protos;
        while (p->name && strcasecmp(p->name, tok + neg) != 0)
            p++;
        if (!p->name) {
            snprintf(msg, msglen,
                     "client_tls_protocols: unknown protocol '%s' (expected tlsv1.0, tlsv1.1, "
                     "tlsv1.2, tlsv1.3, all, secure, default or legacy)",
                     tok + neg);
            free(copy);
            return false;
        }
        mask = neg ? mask & ~p->mask : mask | p->mask;
    }
    free(copy);
    if (!mask) {
        snprintf(msg, msglen, "client_tls_protocols: no protocol left in '%s'", text);
        return false;
    }
    *out = mask;
    return true;
}

/* Never prompt for a key's passphrase on the terminal: an encrypted key is an error. */
static int cfg_no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

/* The reason of OpenSSL's first queued error; clears the queue. */
static const char *cfg_ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    if (!r && e) ERR_error_string_n(e, buf, len);
    return r ? r : e ? buf : "unknown error";
}

/* Load the files into a throwaway context, as the TLS module will into the real one. */
static bool cfg_tls_try(const Config *cfg, const char **key, char *msg, size_t msglen)
{
    const char *cert = cfg->client_tls_cert_file, *pkey = cfg->client_tls_key_file;
    const char *ca = cfg->client_tls_ca_file, *file = NULL;
    char why[256];
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(msg, msglen, "cannot create a TLS context: %s", cfg_ssl_reason(why, sizeof why));
        return false;
    }
    SSL_CTX_set_default_passwd_cb(ctx, cfg_no_passphrase_cb);
    *key = "client_tls_ciphers";
    if (SSL_CTX_set_cipher_list(ctx, cfg->client_tls_ciphers) != 1) {
        snprintf(msg, msglen, "client_tls_ciphers: no usable cipher in '%s'",
                 cfg->client_tls_ciphers);
        goto fail;
    }
    *key = "client_tls_cert_file";
    if (cert[0] && SSL_CTX_use_certificate_chain_file(ctx, file = cert) != 1) goto fail;
    *key = "client_tls_key_file";
    if (pkey[0] && SSL_CTX_use_PrivateKey_file(ctx, file = pkey, SSL_FILETYPE_PEM) != 1) goto fail;
    if (cert[0] && pkey[0] && SSL_CTX_check_private_key(ctx) != 1) goto fail;
    *key = "client_tls_ca_file";
    if (ca[0] && SSL_CTX_load_verify_locations(ctx, file = ca, NULL) != 1) goto fail;
    SSL_CTX_free(ctx);
    return true;
fail:
    /* file is set once a file was being loaded; the cipher error wrote msg itself. */
    if (file) snprintf(msg, msglen, "%s: %s: %s", *key, file, cfg_ssl_reason(why, sizeof why));
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return false;
}

bool cfg_tls_setup(Config *cfg, const char **key, char *msg, size_t msglen)
{
    static const struct {
        const char *key;
        size_t off;
    } files[] = {
        {"client_tls_cert_file", offsetof(Config, client_tls_cert_file)},
        {"client_tls_key_file", offsetof(Config, client_tls_key_file)},
        {"client_tls_ca_file", offsetof(Config, client_tls_ca_file)},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        *key = files[i].key;
        if (!cfg_file_fix(cfg, *key, (char **)((char *)cfg + files[i].off), msg, msglen))
            return false;
    }
    *key = "client_tls_sslmode";
    if (cfg->client_tls_sslmode != CFG_SSL_DISABLE &&
        (!cfg->client_tls_cert_file[0] || !cfg->client_tls_key_file[0])) {
        snprintf(msg, msglen,
                 "client_tls_sslmode other than disable needs client_tls_cert_file "
                 "and client_tls_key_file");
        return false;
    }
    if (cfg->client_tls_sslmode >= CFG_SSL_VERIFY_CA && !cfg->client_tls_ca_file[0]) {
        snprintf(msg, msglen,
                 "client_tls_sslmode verify-ca and verify-full need "
                 "client_tls_ca_file");
        return false;
    }
    *key = "client_tls_protocols";
    if (!cfg_tls_protocols(cfg->client_tls_protocols, &cfg->client_tls_protocol_mask, msg, msglen))
        return false;
    return cfg_tls_try(cfg, key, msg, msglen);
}

bool cfg_is_admin_user(const Config *cfg, const char *user)
{
    if (!cfg || !user || !user[0]) return false;
    size_t ulen = strlen(user);
    for (const char *p = cfg->admin_users; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ","), m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m == ulen && memcmp(p, user, ulen) == 0) return true;
        p += n;
    }
    return false;
}
