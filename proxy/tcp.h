/* tcp.h - TCP options that notice dead peers: keepalives and TCP_USER_TIMEOUT, on client
 * sockets (setsockopt at accept) and on server connections (libpq conninfo keywords, which
 * libpq applies to the socket pgpin later relays over). */
#ifndef PGPIN_TCP_H
#define PGPIN_TCP_H

#include "config.h"

#include <stdbool.h>

/* Apply tcp_keepalive, tcp_keepidle, tcp_keepintvl, tcp_keepcnt and tcp_user_timeout to an
 * accepted client socket; a value of 0 leaves the system's. False when a setsockopt failed
 * (the socket stays usable; errno says why). */
bool tcp_setup_client(int fd, const Config *cfg);

/* The same settings as libpq keywords (keepalives, keepalives_idle, keepalives_interval,
 * keepalives_count, tcp_user_timeout). Put them *before* a database's conninfo in a
 * PQconnectStartParams array: libpq lets later keywords win, so whatever the conninfo sets
 * itself overrides them. Writes at most TCP_LIBPQ_MAX pairs at keys/vals (values point into
 * txt, which must outlive the call that uses them) and returns how many. */
#define TCP_LIBPQ_MAX 5
typedef struct TcpLibpqText {
    char v[TCP_LIBPQ_MAX][16];
} TcpLibpqText;
int tcp_libpq_params(const Config *cfg, const char **keys, const char **vals, TcpLibpqText *txt);

#endif
