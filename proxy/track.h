/* track.h - session state that follows a client across server connections in pool_mode = auto:
 * recorded session settings (SET / RESET / set_config(..., false)) and named protocol-level
 * prepared statements. A client keeps what it asked for; a server keeps what was applied on it.
 * track_plan() turns the server's state into the client's before the client's messages are
 * relayed. Pure data structures and builders: no I/O (tests/unit/test_track.c). */
#ifndef PGPIN_TRACK_H
#define PGPIN_TRACK_H

#include "wire.h"

#include <stdbool.h>
#include <stdint.h>

/* One session setting. On a server, sql == NULL means "state unknown" (the next sync resets or
 * sets it again whatever the client wants). */
typedef struct TrackSet {
    char *name; /* GUC name, lowercased (Postgres compares them case-insensitively) */
    char *sql;  /* one statement that applies it, without ';' */
} TrackSet;

/* One named prepared statement. */
typedef struct TrackStmt {
    char *name;
    uint64_t hash;  /* of the Parse body after the name (query, parameter types); a server's
                     * 0 = unknown (the next sync closes and parses it again) */
    uint8_t *msg;   /* client: the whole Parse message (type, length, body) to replay */
    uint32_t len;   /* its size */
    uint32_t batch; /* server: the request it was parsed in (errors make that batch unknown) */
} TrackStmt;

typedef struct Track {
    TrackSet *sets; /* in the order they were last set */
    int nsets, capsets;
    TrackStmt *stmts;
    int nstmts, capstmts;
    uint64_t digest; /* XOR of the statements' (name, hash) digests: equal sets compare in O(1) */
} Track;

/* FNV-1a 64 of n bytes; never 0 (0 means "unknown"). */
uint64_t track_hash(const void *p, size_t n);

/* ---- Settings ---- */

/* Add or replace name's statement (the entry moves to the end: replay keeps the order of the
 * last changes). sql NULL marks it unknown. False when out of memory. */
bool track_set(Track *t, const char *name, const char *sql);
/* Drop name (RESET name); absent is fine. */
void track_unset(Track *t, const char *name);
/* Drop every setting (DISCARD ALL). */
void track_clear_sets(Track *t);
/* RESET ALL: drop every setting but role and session_authorization (GUC_NO_RESET_ALL). */
void track_reset_all(Track *t);
/* Mark every setting unknown (a server whose state is uncertain). */
void track_sets_unknown(Track *t);
/* The entry for name (case-insensitive), or NULL. Borrowed. */
TrackSet *track_find_set(const Track *t, const char *name);

/* ---- Prepared statements ---- */

/* The name of a Parse body (after the 5-byte header) and the hash of the rest. False when the
 * body is malformed. *name points into body. */
bool track_parse_body(const uint8_t *body, uint32_t n, const char **name, uint64_t *hash);
/* Add or replace a statement; msg (len bytes, copied) may be NULL for a server's record.
 * False when out of memory. */
bool track_stmt_add(Track *t, const char *name, uint64_t hash, const uint8_t *msg, uint32_t len,
                    uint32_t batch);
void track_stmt_del(Track *t, const char *name);
void track_stmts_clear(Track *t);
/* Mark statements unknown: all of them, or those parsed in request `batch`. */
void track_stmts_unknown(Track *t);
void track_stmts_unknown_batch(Track *t, uint32_t batch);
void track_stmt_unknown(Track *t, TrackStmt *s);
TrackStmt *track_find_stmt(const Track *t, const char *name);

/* Everything, and the arrays. The Track is empty and reusable afterwards. */
void track_free(Track *t);

/* ---- Sync plan ---- */

typedef enum {
    TRACK_STEP_SETS,   /* one Query of RESET/SET statements: a failure fails the client */
    TRACK_STEP_CLOSES, /* Close('S') messages and a Sync */
    TRACK_STEP_PARSE,  /* one Parse and a Sync: a failure drops the statement's records */
} TrackStepKind;

typedef struct TrackStep {
    TrackStepKind kind;
    char *name; /* TRACK_STEP_PARSE: the statement (owned) */
} TrackStep;

/* Messages to send and the steps they make (each ends with one ReadyForQuery). */
typedef struct TrackPlan {
    WireBuf buf;
    TrackStep *steps;
    int nsteps, cap;
    bool wait; /* it changes role or session_authorization: the client's messages must wait
                * for it to succeed (otherwise they may be sent right behind it) */
} TrackPlan;

void track_plan_init(TrackPlan *p);
/* Free the buffer and the steps that were not taken (steps == NULL after track_plan_take). */
void track_plan_free(TrackPlan *p);

/* Build into plan what makes a server look like the client to the client:
 *   settings: RESET what the server has and the client does not; SET the client's startup
 *   GUCs (want) whose reported value differs (unreported ones unless the server has the same
 *   statement applied); SET application_name = '' for a client that names none on a server
 *   that has one; then the client's recorded settings the server lacks;
 *   statements: Close what the server has that the client lacks or has with another body,
 *   Parse (each with its own Sync) what the client has and the server lacks.
 * sv is updated to the state it will be in once the plan ran (callers undo what fails).
 * sv_params are the server's reported GUCs. False only when out of memory. nsteps == 0: the
 * server already matches. */
struct Params;
bool track_plan(TrackPlan *plan, const struct Params *want, const Track *cl,
                const struct Params *sv_params, Track *sv);

/* Append `SET "name" = E'value'` (quoted, no ';') to b. */
void track_put_set(WireBuf *b, const char *name, const char *value);

#endif
