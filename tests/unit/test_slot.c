/* test_slot.c - Check suite for proxy/slot.c: the CRC16 hash against fixed vectors (Redis
 * Cluster's, so the slots can be checked with any CRC-16/XMODEM tool), the UUID prefix rule and
 * its edge cases, the slot map, and how evenly random workflow IDs spread. */
#include "slot.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint16_t slot_z(const char *id)
{
    return slot_of(id, strlen(id));
}

START_TEST(test_crc16_vectors)
{
    ck_assert_uint_eq(slot_crc16("123456789", 9), 0x31C3); /* CRC-16/XMODEM's check value */
    ck_assert_uint_eq(slot_crc16("", 0), 0);
    /* Redis Cluster: CLUSTER KEYSLOT foo = 12182, bar = 5061, hello = 866, somekey = 11058 */
    ck_assert_uint_eq(slot_z("foo"), 12182);
    ck_assert_uint_eq(slot_z("bar"), 5061);
    ck_assert_uint_eq(slot_z("hello"), 866);
    ck_assert_uint_eq(slot_z("somekey"), 11058);
    /* Workflow IDs of each kind (values from an independent CRC-16/XMODEM in Python). */
    ck_assert_uint_eq(slot_z("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), 15487);
    ck_assert_uint_eq(slot_z("01890a5d-ac96-774b-bcce-b302099a8057"), 1278); /* UUID v7 */
    ck_assert_uint_eq(slot_z("user-supplied-id-1"), 10703);
    ck_assert_uint_eq(slot_z("user-supplied-id-1-0"), 1120); /* not a UUID: hashed whole */
    ck_assert_uint_eq(slot_z("parent-1-0"), 2079);
    ck_assert_uint_eq(slot_z("sched-nightly-2026-01-01T00:00:00.000Z"), 7530);
    ck_assert_uint_eq(slot_z("kafka-unique-id-orders-0-g1-42"), 3754);
    ck_assert_uint_eq(slot_z("\xc3\xa9-workflow"), 1088); /* bytes as sent (UTF-8 here) */
    ck_assert_uint_eq(slot_z("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), 14330); /* case is kept */
    ck_assert_uint_eq(slot_z(""), 0);
}
END_TEST

typedef struct HashLenCase {
    const char *id;
    size_t hashed;
} HashLenCase;

static const HashLenCase uuid_cases[] = {
    {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", 36},        /* exactly a UUID: whole */
    {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-0", 36},      /* TS's first child */
    {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-1", 36},      /* Python's first child */
    {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-12-3", 36},   /* a grandchild */
    {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-", 36},       /* '-' and nothing after it */
    {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-fork-2", 36}, /* any suffix after '-' */
    {"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11-0", 36},      /* upper case hex */
    {"A0eeBC99-9c0b-4EF8-bb6d-6bb9bd380a11-0", 36},      /* mixed case */
    {"00000000-0000-0000-0000-000000000000-0", 36},
    {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11x", 37},  /* suffix without '-' */
    {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11_0", 38}, /* '_' is not '-' */
    {"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}-0", 40},
    {"a0eebc999c0b4ef8bb6d6bb9bd380a11-0", 34},      /* no hyphens: not canonical */
    {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g-0", 38},  /* 'g' is not hex */
    {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1-00", 38},  /* last group one digit short */
    {"a0eebc999-c0b-4ef8-bb6d-6bb9bd380a11-0", 38},  /* hyphen moved */
    {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11a-0", 39}, /* last group one digit long */
    {" a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-0", 39}, /* leading blank */
    {"sched-nightly-2026-01-01T00:00:00.000Z", 38},
    {"parent-1-0", 10},
    {"abc", 3},
    {"", 0},
};

START_TEST(test_uuid_prefix)
{
    const HashLenCase *c = &uuid_cases[_i];
    ck_assert_msg(slot_hash_len(c->id, strlen(c->id)) == c->hashed, "%s: hashed %zu, want %zu",
                  c->id, slot_hash_len(c->id, strlen(c->id)), c->hashed);
}
END_TEST

START_TEST(test_children_with_parent)
{
    const char *parent = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    char child[64];
    for (int i = 0; i < 100; i++) {
        snprintf(child, sizeof child, "%s-%d", parent, i);
        ck_assert_uint_eq(slot_z(child), slot_z(parent));
        snprintf(child, sizeof child, "%s-%d-%d", parent, i, i * 7);
        ck_assert_uint_eq(slot_z(child), slot_z(parent));
    }
    /* Upper case parents keep their case, and so do their children. */
    ck_assert_uint_eq(slot_z("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11-3"),
                      slot_z("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"));
    /* The rule looks at the bytes given: an ID that is not NUL-terminated works. */
    const char buf[] = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-7zzzz";
    ck_assert_uint_eq(slot_of(buf, 38), slot_z(parent));
    ck_assert_uint_eq(slot_of(buf, 36), slot_z(parent));
    ck_assert_uint_ne(slot_of(buf, 35), slot_z(parent));
    ck_assert(slot_is_uuid_text(parent));
    ck_assert(!slot_is_uuid_text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1-"));
}
END_TEST

START_TEST(test_map_build)
{
    static SlotMap m;
    SlotRange two[] = {{0, 8191, 0}, {8192, 16383, 1}};
    ck_assert(slot_map_build(&m, 2, two, 2));
    ck_assert_int_eq(m.nshards, 2);
    ck_assert_int_eq(slot_map_shard(&m, 0), 0);
    ck_assert_int_eq(slot_map_shard(&m, 8191), 0);
    ck_assert_int_eq(slot_map_shard(&m, 8192), 1);
    ck_assert_int_eq(slot_map_shard(&m, 16383), 1);
    ck_assert_int_eq(slot_map_shard_of(&m, "foo", 3), 1);   /* slot 12182 */
    ck_assert_int_eq(slot_map_shard_of(&m, "hello", 5), 0); /* slot 866 */
    SlotRange gap[] = {{0, 8190, 0}, {8192, 16383, 1}};
    SlotRange overlap[] = {{0, 8192, 0}, {8192, 16383, 1}};
    SlotRange backwards[] = {{16383, 0, 0}};
    SlotRange beyond[] = {{0, 16384, 0}};
    SlotRange badshard[] = {{0, 16383, 2}};
    ck_assert(!slot_map_build(&m, 2, gap, 2));
    ck_assert(!slot_map_build(&m, 2, overlap, 2));
    ck_assert(!slot_map_build(&m, 1, backwards, 1));
    ck_assert(!slot_map_build(&m, 1, beyond, 1));
    ck_assert(!slot_map_build(&m, 2, badshard, 1));
    ck_assert(!slot_map_build(&m, 0, two, 2));
    ck_assert(!slot_map_build(&m, SLOT_MAX_SHARDS + 1, two, 2));
    /* Out of order and one shard owning two ranges. */
    SlotRange mixed[] = {{10000, 16383, 0}, {0, 4999, 0}, {5000, 9999, 1}};
    ck_assert(slot_map_build(&m, 2, mixed, 3));
    ck_assert_int_eq(slot_map_shard(&m, 4999), 0);
    ck_assert_int_eq(slot_map_shard(&m, 5000), 1);
    ck_assert_int_eq(slot_map_shard(&m, 10000), 0);
}
END_TEST

/* 200,000 random v4 UUIDs over 4 shards of even ranges: each within 2% of a quarter, and
 * every slot hit. */
START_TEST(test_spread)
{
    static SlotMap m;
    SlotRange r[4];
    for (int i = 0; i < 4; i++) {
        r[i].shard = (uint16_t)i;
        slot_default_range(4, i, &r[i].first, &r[i].last);
    }
    ck_assert(slot_map_build(&m, 4, r, 4));
    static unsigned char seen[SLOT_COUNT];
    int per[4] = {0}, n = 200000;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < n; i++) {
        char id[37];
        unsigned char b[16];
        for (int k = 0; k < 16; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
            b[k] = (unsigned char)x;
        }
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40), b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
        snprintf(id, sizeof id,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                 b[15]);
        uint16_t s = slot_of(id, 36);
        seen[s] = 1;
        per[slot_map_shard(&m, s)]++;
    }
    for (int i = 0; i < 4; i++)
        ck_assert_msg(per[i] > n / 4 * 98 / 100 && per[i] < n / 4 * 102 / 100, "shard %d: %d", i,
                      per[i]);
    int hit = 0;
    for (int s = 0; s < SLOT_COUNT; s++)
        hit += seen[s];
    ck_assert_int_eq(hit, SLOT_COUNT);
}
END_TEST

static Suite *slot_suite(void)
{
    Suite *s = suite_create("slot");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_crc16_vectors);
    tcase_add_loop_test(tc, test_uuid_prefix, 0, (int)(sizeof uuid_cases / sizeof *uuid_cases));
    tcase_add_test(tc, test_children_with_parent);
    tcase_add_test(tc, test_map_build);
    tcase_add_test(tc, test_spread);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(slot_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
