/* config_int.h - between config.c and config_auth.c; no other module includes it. */
#ifndef PGPIN_CONFIG_INT_H
#define PGPIN_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Run after the whole file is parsed (keys may come in any order). Each returns true, or false
 * with the reason in msg and *key naming the key whose line the error is reported at. */

/* Resolve auth_file against the config file's directory, require it unless auth_type = trust,
 * and load it into cfg->auth. */
bool cfg_auth_setup(Config *cfg, const char **key, char *msg, size_t msglen);

/* Resolve and check the client TLS files, parse client_tls_protocols into the mask, check the
 * cipher list with OpenSSL and, when TLS is on, that the key matches the certificate. */
bool cfg_tls_setup(Config *cfg, const char **key, char *msg, size_t msglen);

#endif
