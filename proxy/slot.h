/* slot.h - hash slots for shard routing (DESIGN.md section 5): the workflow-ID hash, the UUID
 * prefix rule, default slot ranges and the slot -> shard map.
 *
 * The hash (stable: changing it moves every row, so it is fixed and tested with vectors):
 *
 *     slot(id) = CRC16(hash_input(id)) mod 16384
 *
 * CRC16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0, no reflection, no final XOR), the
 * function Redis Cluster uses, so `CLUSTER KEYSLOT` in redis-cli or any CRC-16/XMODEM calculator
 * gives the same slot (crc16("123456789") = 0x31C3; slot("foo") = 12182). The bytes hashed are
 * the ID's bytes as the client sent them (pgpin does not convert encodings: clients of a sharded
 * database must agree on client_encoding, UTF8 for every DBOS SDK, for non-ASCII IDs).
 *
 * hash_input(id), the UUID prefix rule: when the ID is at least 37 bytes long, its first 36 bytes
 * are a UUID in the canonical text form (8-4-4-4-12 hex digits, upper or lower case, '-' at
 * offsets 8, 13, 18 and 23) and byte 36 is '-', only those first 36 bytes are hashed; otherwise
 * the whole ID is. So a DBOS child workflow "<parent>-<n>" (and its children, "<parent>-<n>-<m>")
 * lands on its parent's shard when the parent's ID is a UUID, as default IDs are. Case is kept,
 * not folded: a parent and its derived IDs share their case. An ID of exactly 36 bytes that is a
 * UUID hashes whole, which is the same input as its children's prefix. Braces, missing hyphens
 * or a suffix that does not start with '-' ("<uuid>_x", "<uuid>x") mean no prefix rule. */
#ifndef PGPIN_SLOT_H
#define PGPIN_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLOT_COUNT      16384
#define SLOT_MAX_SHARDS 64 /* shards per database: shard sets fit a uint64_t */
#define SLOT_UUID_LEN   36

/* CRC-16/XMODEM of p[0, n). */
uint16_t slot_crc16(const void *p, size_t n);

/* How many leading bytes of id[0, n) are hashed: 36 under the UUID prefix rule, else n. */
size_t slot_hash_len(const char *id, size_t n);

/* The slot of a workflow ID (0..16383). */
static inline uint16_t slot_of(const char *id, size_t n)
{
    return (uint16_t)(slot_crc16(id, slot_hash_len(id, n)) & (SLOT_COUNT - 1));
}

/* True when p[0, 36) is a UUID in canonical text form (either case). p must have 36 bytes. */
bool slot_is_uuid_text(const char *p);

/* The default ranges for nshards shards (1..SLOT_MAX_SHARDS): shard i owns slots
 * [i * 16384 / nshards, (i + 1) * 16384 / nshards - 1] (integer division), so every shard owns
 * at least 256 slots and the ranges tile 0..16383 in shard order. */
void slot_default_range(int nshards, int shard, uint16_t *first, uint16_t *last);

/* One range of slots owned by a shard (an index into the database's shard list). */
typedef struct SlotRange {
    uint16_t first, last; /* inclusive */
    uint16_t shard;
} SlotRange;

/* The slot -> shard table of one sharded database. */
typedef struct SlotMap {
    int nshards;
    uint8_t shard[SLOT_COUNT];
} SlotMap;

/* Fill m from ranges that tile 0..16383 exactly once (config.c checks that; anything else
 * returns false and leaves m unusable), with shard indices below nshards. */
bool slot_map_build(SlotMap *m, int nshards, const SlotRange *ranges, int nranges);

/* The shard owning slot (0..16383). */
static inline int slot_map_shard(const SlotMap *m, uint16_t slot)
{
    return m->shard[slot & (SLOT_COUNT - 1)];
}

/* The shard owning a workflow ID. */
static inline int slot_map_shard_of(const SlotMap *m, const char *id, size_t n)
{
    return m->shard[slot_of(id, n)];
}

#endif
