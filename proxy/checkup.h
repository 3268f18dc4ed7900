/* checkup.h - `pgpin check CONFIG`: for every server in [databases], is it reachable, what is its
 * connection budget (the arithmetic of budget.h, read the same way), and does LISTEN/NOTIFY
 * survive the path to it (a transaction-mode pooler in between does not).
 *
 * Each entry is checked with the conninfo pgpin's server connections use (the entry's, without
 * pgpin's own keys). pgpin fills in the client's login where the entry leaves it out; check has
 * no client, so an entry without dbname= is checked as the database of the entry's name and one
 * without user= as libpq's default user (PGUSER, else the OS user). The "*" entry is skipped
 * unless it names both. Synchronous libpq, every wait bounded; no event loop.
 *
 * (Not check.h: that is the name of the Check library's header, which the unit tests include
 * as <check.h> with proxy/ on the include path.) */
#ifndef PGPIN_CHECKUP_H
#define PGPIN_CHECKUP_H

#include "budget.h"
#include "config.h"

#include <stdbool.h>
#include <stdio.h>

/* Exit statuses of `pgpin check`. */
#define CHECKUP_EXIT_OK    0 /* every checked entry passed (warnings allowed) */
#define CHECKUP_EXIT_FAIL  1 /* at least one entry failed */
#define CHECKUP_EXIT_USAGE 2 /* bad command line or config, or nothing to check */

#define CHECKUP_NOTIFY_SECS 3  /* the notification must arrive within this */
#define CHECKUP_QUERY_SECS  10 /* any one query */
#define CHECKUP_MAX_FAILS   3

typedef enum { CHECKUP_OK, CHECKUP_WARN, CHECKUP_FAIL, CHECKUP_SKIPPED } CheckupResult;

typedef struct CheckupFailure {
    char reason[512];
    char fix[256];
} CheckupFailure;

/* One [databases] entry's outcome: a row of the table. */
typedef struct CheckupRow {
    char name[64];
    char server[128]; /* host:port, as budget.h names servers */
    CheckupResult result;
    bool have_facts;   /* the budget was read: facts are valid */
    BudgetFacts facts; /* facts.version is the whole server_version */
    int pool_size;
    int notify; /* LISTEN/NOTIFY: 1 passed, 0 failed, -1 not run */
    char note[256];
    CheckupFailure fails[CHECKUP_MAX_FAILS];
    int nfails;
} CheckupRow;

/* Whether db is not checked (the "*" entry without user= and dbname=). */
bool checkup_skips(const CfgDatabase *db);

/* Check one entry (connects, reads, LISTEN/NOTIFY; at most a few seconds per bounded wait) and
 * fill row. The headroom comes from cfg's reserve_headroom. */
void checkup_entry(const Config *cfg, const CfgDatabase *db, CheckupRow *row);

/* Record a failure (row->result becomes CHECKUP_FAIL) / a warning (CHECKUP_OK becomes
 * CHECKUP_WARN); the warning's text is appended to row->note. */
void checkup_fail(CheckupRow *row, const char *reason, const char *fix);
void checkup_warn(CheckupRow *row, const char *text);

/* Write the table (a header and one line per row, columns aligned, "-" for what is unknown),
 * then one "FAIL name (server): reason; fix: ..." line per failure. */
void checkup_print(const CheckupRow *rows, int n, FILE *out);

/* Check every entry of cfg, print to out. Returns CHECKUP_EXIT_OK, _FAIL, or _USAGE when no entry
 * could be checked (nothing but a skipped "*", with a line on out saying so). */
int checkup_run(const Config *cfg, FILE *out);

#endif
