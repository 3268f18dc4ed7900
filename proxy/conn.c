/* conn.c - framing and forwarding on bufferevents. */
#include "conn.h"

#include <event2/bufferevent_ssl.h>

bool conn_peek_header(struct evbuffer *in, uint8_t *type, uint32_t *len)
{
    uint8_t hdr[5];
    if (evbuffer_copyout(in, hdr, 5) != 5) return false;
    *type = hdr[0];
    *len = wire_be32(hdr + 1);
    return true;
}

bool conn_move(struct evbuffer *in, struct evbuffer *out, Relay *r)
{
    size_t avail = evbuffer_get_length(in);
    size_t n = avail < r->remain ? avail : r->remain;
    if (n > 0) {
        int moved = evbuffer_remove_buffer(in, out, n);
        if (moved > 0) r->remain -= (uint32_t)moved;
    }
    return r->remain == 0;
}

void conn_throttle(struct bufferevent *src, Relay *r, struct bufferevent *dst)
{
    if (r->paused || evbuffer_get_length(bufferevent_get_output(dst)) < CONN_HIGH_WATER) return;
    r->paused = true;
    bufferevent_disable(src, EV_READ);
    bufferevent_setwatermark(dst, EV_WRITE, CONN_LOW_WATER, 0);
}

bool conn_unthrottle(struct bufferevent *src, Relay *r, struct bufferevent *dst)
{
    if (!r->paused || evbuffer_get_length(bufferevent_get_output(dst)) > CONN_LOW_WATER)
        return false;
    r->paused = false;
    bufferevent_setwatermark(dst, EV_WRITE, 0, 0);
    bufferevent_enable(src, EV_READ);
    return true;
}

static bool conn_is_tls(struct bufferevent *bev)
{
    return bufferevent_openssl_get_ssl(bev) != NULL;
}

void conn_setup(struct bufferevent *bev)
{
    if (!conn_is_tls(bev)) bufferevent_disable(bev, EV_WRITE);
}

void conn_flush(struct bufferevent *bev)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    if (evbuffer_get_length(out) == 0 || conn_is_tls(bev)) return;
    /* A bufferevent freezes the start of its output so only it drains it; we are the writer
     * here. On EAGAIN or an error, libevent takes over: it retries, or reports the error. */
    evbuffer_unfreeze(out, 1);
    (void)evbuffer_write(out, bufferevent_getfd(bev));
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out) > 0) bufferevent_enable(bev, EV_WRITE);
}

void conn_written(struct bufferevent *bev)
{
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 && !conn_is_tls(bev))
        bufferevent_disable(bev, EV_WRITE);
}

bool conn_write(struct bufferevent *bev, const void *data, size_t len)
{
    if (bufferevent_write(bev, data, len) != 0) return false;
    conn_flush(bev);
    return true;
}

bool conn_send(struct bufferevent *bev, WireBuf *b)
{
    if (b->oom) return false;
    return conn_write(bev, b->data, b->len);
}
