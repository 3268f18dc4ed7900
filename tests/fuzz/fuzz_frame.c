/* fuzz_frame.c - see fuzz_frame.h. */
#include "fuzz_frame.h"

#include "conn.h"
#include "fuzz_util.h"

#include <event2/buffer.h>

typedef struct Frame {
    const FrameSide *side;
    unsigned opt;
    const uint8_t *stream;
    size_t n;     /* stream bytes */
    size_t fed;   /* bytes added to in so far */
    size_t pos;   /* stream offset of the next header (sum of accepted message sizes) */
    size_t nrecs; /* accepted messages; message i is stream[off[i], off[i] + size[i]) */
    size_t *off, *size;
    bool stopped; /* bad header or stop_type: the relay is over */
    struct evbuffer *in, *out;
    Relay r;
} Frame;

/* One header at the front of in: check it, inspect the message if the side wants it whole.
 * False when the relay must wait for more bytes or is over. */
static bool frame_accept(Frame *f)
{
    uint8_t type;
    uint32_t len;
    if (!conn_peek_header(f->in, &type, &len)) return false;
    /* The head of in is the stream at pos: nothing was lost, reordered or duplicated. */
    FUZZ_ASSERT(f->pos + 5 <= f->fed);
    FUZZ_ASSERT(type == f->stream[f->pos] && len == wire_be32(f->stream + f->pos + 1));
    if (f->side->check(type, len, f->opt) != WIRE_OK || type == f->side->stop_type) {
        f->stopped = true;
        return false;
    }
    FUZZ_ASSERT(len >= 4);
    size_t msg = (size_t)len + 1;
    if (f->side->whole(type, len)) {
        if (evbuffer_get_length(f->in) < msg) return false;
        uint8_t *p = evbuffer_pullup(f->in, (ssize_t)msg);
        FUZZ_ASSERT(p != NULL && memcmp(p, f->stream + f->pos, msg) == 0);
        uint8_t *body = fuzz_dup(p + 5, msg - 5);
        f->side->inspect(type, body, msg - 5);
        free(body);
    }
    FUZZ_ASSERT(f->nrecs < f->n / 5 + 1);
    f->off[f->nrecs] = f->pos;
    f->size[f->nrecs++] = msg;
    f->pos += msg;
    f->r.remain = len + 1;
    return true;
}

/* client_relay()/server_relay() without the sockets. */
static void frame_relay(Frame *f)
{
    while (!f->stopped) {
        if (f->r.remain > 0) {
            if (!conn_move(f->in, f->out, &f->r)) break;
            continue;
        }
        if (!frame_accept(f)) break;
    }
    /* Bytes are only moved, never dropped or made up. */
    FUZZ_ASSERT(evbuffer_get_length(f->in) + evbuffer_get_length(f->out) == f->fed);
}

/* The same stream framed in one pass, without evbuffers: where forwarding ends and how many
 * messages are accepted. */
static size_t frame_model(const Frame *f, size_t *count)
{
    size_t off = 0;
    *count = 0;
    while (off + 5 <= f->n) {
        uint8_t type = f->stream[off];
        uint32_t len = wire_be32(f->stream + off + 1);
        if (f->side->check(type, len, f->opt) != WIRE_OK || type == f->side->stop_type) break;
        size_t end = off + 1 + (size_t)len;
        if (f->side->whole(type, len) && end > f->n) break;
        ++*count;
        if (end >= f->n) return f->n;
        off = end;
    }
    return off;
}

/* The output must be exactly the accepted messages, the last one possibly cut at the end. */
static void frame_check_output(const Frame *f)
{
    size_t outlen = evbuffer_get_length(f->out), want = 0, count;
    uint8_t *expect = malloc(f->n + 1);
    FUZZ_ASSERT(expect != NULL);
    for (size_t i = 0; i < f->nrecs; i++) {
        size_t take = f->size[i];
        if (f->off[i] + take > f->n) take = f->n - f->off[i];
        memcpy(expect + want, f->stream + f->off[i], take);
        want += take;
    }
    FUZZ_ASSERT(outlen == want);
    if (outlen > 0) {
        uint8_t *got = evbuffer_pullup(f->out, -1);
        FUZZ_ASSERT(got != NULL && memcmp(got, expect, outlen) == 0);
    }
    free(expect);
    FUZZ_ASSERT(frame_model(f, &count) == want && count == f->nrecs);
}

void frame_run(const FrameSide *side, const uint8_t *data, size_t size)
{
    if (size < 1) return;
    size_t nsizes = data[0] & 0x0f;
    if (size < 1 + nsizes) return;
    Frame f = {.side = side, .opt = (data[0] >> 4) & 3u};
    const uint8_t *sizes = data + 1;
    f.stream = data + 1 + nsizes;
    f.n = size - 1 - nsizes;
    f.off = malloc((f.n / 5 + 1) * sizeof *f.off);
    f.size = malloc((f.n / 5 + 1) * sizeof *f.size);
    f.in = evbuffer_new();
    f.out = evbuffer_new();
    FUZZ_ASSERT(f.off && f.size && f.in && f.out);
    for (size_t i = 0; f.fed < f.n && !f.stopped; i++) {
        size_t chunk = nsizes ? (size_t)sizes[i % nsizes] + 1 : f.n;
        if (chunk > f.n - f.fed) chunk = f.n - f.fed;
        FUZZ_ASSERT(evbuffer_add(f.in, f.stream + f.fed, chunk) == 0);
        f.fed += chunk;
        frame_relay(&f);
    }
    frame_check_output(&f);
    evbuffer_free(f.in);
    evbuffer_free(f.out);
    free(f.off);
    free(f.size);
}
