/* fuzz_frame.h - the relay loop of client.c/server.c re-enacted over evbuffers for the frontend
 * and backend fuzzers: frame with conn_peek_header + a header check, buffer the messages a side
 * inspects, forward everything by length with conn_move, and check the output is exactly the
 * accepted messages.
 *
 * Input layout: byte 0 = flags (bits 0-3: number of chunk-size bytes k, bits 4-5: side option),
 * then k bytes of chunk sizes (each byte + 1, used in turn; k == 0 feeds the stream at once),
 * then the byte stream. */
#ifndef PGPIN_FUZZ_FRAME_H
#define PGPIN_FUZZ_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef struct FrameSide {
    /* The header check; opt is the flags' bits 4-5 (the frontend picks max_packet with it). */
    WireCheck (*check)(uint8_t type, uint32_t len, unsigned opt);
    /* Whether a message must be buffered whole and handed to inspect() before it is moved. */
    bool (*whole)(uint8_t type, uint32_t len);
    /* Gets an exact-size heap copy of the body (NULL when n == 0). */
    void (*inspect)(uint8_t type, const uint8_t *body, size_t n);
    /* A type that ends the relay without being forwarded (Terminate), or 0. */
    uint8_t stop_type;
} FrameSide;

/* Run one input; aborts (a crash to libFuzzer) when an invariant breaks. */
void frame_run(const FrameSide *side, const uint8_t *data, size_t size);

#endif
