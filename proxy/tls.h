/* tls.h - TLS toward clients: the server-side SSL_CTX built from the config. (TLS toward
 * Postgres is libpq's: sslmode= and friends in the conninfo.) */
#ifndef PGPIN_TLS_H
#define PGPIN_TLS_H

#include "config.h"

#include <openssl/ssl.h>
#include <stddef.h>

/* A new SSL_CTX for accepting client TLS per cfg (cert, key, CA, protocols, ciphers), or NULL
 * with err when client_tls_sslmode is disable (err empty) or something fails (err says what).
 * The caller owns the result (SSL_CTX_free); SSL objects made from it keep it alive. */
SSL_CTX *tls_server_ctx_new(const Config *cfg, char *err, size_t errlen);

/* The client's certificate common name after a handshake, into buf; false when absent. */
bool tls_peer_cn(SSL *ssl, char *buf, size_t len);

#endif
