/* admin.h - the admin console: database "pgpin" on pgpin's own port, for admin_users.
 *
 * After the normal authentication, an admin client talks to pgpin itself with the simple query
 * protocol: SHOW POOLS|CLIENTS|SERVERS|STATS|LIMITS|CONFIG|VERSION|HELP, RELOAD, PAUSE [db],
 * RESUME [db], SHUTDOWN [WAIT_FOR_CLIENTS]. Replies are ordinary result sets, so psql shows them.
 * When [databases] defines a database named "pgpin", that name is a normal database instead. */
#ifndef PGPIN_ADMIN_H
#define PGPIN_ADMIN_H

#include "proxy.h"

#include <stdbool.h>
#include <stddef.h>

#define ADMIN_DBNAME "pgpin"

/* Whether the authenticated cl asked for the admin console (database "pgpin" while no
 * [databases] entry has that exact name). */
bool admin_wanted(const Client *cl);
/* Start the console for cl: refused (FATAL 42501) unless its user is in admin_users. */
void admin_start(Client *cl);
/* Bytes arrived from a CL_ADMIN client. */
void admin_read(Client *cl);
/* MSG_RELOADED on worker w: reload attempt `seq` finished (ok, or failed with text); consoles
 * waiting on RELOAD get their answer. On success text lists keys that need a restart, or NULL. */
void admin_reloaded(Proxy *w, unsigned seq, bool ok, const char *text);
/* Free cl's console state (NULL-safe; client_free). */
void admin_free(Client *cl);

/* ---- Parsing (exported for the unit tests) ---- */

typedef enum {
    ADMIN_SHOW_POOLS,
    ADMIN_SHOW_CLIENTS,
    ADMIN_SHOW_SERVERS,
    ADMIN_SHOW_STATS,
    ADMIN_SHOW_LIMITS,
    ADMIN_SHOW_CONFIG,
    ADMIN_SHOW_VERSION,
    ADMIN_SHOW_HELP,
    ADMIN_RELOAD,
    ADMIN_PAUSE,
    ADMIN_RESUME,
    ADMIN_SHUTDOWN,
    ADMIN_SHUTDOWN_WAIT,
} AdminCmdKind;

typedef struct AdminCmd {
    AdminCmdKind kind;
    bool has_db; /* PAUSE / RESUME named a database */
    char db[256];
} AdminCmd;

/* The next statement of the NUL-terminated query q at or after *pos: split at ';' outside
 * quotes, blanks trimmed, empty statements skipped. Returns false at the end; otherwise sets
 * *start and *len (borrowed from q) and advances *pos. */
bool admin_next_statement(const char *q, size_t *pos, const char **start, size_t *len);
/* Parse one statement (case-insensitive keywords, "quoted" or bare database names). False with
 * a client-facing message in err (a 42601 syntax error). */
bool admin_parse(const char *stmt, size_t len, AdminCmd *cmd, char *err, size_t errlen);

#endif
