/* conn.c - framing and forwarding on bufferevents. */
#include "conn.h"

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

void conn_flush(struct bufferevent *dst, bool tls)
{
    struct evbuffer *out = bufferevent_get_output(dst);
    if (tls || evbuffer_get_length(out) == 0) return;
    /* Errors and EAGAIN are left to the bufferevent, which retries and reports them. */
    (void)evbuffer_write(out, bufferevent_getfd(dst));
}

bool conn_send(struct bufferevent *bev, WireBuf *b)
{
    if (b->oom) return false;
    return bufferevent_write(bev, b->data, b->len) == 0;
}
