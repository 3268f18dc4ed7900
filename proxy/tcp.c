/* tcp.c - keepalives and TCP_USER_TIMEOUT for client sockets and server connections. */
#include "tcp.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>

static bool set_int(int fd, int level, int opt, int value)
{
    return setsockopt(fd, level, opt, &value, sizeof value) == 0;
}

bool tcp_setup_client(int fd, const Config *cfg)
{
    bool ok = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, cfg->tcp_keepalive ? 1 : 0);
    if (cfg->tcp_keepalive) {
        if (cfg->tcp_keepidle > 0) ok &= set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, cfg->tcp_keepidle);
        if (cfg->tcp_keepintvl > 0)
            ok &= set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, cfg->tcp_keepintvl);
        if (cfg->tcp_keepcnt > 0) ok &= set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, cfg->tcp_keepcnt);
    }
    /* Bounds how long sent data may stay unacknowledged (a peer gone while we write to it).
     * Linux also drops a peer whose receive window stays full that long, and with keepalives
     * on uses it in place of keepcnt x keepintvl. */
    if (cfg->tcp_user_timeout > 0)
        ok &= set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, cfg->tcp_user_timeout);
    return ok;
}

static int add(const char **keys, const char **vals, TcpLibpqText *txt, int n, const char *key,
               int value)
{
    snprintf(txt->v[n], sizeof txt->v[n], "%d", value);
    keys[n] = key;
    vals[n] = txt->v[n];
    return n + 1;
}

int tcp_libpq_params(const Config *cfg, const char **keys, const char **vals, TcpLibpqText *txt)
{
    int n = add(keys, vals, txt, 0, "keepalives", cfg->tcp_keepalive ? 1 : 0);
    if (cfg->tcp_keepalive && cfg->tcp_keepidle > 0)
        n = add(keys, vals, txt, n, "keepalives_idle", cfg->tcp_keepidle);
    if (cfg->tcp_keepalive && cfg->tcp_keepintvl > 0)
        n = add(keys, vals, txt, n, "keepalives_interval", cfg->tcp_keepintvl);
    if (cfg->tcp_keepalive && cfg->tcp_keepcnt > 0)
        n = add(keys, vals, txt, n, "keepalives_count", cfg->tcp_keepcnt);
    if (cfg->tcp_user_timeout > 0)
        n = add(keys, vals, txt, n, "tcp_user_timeout", cfg->tcp_user_timeout);
    return n;
}
