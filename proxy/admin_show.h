/* admin_show.h - the result sets of the admin console's SHOW commands (RowDescription and
 * DataRows; the caller adds CommandComplete). Pure formatting: no I/O. */
#ifndef PGPIN_ADMIN_SHOW_H
#define PGPIN_ADMIN_SHOW_H

#include "admin.h"
#include "config.h"
#include "snapshot.h"
#include "wire.h"

/* SHOW POOLS, CLIENTS, SERVERS, STATS or LIMITS from a finished snapshot. */
void admin_show_snapshot(WireBuf *b, AdminCmdKind kind, const Snapshot *s);
/* SHOW CONFIG (cfg's [pgpin] keys), VERSION or HELP. */
void admin_show_local(WireBuf *b, AdminCmdKind kind, const Config *cfg);

#endif
