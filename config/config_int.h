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

/* Next key=value pair of a libpq key=value conninfo, decoded in place the way libpq does. Returns
 * 1 with key/val set, 0 at the end, -1 with *msg set (messages never quote values). */
int cfg_conninfo_next(char **pp, char **key, char **val, const char **msg);

/* ---- Sharding (config_shard.c) ---- */

/* The pgpin-only keys of a [databases] entry that make and shape a sharded database. */
enum { CFG_SK_SHARDS, CFG_SK_SLOTS, CFG_SK_SCHEMA, CFG_SK_COUNT };
extern const char *const cfg_shard_keys[CFG_SK_COUNT]; /* "shards", "slots", "dbos_schema" */

/* A [shards] line, `line` being where it is. False with the reason in msg. */
bool cfg_shard_add(Config *cfg, const char *name, const char *value, int line, char *msg,
                   size_t msglen);

/* After the whole file is read: make db sharded from its shards=, slots= and dbos_schema= values
 * (vals[CFG_SK_*], NULL when absent; vals[CFG_SK_SHARDS] is not NULL). False with the reason. */
bool cfg_shard_db(Config *cfg, CfgDatabase *db, char *const vals[CFG_SK_COUNT], char *msg,
                  size_t msglen);

/* Free what sharding added to cfg (the [shards] entries, each database's shard fields). */
void cfg_shard_free(Config *cfg);

#endif
