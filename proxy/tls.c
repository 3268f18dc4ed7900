/* tls.c - client-facing TLS context. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

static void ssl_err(char *err, size_t errlen, const char *what, const char *file)
{
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    snprintf(err, errlen, "%s %s: %s", what, file ? file : "", buf);
    ERR_clear_error();
}

/* Min and max protocol from the config's mask of allowed versions. */
static bool set_protocols(SSL_CTX *ctx, unsigned mask, char *err, size_t errlen)
{
    static const struct {
        unsigned bit;
        int version;
    } v[] = {{CFG_TLS_V1_0, TLS1_VERSION},
             {CFG_TLS_V1_1, TLS1_1_VERSION},
             {CFG_TLS_V1_2, TLS1_2_VERSION},
             {CFG_TLS_V1_3, TLS1_3_VERSION}};
    int lo = 0, hi = 0;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        if (!(mask & v[i].bit)) continue;
        if (!lo) lo = v[i].version;
        hi = v[i].version;
    }
    if (!lo || !SSL_CTX_set_min_proto_version(ctx, lo) || !SSL_CTX_set_max_proto_version(ctx, hi)) {
        snprintf(err, errlen, "client_tls_protocols allows no usable TLS version");
        return false;
    }
    return true;
}

SSL_CTX *tls_server_ctx_new(const Config *cfg, char *err, size_t errlen)
{
    err[0] = '\0';
    if (cfg->client_tls_sslmode == CFG_SSL_DISABLE) return NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_err(err, errlen, "SSL_CTX_new", NULL);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_RENEGOTIATION);
    /* Relaying moves buffers around: let a write resume from a different address. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (!set_protocols(ctx, cfg->client_tls_protocol_mask, err, errlen)) goto fail;
    if (cfg->client_tls_ciphers && *cfg->client_tls_ciphers &&
        !SSL_CTX_set_cipher_list(ctx, cfg->client_tls_ciphers)) {
        ssl_err(err, errlen, "client_tls_ciphers", cfg->client_tls_ciphers);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->client_tls_cert_file) != 1) {
        ssl_err(err, errlen, "client_tls_cert_file", cfg->client_tls_cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->client_tls_key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, errlen, "client_tls_key_file", cfg->client_tls_key_file);
        goto fail;
    }
    if (cfg->client_tls_ca_file && *cfg->client_tls_ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, cfg->client_tls_ca_file, NULL) != 1) {
            ssl_err(err, errlen, "client_tls_ca_file", cfg->client_tls_ca_file);
            goto fail;
        }
        /* verify-ca / verify-full: the client must show a certificate the CA signed. */
        if (cfg->client_tls_sslmode >= CFG_SSL_VERIFY_CA)
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

bool tls_peer_cn(SSL *ssl, char *buf, size_t len)
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert) return false;
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, (int)len);
    X509_free(cert);
    return n > 0;
}
