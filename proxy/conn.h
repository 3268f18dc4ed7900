/* conn.h - framing and forwarding on bufferevents, shared by the client and server sides. */
#ifndef PGPIN_CONN_H
#define PGPIN_CONN_H

#include "proxy.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>

/* Backpressure marks on the partner's output buffer (rule 8). */
#define CONN_HIGH_WATER (256 * 1024)
#define CONN_LOW_WATER  (64 * 1024)

/* Messages pgpin inspects are buffered whole only up to this size; larger ones are relayed
 * (or, where inspection is required, refused as a protocol violation). */
#define CONN_INSPECT_MAX (64 * 1024)

/* The 5-byte header at the front of in: false when fewer than 5 bytes are buffered. */
bool conn_peek_header(struct evbuffer *in, uint8_t *type, uint32_t *len);

/* Move up to r->remain bytes from in to out (no copy where libevent can move chains).
 * Returns false when the message is still incomplete after moving what was there. */
bool conn_move(struct evbuffer *in, struct evbuffer *out, Relay *r);

/* After filling dst's output: stop reading src when dst's output is over the high mark. */
void conn_throttle(struct bufferevent *src, Relay *r, struct bufferevent *dst);
/* From dst's write callback: true when src was paused and may read again (caller resumes). */
bool conn_unthrottle(struct bufferevent *src, Relay *r, struct bufferevent *dst);

/* Writes on plain sockets go out at once from the callback that produced them instead of on
 * the next loop turn: no EPOLLOUT registration per message, one epoll round less per hop. The
 * bufferevent's own writing (EV_WRITE) is enabled only while bytes are left over after EAGAIN.
 * TLS bufferevents write through libevent as usual. */

/* Call once on a new bufferevent. */
void conn_setup(struct bufferevent *bev);
/* Write what is queued in bev's output now (plain sockets). */
void conn_flush(struct bufferevent *bev);
/* From bev's write callback: libevent emptied the output, stop its writing again. */
void conn_written(struct bufferevent *bev);
/* Queue bytes and flush. False on allocation failure. */
bool conn_write(struct bufferevent *bev, const void *data, size_t len);
/* Queue a WireBuf and flush. False on allocation failure. */
bool conn_send(struct bufferevent *bev, WireBuf *b);

#endif
